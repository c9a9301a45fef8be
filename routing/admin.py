"""Django admin for routing. Rules are saved through the service, so a rule that does not compile is
refused with the message naming the wrong part, and every change publishes a new rule-set version."""

from django import forms
from django.contrib import admin

from routing import rulesets
from routing.models import (
    Correction,
    Escalation,
    IntentRoute,
    ModelVersion,
    RoutingSettings,
    Rule,
    RuleSetVersion,
    SentimentCorrection,
    SentimentState,
)
from routing.rules import RuleError, validate_rule


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ["mention", "from_team", "to_team", "state", "created_at", "due_at", "decided_at"]
    list_filter = ["state", "to_team"]
    raw_id_fields = ["mention", "decided_by"]


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["position", "name", "enabled", "when", "then"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        spec = {
            "id": self.instance.pk or 0,
            "name": data.get("name", ""),
            "enabled": data.get("enabled", True),
            "when": data.get("when"),
            "then": data.get("then"),
        }
        try:
            validate_rule(spec, rulesets.routing_context())
        except RuleError as exc:
            part = exc.path.rsplit(".", 1)[0] if exc.path else ""
            field = "when" if ".when" in f".{part}" else "then" if ".then" in f".{part}" else None
            self.add_error(field, f"{exc.path}: {exc}" if exc.path else str(exc))
        return data


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ["position", "name", "enabled", "updated_at"]
    list_display_links = ["name"]
    list_editable = ["position", "enabled"]
    ordering = ["position", "id"]

    def save_model(self, request, obj, form, change):
        rulesets.rule_save(
            user=request.user,
            name=obj.name,
            when=obj.when,
            then=obj.then,
            enabled=obj.enabled,
            position=obj.position,
            rule=obj if change else None,
        )

    def delete_model(self, request, obj):
        rulesets.rule_delete(user=request.user, rule=obj)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            rulesets.rule_delete(user=request.user, rule=rule)


@admin.register(IntentRoute)
class IntentRouteAdmin(admin.ModelAdmin):
    list_display = ["intent", "segment"]

    def has_add_permission(self, request):
        return False  # one row per intent, seeded

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        summary = f"{obj.intent} now owned by {obj.segment or 'the receiving team'}"
        rulesets.rule_set_publish(user=request.user, summary=summary)


@admin.register(RoutingSettings)
class RoutingSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "crisis_mode", "misdirect_threshold", "updated_at"]

    def has_add_permission(self, request):
        return not RoutingSettings.objects.exists()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        rulesets.rule_set_publish(user=request.user, summary="Routing settings changed")


@admin.register(RuleSetVersion)
class RuleSetVersionAdmin(admin.ModelAdmin):
    list_display = ["number", "summary", "published_at", "published_by"]
    readonly_fields = [f.name for f in RuleSetVersion._meta.concrete_fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "intent_before", "intent_after", "team_before", "team_after"]
    list_filter = ["intent_after"]
    raw_id_fields = ["mention", "user"]
    readonly_fields = [f.name for f in Correction._meta.concrete_fields]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["number", "is_active", "promoted", "held_back_accuracy", "created_at"]
    exclude = ["intent_state", "owner_state"]
    readonly_fields = [
        f.name for f in ModelVersion._meta.concrete_fields if f.name not in ("intent_state", "owner_state")
    ]

    def has_add_permission(self, request):
        return False


@admin.register(SentimentCorrection)
class SentimentCorrectionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "label_before", "label_after"]
    list_filter = ["label_after"]
    raw_id_fields = ["mention", "user"]
    readonly_fields = [f.name for f in SentimentCorrection._meta.concrete_fields]


@admin.register(SentimentState)
class SentimentStateAdmin(admin.ModelAdmin):
    list_display = ["version", "corrections", "created_at"]
    exclude = ["state"]
    readonly_fields = ["version", "corrections", "last_correction_id", "created_at"]

    def has_add_permission(self, request):
        return False
