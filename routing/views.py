"""Admin pages for routing: segments and the intent map, the rules with their builder and backtest, the
rule-set versions with their diff and rollback, and the trained model versions with their backtests, Make
active and Train now. To anyone but an admin these pages do not exist (404).

Every change to rules goes through ``routing.rulesets``, which audits it and publishes a new rule-set version;
making a model version active goes through ``routing.learning.model_version_activate``, which audits it.
"""

from __future__ import annotations

import difflib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from channels.models import Segment
from channels.views import admin_required
from routing import learning, rulesets
from routing.backtest import BACKTEST_TTL_SECONDS, UNSAVED_RULE_ID, backtest_keys
from routing.facts import INTENTS
from routing.forms import (
    BacktestForm,
    BuilderChoices,
    IntentMapForm,
    RoutingSettingsForm,
    RuleBuilder,
    RuleJsonForm,
    SegmentForm,
    builder_initial,
    rule_json_text,
)
from routing.hit_counts import HIT_WINDOWS_DAYS, rule_hits
from routing.models import ModelVersion, RoutingSettings, Rule, RuleSetVersion
from routing.rules import RuleError, validate_rule
from teams.models import Team
from teams.roles import user_name

VERSIONS_PAGE_SIZE = 30

# --- Segments, intent map, settings -------------------------------------------------------------------------


def _intent_map() -> dict[str, str]:
    return dict(rulesets.routing_context().intent_segments)


@admin_required
@require_GET
def segments(request: HttpRequest) -> HttpResponse:
    """The six segments with their playbooks and teams, the intent map, crisis mode and the threshold."""
    current = RoutingSettings.current()
    return _segments_page(
        request,
        intent_form=IntentMapForm(current=_intent_map()),
        settings_form=RoutingSettingsForm(
            initial={"crisis_mode": current.crisis_mode, "misdirect_threshold": current.misdirect_threshold}
        ),
    )


def _segments_page(
    request: HttpRequest, *, intent_form: IntentMapForm, settings_form: RoutingSettingsForm
) -> HttpResponse:
    return render(
        request,
        "routing/segments.html",
        {
            "segments": Segment.objects.select_related("team"),
            "intent_form": intent_form,
            "settings_form": settings_form,
        },
    )


@admin_required
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """A segment's playbook, owning team, acceptance window and poll cadence."""
    segment = get_object_or_404(Segment.objects.select_related("team"), slug=slug)
    if request.method == "POST":
        form = SegmentForm(request.POST, instance=Segment.objects.get(pk=segment.pk))
        if form.is_valid():
            try:
                rulesets.segment_update(user=request.user, segment=segment, changes=form.cleaned_data)
            except RuleError as error:  # a rule routes by this segment and no longer compiles with its team
                form.add_error("team", str(error))
            else:
                messages.success(request, f"Saved {segment.name}.")
                return redirect("routing:segments")
    else:
        form = SegmentForm(instance=segment)
    return render(request, "routing/segment_edit.html", {"segment": segment, "form": form})


@admin_required
@require_POST
def intents_save(request: HttpRequest) -> HttpResponse:
    """Save the intent-to-segment map: one new rule-set version when something changed."""
    form = IntentMapForm(request.POST, current=_intent_map())
    current = RoutingSettings.current()
    settings_form = RoutingSettingsForm(
        initial={"crisis_mode": current.crisis_mode, "misdirect_threshold": current.misdirect_threshold}
    )
    if not form.is_valid():
        return _segments_page(request, intent_form=form, settings_form=settings_form)
    try:
        version = rulesets.intent_routes_save(
            user=request.user, segments={intent: form.cleaned_data[intent] for intent in INTENTS}
        )
    except RuleError as error:
        form.add_error(None, str(error))
        return _segments_page(request, intent_form=form, settings_form=settings_form)
    if version is None:
        messages.info(request, "The intent map was already like this: nothing to publish.")
    else:
        messages.success(request, f"Saved the intent map: published version {version.number}.")
    return redirect(f"{reverse('routing:segments')}#intent-map")


@admin_required
@require_POST
def settings_save(request: HttpRequest) -> HttpResponse:
    """Crisis mode and the misdirect threshold: one new rule-set version when something changed."""
    form = RoutingSettingsForm(request.POST)
    if not form.is_valid():
        return _segments_page(request, intent_form=IntentMapForm(current=_intent_map()), settings_form=form)
    version = rulesets.routing_settings_save(
        user=request.user,
        crisis_mode=form.cleaned_data["crisis_mode"],
        misdirect_threshold=form.cleaned_data["misdirect_threshold"],
    )
    if version is None:
        messages.info(request, "The routing settings were already like this: nothing to publish.")
    else:
        messages.success(request, f"{version.summary}: published version {version.number}.")
    return redirect(f"{reverse('routing:segments')}#routing-settings")


# --- Rules --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RuleRow:
    rule: Rule
    number: int
    conditions: str
    actions: str
    first: bool
    last: bool
    hits: tuple[int, ...] | None = None  # fired in each of HIT_WINDOWS_DAYS; None: nothing counts hits


@admin_required
@require_GET
def rules(request: HttpRequest) -> HttpResponse:
    """Every rule in the order it runs, with what it tests and does."""
    ordered = list(Rule.objects.all())
    hits = rule_hits(rule_ids=[rule.pk for rule in ordered], windows_days=HIT_WINDOWS_DAYS)
    rows = [
        _RuleRow(
            rule=rule,
            number=index + 1,
            conditions=describe_condition(rule.when),
            actions=describe_actions(rule.then),
            first=index == 0,
            last=index == len(ordered) - 1,
            hits=hits[rule.pk] if hits is not None else None,
        )
        for index, rule in enumerate(ordered)
    ]
    newest = RuleSetVersion.objects.order_by("-number").first()
    return render(
        request,
        "routing/rules.html",
        {"rows": rows, "newest": newest, "hit_windows": HIT_WINDOWS_DAYS if hits is not None else ()},
    )


@admin_required
@require_POST
def rule_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a rule one place up or down: one new version."""
    rule = get_object_or_404(Rule, pk=pk)
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        return HttpResponse("direction must be up or down", status=400)
    order = list(Rule.objects.values_list("pk", flat=True))
    index = order.index(rule.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
        try:
            version = rulesets.rules_reorder(
                user=request.user, order=order, summary=f"Moved rule “{rule.name}” {direction}"
            )
        except (ValueError, RuleError) as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Moved “{rule.name}” {direction}: published version {version.number}.")
    return redirect(f"{reverse('routing:rules')}#rule-{rule.pk}")


@admin_required
@require_POST
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Enable a disabled rule or disable an enabled one: one new version."""
    rule = get_object_or_404(Rule, pk=pk)
    try:
        rulesets.rule_save(
            user=request.user,
            name=rule.name,
            when=rule.when,
            then=rule.then,
            enabled=not rule.enabled,
            rule=rule,
        )
    except RuleError as error:
        messages.error(request, f"“{rule.name}” no longer compiles, so it was left as it was: {error}")
    else:
        messages.success(request, f"{'Enabled' if rule.enabled else 'Disabled'} “{rule.name}”.")
    return redirect(f"{reverse('routing:rules')}#rule-{rule.pk}")


@admin_required
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask, then delete a rule: one new version."""
    rule = get_object_or_404(Rule, pk=pk)
    if request.method == "POST":
        try:
            rulesets.rule_delete(user=request.user, rule=rule)
        except RuleError as error:  # the rules left do not compile (one names something deleted since)
            messages.error(request, f"“{rule.name}” was not deleted: {error}")
        else:
            messages.success(request, f"Deleted “{rule.name}”.")
        return redirect("routing:rules")
    return render(
        request,
        "routing/rule_delete.html",
        {"rule": rule, "conditions": describe_condition(rule.when), "actions": describe_actions(rule.then)},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def rule_new(request: HttpRequest) -> HttpResponse:
    """The builder for a new rule, added after the others."""
    return _builder(request, rule=None)


@admin_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The builder showing a rule; rules nested deeper than it shows open as JSON."""
    return _builder(request, rule=get_object_or_404(Rule, pk=pk))


def _builder(request: HttpRequest, *, rule: Rule | None) -> HttpResponse:
    choices = BuilderChoices.load()
    days = BacktestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        builder = RuleBuilder(request.POST, choices=choices)
        if builder.is_valid():
            spec = builder.spec
            try:
                if request.POST.get("action") == "backtest":
                    if days.is_valid():
                        validate_rule({"id": rule.pk if rule else 0, **spec}, rulesets.routing_context())
                        return _backtest_start(request, rule=rule, spec=spec, days=days.cleaned_data["days"])
                else:
                    saved = rulesets.rule_save(user=request.user, rule=rule, **spec)
                    messages.success(request, f"Saved “{saved.name}”: published a new version.")
                    return redirect(f"{reverse('routing:rules')}#rule-{saved.pk}")
            except RuleError as error:
                builder.refuse(error)
    else:
        spec = _draft_spec(request, rule) or (rule.as_spec() if rule else None)
        initial = builder_initial(spec) if spec else None
        if spec and initial is None:
            json_url = (
                reverse("routing:rule_json", args=[rule.pk]) if rule else reverse("routing:rule_json_new")
            )
            query = f"?draft={request.GET['draft']}" if request.GET.get("draft") else ""
            return redirect(json_url + query)
        builder = RuleBuilder(choices=choices, initial=initial)
    return render(
        request,
        "routing/rule_builder.html",
        {"rule": rule, "builder": builder, "days": days},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def rule_json_new(request: HttpRequest) -> HttpResponse:
    """A new rule written as JSON."""
    return _json_editor(request, rule=None)


@admin_required
@require_http_methods(["GET", "POST"])
def rule_json(request: HttpRequest, pk: int) -> HttpResponse:
    """A rule edited as JSON: the same validation as the builder, the wrong part named by its path."""
    return _json_editor(request, rule=get_object_or_404(Rule, pk=pk))


def _json_editor(request: HttpRequest, *, rule: Rule | None) -> HttpResponse:
    days = BacktestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        form = RuleJsonForm(request.POST)
        if form.is_valid():
            spec = form.cleaned_data["spec"]
            try:
                if request.POST.get("action") == "backtest":
                    if days.is_valid():
                        validate_rule({"id": rule.pk if rule else 0, **spec}, rulesets.routing_context())
                        return _backtest_start(request, rule=rule, spec=spec, days=days.cleaned_data["days"])
                else:
                    saved = rulesets.rule_save(user=request.user, rule=rule, **spec)
                    messages.success(request, f"Saved “{saved.name}”: published a new version.")
                    return redirect(f"{reverse('routing:rules')}#rule-{saved.pk}")
            except RuleError as error:
                form.add_error("spec", f"{error.path.removeprefix('rules[0].')}: {error.message}")
    else:
        spec = _draft_spec(request, rule) or (rule.as_spec() if rule else None)
        example = {
            "name": "",
            "enabled": True,
            "when": {"all": [{"keywords": ["refund"]}]},
            "then": [{"set_priority": "high"}],
        }
        form = RuleJsonForm(initial={"spec": rule_json_text(spec or example)})
    return render(request, "routing/rule_json.html", {"rule": rule, "form": form, "days": days})


# --- Backtest -----------------------------------------------------------------------------------------------


def _backtest_start(
    request: HttpRequest, *, rule: Rule | None, spec: Mapping[str, Any], days: int
) -> HttpResponse:
    """Store the draft (the current rules with this one in its place, or added last) and queue the task."""
    draft_rule = {"id": rule.pk if rule else UNSAVED_RULE_ID, **spec}
    rules_now = [r.as_spec() for r in Rule.objects.all()]
    if rule is not None and any(r["id"] == rule.pk for r in rules_now):
        rules_now = [draft_rule if r["id"] == rule.pk else r for r in rules_now]
    else:
        rules_now.append(draft_rule)
    backtest_id = uuid.uuid4().hex
    draft_key, progress_key = backtest_keys(backtest_id)
    cache.set(
        draft_key,
        {
            "rules": rules_now,
            "days": days,
            "rule": dict(spec),
            "rule_id": rule.pk if rule else None,
            "by": request.user.pk,
            "at": timezone.now().isoformat(),
        },
        timeout=BACKTEST_TTL_SECONDS,
    )
    cache.set(progress_key, {"state": "queued"}, timeout=BACKTEST_TTL_SECONDS)
    # Named, not imported: running it reads the mentions, the floor above (``inbox.tasks``).
    current_app.send_task("inbox.tasks.rules_backtest", args=[backtest_id])
    return redirect("routing:backtest", backtest_id=backtest_id)


def _draft_spec(request: HttpRequest, rule: Rule | None) -> dict[str, Any] | None:
    """The rule of the backtest named by ``?draft=``, when it is a draft of this page's rule."""
    backtest_id = request.GET.get("draft", "")
    draft = cache.get(backtest_keys(backtest_id)[0]) if _is_backtest_id(backtest_id) else None
    if draft is None or draft["rule_id"] != (rule.pk if rule else None):
        return None
    return draft["rule"]


def _is_backtest_id(value: str) -> bool:
    return len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)


def _backtest(backtest_id: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    if not _is_backtest_id(backtest_id):
        raise Http404
    draft_key, progress_key = backtest_keys(backtest_id)
    return cache.get(draft_key), cache.get(progress_key) or {"state": "expired"}


@dataclass(frozen=True)
class _TeamCount:
    team: str
    before: int
    after: int

    @property
    def change(self) -> int:
        return self.after - self.before


def _report_context(progress: Mapping[str, Any]) -> dict[str, Any]:
    """The report as the page shows it: teams by their names (the report keeps slugs, as decisions do)."""
    report = progress.get("report")
    if not report:
        total = progress.get("total") or 0
        processed = progress.get("processed") or 0
        return {"percent": round(100 * processed / total) if total else 0}
    names = dict(Team.objects.values_list("slug", "name"))

    def name(slug: str) -> str:
        return names.get(slug, slug) if slug else ""

    before, after = report["teams_before"], report["teams_after"]
    teams = sorted(
        (
            _TeamCount(name(team) or "(no team)", before.get(team, 0), after.get(team, 0))
            for team in set(before) | set(after)
        ),
        key=lambda row: row.team.lower(),
    )
    sample = [
        {
            **change,
            **{
                side: {
                    **change[side],
                    "team_name": name(change[side].get("team", "")),
                    "escalate_to_name": name(change[side].get("escalate_to", "")),
                }
                for side in ("before", "after")
            },
        }
        for change in report["sample"]
    ]
    return {"report": {**report, "sample": sample}, "teams": teams, "percent": 100}


@admin_required
@require_GET
def backtest(request: HttpRequest, backtest_id: str) -> HttpResponse:
    """A backtest's page: the draft, a progress bar while it runs, then the report and Publish."""
    draft, progress = _backtest(backtest_id)
    if draft is None:
        messages.error(request, "That backtest has expired: run it again from the rule.")
        return redirect("routing:rules")
    rule = Rule.objects.filter(pk=draft["rule_id"]).first() if draft["rule_id"] else None
    context = {
        "backtest_id": backtest_id,
        "draft": draft,
        "rule": rule,
        "conditions": describe_condition(draft["rule"]["when"]),
        "actions": describe_actions(draft["rule"]["then"]),
        "progress": progress,
        "edit_url": _edit_url(draft, backtest_id),
        **_report_context(progress),
    }
    return render(request, "routing/backtest.html", context)


def _edit_url(draft: Mapping[str, Any], backtest_id: str) -> str:
    url = (
        reverse("routing:rule_edit", args=[draft["rule_id"]])
        if draft["rule_id"]
        else reverse("routing:rule_new")
    )
    return f"{url}?draft={backtest_id}"


@admin_required
@require_GET
def backtest_progress(request: HttpRequest, backtest_id: str) -> HttpResponse:
    """The progress bar (polled every second while the task runs), then the report."""
    draft, progress = _backtest(backtest_id)
    context = {
        "backtest_id": backtest_id,
        "draft": draft,
        "progress": progress,
        "edit_url": _edit_url(draft, backtest_id) if draft else reverse("routing:rules"),
        **_report_context(progress),
    }
    return render(request, "routing/_backtest_progress.html", context)


@admin_required
@require_POST
def backtest_publish(request: HttpRequest, backtest_id: str) -> HttpResponse:
    """Save the backtested rule: it is published as a new version."""
    draft, _ = _backtest(backtest_id)
    if draft is None:
        messages.error(request, "That backtest has expired: run it again from the rule.")
        return redirect("routing:rules")
    rule = None
    if draft["rule_id"]:
        rule = Rule.objects.filter(pk=draft["rule_id"]).first()
        if rule is None:
            messages.error(request, "The rule was deleted meanwhile; nothing was published.")
            return redirect("routing:rules")
    try:
        saved = rulesets.rule_save(user=request.user, rule=rule, **draft["rule"])
    except RuleError as error:
        messages.error(request, f"Not published: {error}")
        return redirect(_edit_url(draft, backtest_id))
    cache.delete_many(backtest_keys(backtest_id))
    newest = RuleSetVersion.objects.order_by("-number").values_list("number", flat=True).first()
    messages.success(request, f"Published “{saved.name}” in version {newest}.")
    return redirect(f"{reverse('routing:rules')}#rule-{saved.pk}")


# --- Versions -----------------------------------------------------------------------------------------------


@admin_required
@require_GET
def versions(request: HttpRequest) -> HttpResponse:
    """Every published version, newest first, with a diff between any two and rollback."""
    queryset = RuleSetVersion.objects.select_related("published_by").defer("rules")
    page = Paginator(queryset, VERSIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    numbers = list(RuleSetVersion.objects.values_list("number", flat=True))
    return render(
        request,
        "routing/versions.html",
        {"page": page, "numbers": numbers, "newest": numbers[0] if numbers else None},
    )


@admin_required
@require_GET
def versions_diff(request: HttpRequest) -> HttpResponse:
    """What changed from one version to another (the older one first, whichever order they are given in)."""
    try:
        a, b = int(request.GET.get("a", "")), int(request.GET.get("b", ""))
    except ValueError:
        return HttpResponse("a and b must be version numbers", status=400)
    older = get_object_or_404(RuleSetVersion.objects.select_related("published_by"), number=min(a, b))
    newer = get_object_or_404(RuleSetVersion.objects.select_related("published_by"), number=max(a, b))
    numbers = list(RuleSetVersion.objects.values_list("number", flat=True))
    return render(
        request,
        "routing/versions_diff.html",
        {
            "older": older,
            "newer": newer,
            "diff": versions_compare(older, newer),
            "numbers": numbers,
            "older_label": f"Version {older.number}",
            "newer_label": f"Version {newer.number}",
        },
    )


@admin_required
@require_http_methods(["GET", "POST"])
def version_rollback(request: HttpRequest, number: int) -> HttpResponse:
    """Show what rolling back to this version would change, then (on the confirming post) publish a new
    version equal to it.

    The form carries the version it was shown against: when another version was published in between, the
    post changes nothing and the page shows the changes again, against the new current version.
    """
    version = get_object_or_404(RuleSetVersion.objects.select_related("published_by"), number=number)
    current = RuleSetVersion.objects.select_related("published_by").order_by("-number").first()
    if current is None or current.number == version.number:
        messages.info(request, f"Version {number} is the current version: there is nothing to roll back.")
        return redirect("routing:versions")
    stale = False
    if request.method == "POST":
        if request.POST.get("current") == str(current.number):
            try:
                published = rulesets.rule_set_rollback(user=request.user, version=version)
            except RuleError as error:
                messages.error(
                    request, f"Version {number} no longer compiles, so nothing was rolled back: {error}"
                )
            else:
                messages.success(
                    request, f"Rolled back to version {number}: published version {published.number}."
                )
            return redirect("routing:versions")
        stale = bool(request.POST.get("current"))
    return render(
        request,
        "routing/versions_rollback.html",
        {
            "version": version,
            "current": current,
            "diff": versions_compare(current, version),
            "current_label": f"Now (version {current.number})",
            "stale": stale,
        },
        status=409 if stale else 200,
    )


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str
    lines: tuple[str, ...] = ()  # a unified diff of the JSON, for conditions and actions


@dataclass(frozen=True)
class RuleChange:
    id: int
    name: str
    fields: tuple[FieldChange, ...] = ()
    conditions: str = ""
    actions: str = ""


@dataclass
class VersionDiff:
    added: list[RuleChange] = field(default_factory=list)
    removed: list[RuleChange] = field(default_factory=list)
    changed: list[RuleChange] = field(default_factory=list)
    intents: list[FieldChange] = field(default_factory=list)
    threshold: FieldChange | None = None

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.intents or self.threshold)


def versions_compare(older: RuleSetVersion, newer: RuleSetVersion) -> VersionDiff:
    """Rules added, removed and changed (field by field, and moves), intent map and threshold changes."""
    diff = VersionDiff()
    before = {spec["id"]: (index, spec) for index, spec in enumerate(older.rules)}
    after = {spec["id"]: (index, spec) for index, spec in enumerate(newer.rules)}
    for rule_id, (_, spec) in after.items():
        if rule_id not in before:
            diff.added.append(_rule_summary(spec))
    for rule_id, (_, spec) in before.items():
        if rule_id not in after:
            diff.removed.append(_rule_summary(spec))
    # A rule "moves" when its place among the rules both versions have changes, not when one is added above.
    kept_before = [rule_id for rule_id in before if rule_id in after]
    kept_after = [rule_id for rule_id in after if rule_id in before]
    for rule_id in kept_after:
        old, new = before[rule_id][1], after[rule_id][1]
        changes = []
        if old.get("name") != new.get("name"):
            changes.append(FieldChange("Name", old.get("name", ""), new.get("name", "")))
        if old.get("enabled", True) != new.get("enabled", True):
            changes.append(
                FieldChange("Enabled", _yes(old.get("enabled", True)), _yes(new.get("enabled", True)))
            )
        old_place, new_place = kept_before.index(rule_id) + 1, kept_after.index(rule_id) + 1
        if old_place != new_place:
            changes.append(FieldChange("Order", f"{old_place}", f"{new_place}"))
        for key, label, describe in (
            ("when", "Conditions", describe_condition),
            ("then", "Actions", describe_actions),
        ):
            if old.get(key) != new.get(key):
                changes.append(
                    FieldChange(
                        label,
                        describe(old.get(key)),
                        describe(new.get(key)),
                        _json_diff(old.get(key), new.get(key)),
                    )
                )
        if changes:
            diff.changed.append(RuleChange(rule_id, new.get("name", ""), tuple(changes)))
    for intent in INTENTS:
        old_segment = older.intent_segments.get(intent, "")
        new_segment = newer.intent_segments.get(intent, "")
        if old_segment != new_segment:
            diff.intents.append(
                FieldChange(
                    intent.replace("_", " "), old_segment or "receiving team", new_segment or "receiving team"
                )
            )
    if older.misdirect_threshold != newer.misdirect_threshold:
        diff.threshold = FieldChange(
            "Misdirect threshold", f"{older.misdirect_threshold:g}", f"{newer.misdirect_threshold:g}"
        )
    return diff


def _rule_summary(spec: Mapping[str, Any]) -> RuleChange:
    return RuleChange(
        spec["id"],
        spec.get("name", ""),
        conditions=describe_condition(spec.get("when")),
        actions=describe_actions(spec.get("then")),
    )


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _json_diff(old: Any, new: Any) -> tuple[str, ...]:
    old_lines = json.dumps(old, indent=2, ensure_ascii=False, sort_keys=True).splitlines()
    new_lines = json.dumps(new, indent=2, ensure_ascii=False, sort_keys=True).splitlines()
    return tuple(difflib.unified_diff(old_lines, new_lines, "before", "after", lineterm="", n=2))[2:]


# --- Model versions -----------------------------------------------------------------------------------------

# Held by ``inbox.tasks.classifier_train_task`` while it trains: the page says a training is running.
TRAINING_LOCK_KEY = "routing:classifier-train-lock"
# What started a training, in words (``ModelVersion.reason``); others are shown as they were recorded.
TRAINING_REASONS = {
    "corrections": "after new corrections",
    "nightly": "nightly",
    "admin": "an admin asked (Train now)",
}


@dataclass(frozen=True)
class _ModelVersionRow:
    version: ModelVersion
    reason: str
    learned: tuple[str, ...]
    backtest: str
    temperature: str
    training_time: str
    activated: str


def _model_version_row(version: ModelVersion) -> _ModelVersionRow:
    return _ModelVersionRow(
        version=version,
        reason=TRAINING_REASONS.get(version.reason, version.reason or "not recorded"),
        learned=model_examples_words(version.examples),
        backtest=model_backtest_words(version),
        temperature=model_temperature_words(version),
        training_time=_duration_words(version.training_seconds),
        activated=_activated_words(version),
    )


def model_examples_words(counts: Any) -> tuple[str, ...]:
    """What a version learned from, by kind, in words (``ModelVersion.examples``)."""
    counts = counts if isinstance(counts, Mapping) else {}

    def count(key: str) -> int:
        value = counts.get(key, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    history, corrections, labels = count("history"), count("corrections"), count("intent_labels")
    accepted, bounced = count("escalations_accepted"), count("escalations_bounced")
    corrections_words = (
        f"{corrections:,} correction{_s(corrections)} (re-routes by agents, “keep it here” by leads)"
    )
    if labels:
        corrections_words += f", {labels:,} naming an intent"
    return (
        f"{history:,} post{_s(history)} the teams handled (closed or replied to, never corrected)",
        corrections_words,
        f"{accepted:,} escalation{_s(accepted)} accepted, {bounced:,} bounced back",
    )


def model_backtest_words(version: ModelVersion) -> str:
    """The backtest as one sentence: its accuracy on the held-back corrections against the then-active
    version's, or why there was none."""
    if version.held_back_accuracy is None:
        return (
            f"Too few new corrections to backtest ({version.held_back}; it takes {learning.HELD_BACK_MIN})."
        )
    active = (
        f"{version.held_back_accuracy_active:.1%}"
        if version.held_back_accuracy_active is not None
        else "no score"
    )
    return (
        f"{version.held_back_accuracy:.1%} right on the {version.held_back} newest correction"
        f"{_s(version.held_back)}, trained without them; the version active then: {active}."
    )


def model_temperature_words(version: ModelVersion) -> str:
    """The calibration temperature and what it did to the owner model's confidences."""
    if version.held_back_accuracy is None and version.temperature == 1.0:
        return "1.00 (not calibrated: too few corrections held back)"
    if version.temperature > 1.0:
        return f"{version.temperature:.2f} (confidences lowered)"
    if version.temperature < 1.0:
        return f"{version.temperature:.2f} (confidences raised)"
    return f"{version.temperature:.2f} (confidences as trained)"


def _activated_words(version: ModelVersion) -> str:
    if version.activated_at is None:
        return "Never active" if version.promoted else "Kept back by its backtest; never active"
    who = user_name(version.activated_by) if version.activated_by else "socialops"
    when = timezone.localtime(version.activated_at)
    made = f"made active {when.day} {when:%b %Y, %H:%M} by {who}"
    return f"M{made[1:]}" if version.is_active else f"Was {made}; replaced since"


def _duration_words(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _model_versions() -> list[ModelVersion]:
    # The model states are megabytes each: the page reads everything but them.
    return list(
        ModelVersion.objects.select_related("activated_by")
        .defer("intent_state", "owner_state")
        .order_by("-number")
    )


def _training_running() -> bool:
    return cache.get(TRAINING_LOCK_KEY) is not None


@admin_required
@require_GET
def model_versions(request: HttpRequest) -> HttpResponse:
    """Every stored version of the routing models, newest first: what it learned from, its backtest and
    calibration, which one is active; Make active (rollback) and Train now."""
    versions = _model_versions()
    return render(
        request,
        "routing/model_versions.html",
        {
            "rows": [_model_version_row(version) for version in versions],
            "active": next((version for version in versions if version.is_active), None),
            "running": _training_running(),
        },
    )


@admin_required
@require_GET
def model_training(request: HttpRequest) -> HttpResponse:
    """Whether a training is running (polled every few seconds while one is); when it has finished, the
    page reloads to show the version it stored."""
    running = _training_running()
    if not running and request.htmx:
        return HttpResponseClientRefresh()
    return render(request, "routing/_model_training.html", {"running": running})


@admin_required
@require_POST
def model_train(request: HttpRequest) -> HttpResponse:
    """Queue a training of the routing models now (the same task corrections and the nightly run queue)."""
    if _training_running():
        messages.info(
            request,
            "A training is running now: it learns from everything stored when it started. "
            "Train again when it has finished if there is something newer.",
        )
        return redirect("routing:model_versions")
    # Named, not imported: training reads what the teams did with the mentions (``inbox.history``).
    current_app.send_task("inbox.tasks.classifier_train", kwargs={"reason": "admin"})
    newest = ModelVersion.objects.order_by("-number").values_list("number", flat=True).first()
    nothing_new = (
        f" If nothing changed since version {newest}, no version is stored." if newest is not None else ""
    )
    messages.success(
        request,
        "Training queued: a worker trains the routing models from everything stored now, and the new "
        f"version appears in this list when it is done (usually within a minute).{nothing_new}",
    )
    return redirect("routing:model_versions")


@admin_required
@require_http_methods(["GET", "POST"])
def model_version_activate(request: HttpRequest, number: int) -> HttpResponse:
    """Show the version beside the active one, then (on the confirming post) make it the one routing decides
    with.

    The form carries the version that was active when it was shown: when another became active in between,
    the post changes nothing and the page asks again, against the new active version.
    """
    version = get_object_or_404(
        ModelVersion.objects.select_related("activated_by").defer("intent_state", "owner_state"),
        number=number,
    )
    active = (
        ModelVersion.objects.select_related("activated_by")
        .defer("intent_state", "owner_state")
        .filter(is_active=True)
        .first()
    )
    if version.is_active:
        messages.info(request, f"Version {number} is already active: there is nothing to change.")
        return redirect("routing:model_versions")
    shown = str(active.number) if active else "none"
    stale = False
    if request.method == "POST":
        if request.POST.get("active") == shown:
            learning.model_version_activate(version=version, user=request.user)
            messages.success(
                request,
                f"Version {number} is active: new mentions are routed with it from now on."
                + (f" Version {active.number} stays in the list." if active else ""),
            )
            return redirect(f"{reverse('routing:model_versions')}#model-{number}")
        stale = bool(request.POST.get("active"))
    return render(
        request,
        "routing/model_version_activate.html",
        {
            "version": version,
            "row": _model_version_row(version),
            "active": active,
            "active_row": _model_version_row(active) if active else None,
            "shown": shown,
            "stale": stale,
        },
        status=409 if stale else 200,
    )


# --- Rules in words -----------------------------------------------------------------------------------------


def describe_condition(node: Any) -> str:
    """A condition tree in words, for lists and diffs (not a parser's input: the JSON is the rule)."""
    if not isinstance(node, Mapping) or len(node) != 1:
        return json.dumps(node, ensure_ascii=False)
    ((key, arg),) = node.items()
    if key in ("all", "any") and isinstance(arg, list):
        parts = [describe_condition(child) for child in arg]
        joined = f" {'and' if key == 'all' else 'or'} ".join(
            f"({part})" if _compound(child) else part for part, child in zip(parts, arg, strict=True)
        )
        return joined
    if key == "not":
        inner = describe_condition(arg)
        return f"not ({inner})" if _compound(arg) else f"not {inner}"
    return _leaf_words(key, arg)


def _compound(node: Any) -> bool:
    return isinstance(node, Mapping) and len(node) == 1 and next(iter(node)) in ("all", "any")


def _values(arg: Any) -> str:
    values = [arg] if isinstance(arg, str) else arg
    if isinstance(values, list | tuple):
        return ", ".join(str(v) for v in values)
    return json.dumps(arg, ensure_ascii=False)


def _bounds(arg: Any, what: str) -> str:
    if not isinstance(arg, Mapping):
        return f"{what} {json.dumps(arg)}"
    low, high = arg.get("min"), arg.get("max")
    if low is not None and high is not None:
        return f"{what} between {low:g} and {high:g}" if _numbers(low, high) else f"{what} {json.dumps(arg)}"
    if low is not None:
        return f"{what} ≥ {low:g}" if _numbers(low) else f"{what} {json.dumps(arg)}"
    return f"{what} ≤ {high:g}" if _numbers(high) else f"{what} {json.dumps(arg)}"


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _leaf_words(key: str, arg: Any) -> str:
    if key == "keywords":
        return f"words: {_values(arg)}"
    if key == "phrase":
        return f"phrase “{arg}”"
    if key == "regex":
        return f"matches /{arg}/"
    if key in ("hashtag", "cashtag", "language", "channel", "segment", "network", "kind"):
        return f"{key.replace('_', ' ')}: {_values(arg)}"
    if key == "author_tag":
        return f"author tagged {_values(arg)}"
    if key == "author_segment":
        return f"author segment is {_values(arg)}"
    if key == "intent" and isinstance(arg, Mapping):
        words = f"intent {_values(arg['in']).replace('_', ' ')}" if "in" in arg else "any intent"
        confidence = arg.get("min_confidence")
        return f"{words} (confidence ≥ {confidence:g})" if _numbers(confidence) else words
    if key == "sentiment":
        return _bounds(arg, "sentiment")
    if key == "followers":
        return _bounds(arg, "followers")
    if key == "verified":
        return "author verified" if arg is True else "author not verified"
    if key == "crisis_mode":
        return "crisis mode on" if arg is True else "crisis mode off"
    if key == "time_window" and isinstance(arg, Mapping):
        start, end = arg.get("start"), arg.get("end")
        if start and end:
            return f"posted from {start} until {end}"
        return f"posted from {start}" if start else f"posted before {end}"
    return f"{key}: {json.dumps(arg, ensure_ascii=False)}"


def describe_actions(actions: Any) -> str:
    """The actions in words, in order."""
    if not isinstance(actions, Sequence) or isinstance(actions, str):
        return json.dumps(actions, ensure_ascii=False)
    return "; ".join(_action_words(action) for action in actions)


def _action_words(action: Any) -> str:
    if not isinstance(action, Mapping) or len(action) != 1:
        return json.dumps(action, ensure_ascii=False)
    ((key, arg),) = action.items()
    if key == "route_to_segment":
        return f"route to segment {arg}"
    if key == "route_to_team":
        return f"route to team {arg}"
    if key == "set_priority":
        return f"priority {arg}"
    if key == "add_labels":
        return f"label {_values(arg)}"
    if key == "assign_to":
        return f"assign to {arg}"
    if key == "escalate" and isinstance(arg, Mapping):
        reason = arg.get("reason")
        return f"escalate to team {arg.get('team')}" + (f" (“{reason}”)" if reason else "")
    if key == "require_approval":
        return "require approval"
    if key == "notify_email":
        return f"email {arg}"
    if key == "notify_webhook":
        return f"webhook {arg}"
    if key == "stop":
        return "stop"
    return f"{key}: {json.dumps(arg, ensure_ascii=False)}"
