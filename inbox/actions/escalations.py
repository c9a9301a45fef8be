"""Escalations: a post routing sends to the team that owns it waits for that team to accept it (or bounce it
back, saying why); one nobody takes within the team's window goes to its leads. Each step moves the mention
with it and is recorded (audit and live event) in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from channels.models import Segment
from foundation.access import may_answer_escalation
from foundation.events import event_record
from foundation.live import event_publish
from inbox.actions.base import BulkResult, TriageError
from inbox.models import Mention
from routing.facts import Decision, Facts
from routing.models import Correction, Escalation
from teams.roles import actor_of, team_leaders

OPEN_STATES = (Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD)


def escalation_of(mention: Mention) -> Escalation | None:
    """The mention's open escalation, if any."""
    return (
        Escalation.objects.filter(mention=mention, state__in=OPEN_STATES)
        .select_related("from_team", "to_team")
        .first()
    )


def escalations_open(
    decided: Sequence[tuple[int, Facts, Decision]], *, team_ids: Mapping[str, int], now: Any
) -> list[int]:
    """One pending escalation per mention whose decision escalates it; returns their mention ids."""
    windows = dict(Segment.objects.values_list("team_id", "acceptance_window_minutes"))
    wanted = []
    for mention_id, facts, d in decided:
        to_team = team_ids.get(d.escalate_to)
        from_team = team_ids.get(facts.team)
        if not d.escalate_to or to_team is None or from_team is None or to_team == from_team:
            continue
        wanted.append(
            Escalation(
                mention_id=mention_id,
                from_team_id=from_team,
                to_team_id=to_team,
                reason=d.escalation_reason or "Escalated by routing.",
                created_at=now,
                due_at=now + timedelta(minutes=windows.get(to_team, 60)),
            )
        )
    # The partial unique constraint keeps a mention from having two open escalations.
    Escalation.objects.bulk_create(wanted, ignore_conflicts=True)
    return [e.mention_id for e in wanted]


def escalation_accept(*, actor: Any, escalation: Escalation) -> Escalation:
    """The owning team takes the post."""
    if not may_answer_escalation(actor_of(actor), to_team_id=escalation.to_team_id):
        raise TriageError("Only members of the team it was escalated to can accept it.")
    with transaction.atomic():
        escalation = Escalation.objects.select_for_update().get(pk=escalation.pk)
        if escalation.state not in (Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD):
            raise TriageError(f"This escalation is already {escalation.get_state_display().lower()}.")
        before = {"state": escalation.state}
        escalation.state = Escalation.State.ACCEPTED
        escalation.decided_at = timezone.now()
        escalation.decided_by = actor
        escalation.save(update_fields=["state", "decided_at", "decided_by"])
        Mention.objects.filter(pk=escalation.mention_id).update(team_id=escalation.to_team_id)
        event_record(
            actor=actor,
            verb="escalation.accepted",
            obj=escalation,
            before=before,
            after={"state": escalation.state},
        )
        _publish_after_commit("escalation.accepted", escalation, actor=getattr(actor, "username", ""))
    return escalation


def escalation_bounce(*, actor: Any, escalation: Escalation, reason: str) -> Escalation:
    """The owning team hands the post back to the team that received it, saying why."""
    reason = (reason or "").strip()
    if not reason:
        raise TriageError("Say why the post is bounced back: the receiving team reads it.")
    if not may_answer_escalation(actor_of(actor), to_team_id=escalation.to_team_id):
        raise TriageError("Only members of the team it was escalated to can bounce it back.")
    with transaction.atomic():
        escalation = Escalation.objects.select_for_update().select_related("mention").get(pk=escalation.pk)
        if escalation.state not in (Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD):
            raise TriageError(f"This escalation is already {escalation.get_state_display().lower()}.")
        before = {"state": escalation.state}
        escalation.state = Escalation.State.BOUNCED
        escalation.bounce_reason = reason[:2000]
        escalation.decided_at = timezone.now()
        escalation.decided_by = actor
        escalation.save(update_fields=["state", "bounce_reason", "decided_at", "decided_by"])
        Mention.objects.filter(pk=escalation.mention_id).update(
            team_id=escalation.from_team_id, is_misdirected=False
        )
        # A bounce says "not ours", not what it is: kept as a correction without an intent to learn (the
        # owner model learns it from the escalation: evidence against the team that bounced it).
        Correction.objects.create(
            kind=Correction.Kind.BOUNCE,
            mention_id=escalation.mention_id,
            user=actor,
            text=escalation.mention.text,
            intent_before=escalation.mention.intent,
            team_before_id=escalation.to_team_id,
            team_after_id=escalation.from_team_id,
        )
        event_record(
            actor=actor,
            verb="escalation.bounced",
            obj=escalation,
            before=before,
            after={"state": escalation.state, "reason": reason},
        )
        _publish_after_commit("escalation.bounced", escalation, actor=getattr(actor, "username", ""))
    return escalation


def escalations_overdue_raise(*, now: Any = None) -> list[int]:
    """Pending escalations past their acceptance window go to the owning team's lead. Safe to repeat."""
    now = now or timezone.now()
    raised = []
    with transaction.atomic():
        overdue = list(
            Escalation.objects.select_for_update(skip_locked=True)
            .filter(state=Escalation.State.PENDING, due_at__lte=now)
            .order_by("due_at")[:500]
        )
        for escalation in overdue:
            escalation.state = Escalation.State.ESCALATED_TO_LEAD
            escalation.escalated_to_lead_at = now
            escalation.save(update_fields=["state", "escalated_to_lead_at"])
            leaders = team_leaders(team_id=escalation.to_team_id)  # a team without a lead: the admins
            leads = [user.get_username() for user in leaders.users]
            event_record(
                actor=None,
                verb="escalation.to_lead",
                obj=escalation,
                before={"state": Escalation.State.PENDING},
                after={"state": escalation.state, "leads": leads, "admins_stand_in": leaders.admins_stand_in},
            )
            _publish_after_commit("escalation.to_lead", escalation, leads=leads)
            raised.append(escalation.pk)
    return raised


def _publish_after_commit(kind: str, escalation: Escalation, **extra: Any) -> None:
    payload = {
        "escalation": escalation.pk,
        "mention": escalation.mention_id,
        "ids": [escalation.mention_id],
        "teams": sorted({escalation.from_team_id, escalation.to_team_id}),
        "from_team": escalation.from_team_id,
        "to_team": escalation.to_team_id,
        "state": escalation.state,
        **extra,
    }
    transaction.on_commit(lambda: event_publish(kind, payload))


def escalations_answer(
    *, actor: Any, mentions: Sequence[Mention], accept: bool, reason: str = ""
) -> BulkResult:
    """Accept, or bounce back with one reason, the open escalations of a selection: each as
    ``escalation_accept`` or ``escalation_bounce`` does it alone (checked, recorded, published). Mentions
    with no open escalation, or whose escalation the actor may not answer, are skipped with the reason."""
    if not accept and not (reason or "").strip():
        raise TriageError("Say why the posts are bounced back: the receiving teams read it.")
    rows = Escalation.objects.filter(mention__in=mentions, state__in=OPEN_STATES).select_related("mention")
    open_ones = {e.mention_id: e for e in rows}
    done: list[int] = []
    skipped: dict[int, str] = {}
    for mention in mentions:
        escalation = open_ones.get(mention.pk)
        if escalation is None:
            skipped[mention.pk] = "has no open escalation"
            continue
        try:
            if accept:
                escalation_accept(actor=actor, escalation=escalation)
            else:
                escalation_bounce(actor=actor, escalation=escalation, reason=reason)
        except TriageError as exc:
            skipped[mention.pk] = f"could not be answered: {exc}"
        else:
            done.append(mention.pk)
    return BulkResult(done=done, skipped=skipped)
