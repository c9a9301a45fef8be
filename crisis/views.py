"""The radar's pages, for team leads and admins: the list of incidents (with the segments' crisis policies),
and an incident's page with its response: crisis mode, bulk actions on its mentions, the all clear."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from channels.models import Segment
from crisis.actions import (
    IncidentError,
    crisis_policy_save,
    incident_close,
    incident_crisis_mode_on,
    incident_team_ids,
)
from crisis.models import CrisisPolicy, Incident
from crisis.selectors import (
    INCIDENT_PAGE_SIZE,
    MENTIONS_MAX,
    SAMPLES,
    incident_audit,
    incident_authors,
    incident_for,
    incident_mentions,
    incident_terms,
    incident_timeline,
    incidents_for,
)
from inbox.actions.base import TriageError
from inbox.actions.replies import mentions_reply
from inbox.actions.triage import mentions_bulk_apply
from inbox.models import CannedResponse, Mention
from inbox.templatetags.inbox_tags import verb_words
from reports.charts import Chart, Kind, Series, chart_render
from routing.handovers import CRISIS_SEGMENT
from teams.roles import user_is_admin, user_name

NEGATIVE_STYLE = 7  # red in the charts' palette
INCIDENT_VERBS = {
    "incident.opened": "the radar opened the incident",
    "incident.alerted": "the radar added alerts",
    "incident.crisis_mode_on": "switched crisis mode on",
    "incident.closed": "gave the all clear",
}


@dataclass(frozen=True)
class Done:
    """One line of "who did what": when, who (empty: the system), what, and the mention it was about."""

    at: datetime
    who: str
    what: str
    mention_id: int | None


def _who_did_what(incident: Incident) -> list[Done]:
    rows = []
    for event in incident_audit(incident):
        who = user_name(event.actor) if event.actor_id else ""
        if event.verb in INCIDENT_VERBS:
            what = INCIDENT_VERBS[event.verb]
            if event.verb == "incident.crisis_mode_on" and not event.actor_id:
                what = "crisis mode switched on by the segment's policy"
        else:
            what = verb_words(event.verb)
        rows.append(Done(event.created_at, who, what, event.mention_id))
    return rows


@login_required
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    """Incidents, newest first, searchable by their words; a 403 to anyone but leads and admins."""
    search = request.GET.get("q", "")[:200]
    status = request.GET.get("status", "")
    incidents = list(incidents_for(user=request.user, search=search, status=status)[:INCIDENT_PAGE_SIZE])
    policies = {p.segment_id: p for p in CrisisPolicy.objects.all()}
    segments = [
        (s, policies.get(s.pk) or CrisisPolicy(segment=s)) for s in Segment.objects.order_by("position", "pk")
    ]
    return render(
        request,
        "crisis/incidents.html",
        {
            "incidents": incidents,
            "search": search,
            "status": status,
            "statuses": Incident.Status.choices,
            "policies": segments,
            "can_set_policies": user_is_admin(request.user),
        },
    )


@login_required
@require_POST
def policy_save(request: HttpRequest, segment_id: int) -> HttpResponse:
    """An admin's crisis policy for one segment."""
    segment = get_object_or_404(Segment, pk=segment_id)
    try:
        crisis_policy_save(
            actor=request.user,
            segment=segment,
            switch_on=request.POST.get("switch_on") == "on",
            approval_required=request.POST.get("approval_required") == "on",
        )
    except IncidentError as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(request, f"Crisis policy of {segment.name} saved.")
    return redirect("crisis:incidents")


def _timeline_chart(incident: Incident):
    buckets = incident_timeline(incident)
    return chart_render(
        Chart(
            kind=Kind.LINE,
            title="Posts per 5 minutes",
            x=[b.at for b in buckets],
            series=[
                Series("All posts", [b.posts for b in buckets], style=0),
                Series("Negative", [b.negative for b in buckets], style=NEGATIVE_STYLE),
                Series("Crisis signals", [b.crisis for b in buckets], style=3),
            ],
            x_label="Received (UTC)",
            y_label="Posts",
            unit="posts",
            description="Posts of the incident's account or segment per 5 minutes, from half an hour before "
            "the first alert.",
            linked=False,
        )
    )


def _canned(incident: Incident) -> list[CannedResponse]:
    """The canned responses of the crisis-management segment (its holding statements first), the incident's
    segment, and those offered everywhere."""
    crisis = Segment.objects.filter(slug=CRISIS_SEGMENT).values_list("pk", flat=True).first()
    segments = [s for s in (crisis, incident.segment_id) if s]
    canned = CannedResponse.objects.filter(Q(segment_id__in=segments) | Q(segment=None)).order_by("title")
    return sorted(canned, key=lambda c: c.segment_id != crisis)


def _assignees(incident: Incident) -> list:
    return list(
        get_user_model()
        .objects.filter(is_active=True, memberships__team_id__in=incident_team_ids(incident))
        .distinct()
        .order_by("username")
    )


@login_required
@require_GET
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One incident: its timeline, terms, most-reached authors, sample posts, its mentions with bulk actions,
    who did what, and crisis mode and the all clear."""
    incident = incident_for(user=request.user, pk=pk)
    mentions = incident_mentions(incident)
    listed = list(mentions.select_related("author", "team", "assignee")[:MENTIONS_MAX])
    samples = sorted(listed, key=lambda m: (m.author.follower_count, m.pk), reverse=True)[:SAMPLES]
    return render(
        request,
        "crisis/incident.html",
        {
            "incident": incident,
            "chart": _timeline_chart(incident),
            "terms": incident_terms(incident, [m.text for m in listed]),
            "authors": incident_authors(mentions),
            "samples": samples,
            "mentions": listed,
            "mentions_more": len(listed) == MENTIONS_MAX,
            "canned": _canned(incident),
            "assignees": _assignees(incident),
            "audit": _who_did_what(incident),
            "is_open": incident.status == Incident.Status.OPEN,
            "crisis_mode_on": incident.crisis_mode == Incident.CrisisMode.ON,
        },
    )


@login_required
@require_POST
def incident_crisis_mode(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_for(user=request.user, pk=pk)
    try:
        incident_crisis_mode_on(actor=request.user, incident=incident)
    except IncidentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "Crisis mode is on: matching posts go to the crisis team, urgent, until the all clear."
        )
    return redirect("crisis:incident", pk=incident.pk)


@login_required
@require_POST
def incident_all_clear(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_for(user=request.user, pk=pk)
    try:
        closed = incident_close(
            actor=request.user, incident=incident, summary=request.POST.get("summary", "")
        )
    except IncidentError as exc:
        messages.error(request, str(exc))
    else:
        ended = " Crisis mode is off." if closed.crisis_mode == Incident.CrisisMode.ENDED else ""
        messages.success(request, f"All clear: incident {closed.pk} is closed.{ended}")
    return redirect("crisis:incident", pk=incident.pk)


def _selected(request: HttpRequest, incident: Incident) -> list[Mention]:
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()][:MENTIONS_MAX]
    return list(incident_mentions(incident).filter(pk__in=ids).select_related("author"))


@login_required
@require_POST
def incident_bulk(request: HttpRequest, pk: int) -> HttpResponse:
    """One click on the incident's mentions: assign them all to someone, or reply to each with a canned
    response (the holding statement). The inbox's own actions do it, with their checks and events."""
    incident = incident_for(user=request.user, pk=pk)
    selected = _selected(request, incident)
    action = request.POST.get("action", "")
    if not selected:
        messages.error(request, "Select the mentions first.")
        return redirect("crisis:incident", pk=incident.pk)
    try:
        if action == "assign":
            assignee = next(
                (u for u in _assignees(incident) if str(u.pk) == request.POST.get("assignee", "")), None
            )
            if assignee is None:
                raise TriageError("Choose who to assign the mentions to.")
            result = mentions_bulk_apply(
                actor=request.user, mentions=selected, action="assign", assignee=assignee
            )
            done = f"Assigned {len(result.done)} to {assignee.get_full_name() or assignee.get_username()}"
        elif action == "reply":
            canned = next((c for c in _canned(incident) if str(c.pk) == request.POST.get("canned", "")), None)
            if canned is None:
                raise TriageError("Choose the canned response to send.")
            result = mentions_reply(actor=request.user, mentions=selected, text=canned.body)
            done = f"Replied “{canned.title}” to {len(result.done)}"
        else:
            raise TriageError("Choose assign or reply.")
    except TriageError as exc:
        messages.error(request, str(exc))
        return redirect("crisis:incident", pk=incident.pk)
    skipped = f"; {len(result.skipped)} skipped" if result.skipped else ""
    reasons = sorted(set(result.skipped.values()))
    why = f" (this mention {'; '.join(reasons[:3])})" if reasons else ""
    messages.success(request, f"{done}{skipped}{why}.")
    return redirect("crisis:incident", pk=incident.pk)
