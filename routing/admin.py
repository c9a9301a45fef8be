from django.contrib import admin

from routing.models import Escalation


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ["mention", "from_team", "to_team", "state", "created_at", "decided_at"]
    list_filter = ["state", "to_team"]
    raw_id_fields = ["mention", "decided_by"]
