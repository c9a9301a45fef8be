"""The response to an incident: where it is, crisis mode switched on (by a person, or by the segment's
policy), and the all clear that only a person gives.

Crisis mode is routing's organisation-wide switch (``routing.models.RoutingSettings.crisis_mode``, which
rules test and which lets the crisis team's lead take accounts at once, ``routing.handovers``). Switching it
on for an incident also adds one routing rule, first in the rule set, for the incident's posts::

    crisis mode is on, and the post arrived on the incident's account (or segment; anywhere for an
    organisation-wide incident), and it is negative, a crisis signal, or names one of the incident's terms
    -> route to the crisis-management segment's team, priority urgent, label "incident-<id>",
       [require approval before replying], stop

so the rule's explanation says why each post went to the crisis team, and approval uses the inbox's own
mechanics (``Mention.requires_approval``: a lead's reply goes out, an agent's waits for a lead). The all
clear deletes the rule, switches crisis mode off when no other incident still holds it on, and closes the
incident with its summary. Each step records a domain event (``incident.crisis_mode_on``,
``incident.closed``) in its transaction: the audit trail, the integrations' webhooks and Slack read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels.models import Channel, Segment
from crisis.models import CrisisPolicy, Incident
from foundation.events import event_record
from routing.handovers import CRISIS_SEGMENT, crisis_team_id
from routing.models import RoutingSettings, Rule
from routing.rulesets import routing_settings_save, rule_delete, rule_save
from teams.models import Team
from teams.roles import ADMINS_GROUP, LEAD_ROLE, user_is_admin, user_led_team_ids

SUMMARY_MAX = 2000
NEGATIVE_BELOW = -0.05  # the sentiment under which routing labels a post negative (VADER's convention)


class IncidentError(ValueError):
    """An incident action that cannot be done; the message says why, in words for the page."""


# --- Where an incident is, and who it concerns -----------------------------------------------------------


def incident_place(*, incident: Incident, alerts: Sequence[dict]) -> None:
    """Set the incident's brand account and segment from its alerts (not saved): the first alert about an
    account, else the first about a segment; neither when every alert was organisation-wide."""
    channels = [a["scope"].split(":", 1)[1] for a in alerts if a["scope"].startswith("channel:")]
    segments = [a["scope"].split(":", 1)[1] for a in alerts if a["scope"].startswith("segment:")]
    if channels:
        channel = Channel.objects.select_related("segment").filter(slug=channels[0]).first()
        if channel is not None:
            incident.channel, incident.segment = channel, channel.segment
            return
    if segments:
        incident.segment = Segment.objects.filter(slug=segments[0]).first()


def incident_team_ids(incident: Incident) -> list[int]:
    """The teams an incident concerns: the segment's, the account's owner and the crisis team; every team
    for an organisation-wide incident (or one whose account and segment are gone)."""
    teams: set[int] = set()
    if incident.segment_id is not None:
        teams.add(incident.segment.team_id)
    if incident.channel_id is not None:
        teams.add(incident.channel.owning_team_id)
    if not teams:
        return list(Team.objects.order_by("pk").values_list("pk", flat=True))
    crisis = crisis_team_id()
    if crisis is not None:
        teams.add(crisis)
    return sorted(teams)


def user_may_respond(user: Any, incident: Incident) -> bool:
    """Admins, and the leads of a team the incident concerns (``incident_team_ids``)."""
    if not user.is_authenticated:
        return False
    if user_is_admin(user):
        return True
    return bool(set(user_led_team_ids(user)) & set(incident_team_ids(incident)))


def _check(actor: Any, incident: Incident) -> None:
    if not user_may_respond(actor, incident):
        raise IncidentError("Only the leads of the teams this incident concerns, and admins, can do this.")


def incident_recipients(incident: Incident) -> list[str]:
    """The email addresses of the leads of the teams the incident concerns, and of the admins."""
    people = get_user_model().objects.filter(is_active=True).exclude(email="")
    return sorted(
        set(
            people.filter(
                Q(memberships__team_id__in=incident_team_ids(incident), memberships__role=LEAD_ROLE)
                | Q(is_superuser=True)
                | Q(groups__name=ADMINS_GROUP)
            ).values_list("email", flat=True)
        )
    )


def policy_of(segment: Segment | None) -> CrisisPolicy:
    """The segment's crisis policy; the default (suggest, no approval) when it has none or for no segment."""
    if segment is None:
        return CrisisPolicy()
    return CrisisPolicy.objects.filter(segment=segment).first() or CrisisPolicy(segment=segment)


def crisis_policy_save(
    *, actor: Any, segment: Segment, switch_on: bool, approval_required: bool
) -> CrisisPolicy:
    """An admin sets what incidents of ``segment`` do to crisis mode (audited)."""
    if not user_is_admin(actor):
        raise IncidentError("Only admins set the crisis policies.")
    with transaction.atomic():
        policy, _ = CrisisPolicy.objects.select_for_update().get_or_create(segment=segment)
        before = {"switch_on": policy.switch_on, "approval_required": policy.approval_required}
        after = {"switch_on": switch_on, "approval_required": approval_required}
        if before != after:
            policy.switch_on, policy.approval_required = switch_on, approval_required
            policy.save()
            event_record(
                actor=actor, verb="crisis_policy.saved", obj=policy, before=before, after=after, teams=[]
            )
    return policy


# --- Opening: what the policy does --------------------------------------------------------------------------


def incident_opened(*, incident: Incident) -> None:
    """In ``alerts_record``'s transaction, for a new incident: place it, then suggest crisis mode or, when
    the segment's policy says so, switch it on (the system is the actor)."""
    incident_place(incident=incident, alerts=incident.alerts)
    if incident.segment_id is None:
        incident.save(update_fields=["segment", "channel"])
        return
    incident.crisis_mode = Incident.CrisisMode.SUGGESTED
    incident.save(update_fields=["segment", "channel", "crisis_mode"])
    if policy_of(incident.segment).switch_on:
        incident_crisis_mode_on(actor=None, incident=incident)


def _locked_open(incident: Incident) -> Incident:
    """The incident locked for the caller's transaction, refused when closed."""
    incident = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("segment", "channel")
        .get(pk=incident.pk)
    )
    if incident.status != Incident.Status.OPEN:
        raise IncidentError("This incident is already closed.")
    return incident


# --- Crisis mode on ----------------------------------------------------------------------------------------


def _rule_spec(incident: Incident, *, approval: bool) -> tuple[dict, list]:
    matching: list[dict] = [
        {"sentiment": {"max": NEGATIVE_BELOW}},
        {"intent": {"in": ["crisis_signal"]}},
    ]
    terms = [t for t in incident.terms if t and not t.startswith(("#", "$"))]
    if terms:
        matching.append({"keywords": terms})
    when: list[dict] = [{"crisis_mode": True}]
    if incident.channel_id is not None:
        when.append({"channel": [incident.channel.slug]})
    elif incident.segment_id is not None:
        when.append({"segment": [incident.segment.slug]})
    when.append({"any": matching})
    then: list[dict] = []
    crisis = Segment.objects.filter(slug=CRISIS_SEGMENT).first()
    if crisis is not None:
        then.append({"route_to_segment": crisis.slug})
    then += [{"set_priority": "urgent"}, {"add_labels": [f"incident-{incident.pk}"]}]
    if approval:
        then.append({"require_approval": True})
    then.append({"stop": True})
    return {"all": when}, then


def incident_crisis_mode_on(*, actor: Any, incident: Incident) -> Incident:
    """Switch crisis mode on for the incident: the routing rule for its posts, the organisation's switch,
    the incident's state, one ``incident.crisis_mode_on`` event. ``actor`` None: the segment's policy."""
    if actor is not None:
        _check(actor, incident)
    with transaction.atomic():
        incident = _locked_open(incident)
        if incident.crisis_mode == Incident.CrisisMode.ON:
            raise IncidentError("Crisis mode is already on for this incident.")
        approval = policy_of(incident.segment).approval_required
        when, then = _rule_spec(incident, approval=approval)
        first = Rule.objects.order_by("position").values_list("position", flat=True).first()
        rule = rule_save(
            user=actor,
            name=f"Crisis mode: incident {incident.pk}",
            when=when,
            then=then,
            position=max(0, (first or 10) - 10),
        )
        current = RoutingSettings.current()
        routing_settings_save(user=actor, crisis_mode=True, misdirect_threshold=current.misdirect_threshold)
        incident.crisis_mode = Incident.CrisisMode.ON
        incident.crisis_mode_at = timezone.now()
        incident.crisis_mode_by = actor if actor is not None else None
        incident.crisis_rule = rule
        incident.save(update_fields=["crisis_mode", "crisis_mode_at", "crisis_mode_by", "crisis_rule"])
        event_record(
            actor=actor,
            verb="incident.crisis_mode_on",
            obj=incident,
            after={"rule": rule.pk, "approval_required": approval, "by_policy": actor is None},
            teams=incident_team_ids(incident),
        )
    return incident


# --- The all clear -----------------------------------------------------------------------------------------


def incident_close(*, actor: Any, incident: Incident, summary: str) -> Incident:
    """The all clear, given by a person with a summary: the incident's crisis rule is deleted, crisis mode
    is switched off unless another open incident holds it on, and the incident is closed
    (``incident.closed``)."""
    summary = (summary or "").strip()
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise IncidentError("Only a person gives the all clear.")
    _check(actor, incident)
    if not summary:
        raise IncidentError("Write the all-clear summary: what happened and what was done.")
    if len(summary) > SUMMARY_MAX:
        raise IncidentError(f"Keep the summary under {SUMMARY_MAX} characters.")
    with transaction.atomic():
        incident = _locked_open(incident)
        ended = incident.crisis_mode == Incident.CrisisMode.ON
        switched_off = False
        if ended:
            rule = Rule.objects.filter(pk=incident.crisis_rule_id).first()
            if rule is not None:
                rule_delete(user=actor, rule=rule)
            others = (
                Incident.objects.filter(status=Incident.Status.OPEN, crisis_mode=Incident.CrisisMode.ON)
                .exclude(pk=incident.pk)
                .exists()
            )
            current = RoutingSettings.current()
            if not others and current.crisis_mode:
                routing_settings_save(
                    user=actor, crisis_mode=False, misdirect_threshold=current.misdirect_threshold
                )
                switched_off = True
            incident.crisis_mode = Incident.CrisisMode.ENDED
        incident.status = Incident.Status.CLOSED
        incident.closed_at = timezone.now()
        incident.closed_by = actor
        incident.closing_summary = summary
        incident.crisis_rule = None
        incident.save(
            update_fields=[
                "status",
                "closed_at",
                "closed_by",
                "closing_summary",
                "crisis_mode",
                "crisis_rule",
            ]
        )
        event_record(
            actor=actor,
            verb="incident.closed",
            obj=incident,
            after={"summary": summary, "crisis_mode_ended": ended, "crisis_mode_off": switched_off},
            teams=incident_team_ids(incident),
        )
    return incident
