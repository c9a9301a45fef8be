"""Triage: what agents do to mentions, from the detail pane, the bulk bar and the API.

Each action has a many form (``mentions_close``) that locks the rows in id order, writes them in a few
statements, records one audit event per mention and publishes one live event; the single form
(``mention_close``) refuses in words what the many form would skip, and runs the many form on one row. So
the detail pane and the bulk bar change the same columns and record the same events. Callers get mentions
through ``inbox.selectors`` (which hides what the user may not see); these check that the user may *act*.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels.models import Segment
from foundation.access import may_be_assigned
from foundation.events import event_record, events_record_many
from inbox.actions.assignment import mentions_auto_assign
from inbox.actions.base import (
    BulkResult,
    TriageError,
    check_can_work,
    locked,
    locked_many,
    plain,
    publish,
    single,
    workable,
)
from inbox.actions.escalations import escalations_answer
from inbox.actions.routing import classifier_learns_after_commit, corrections_learn, mentions_reroute
from inbox.actions.sla import SLA_STOPPED, sla_clock_restart
from inbox.models import Mention, Note
from routing.facts import INTENTS, LabelRefused, label_normalized
from teams.models import Membership, Team
from teams.roles import actor_of, user_name

SNOOZE_MAX = timedelta(days=365)
NOTE_MAX = 5000
BULK_MAX = 1000  # a selection larger than this is a filter, not a selection


class AssignmentConflict(TriageError):
    """Someone else assigned the mention first."""

    def __init__(self, message: str, *, assignee: str) -> None:
        super().__init__(message)
        self.assignee = assignee


ANY_ASSIGNEE = object()  # expected_assignee_id meaning "nobody, or the one being assigned"


def _write(
    actor: Any, rows: Sequence[Mention], verb: str, changes: dict[str, Any], before_fields: Sequence[str]
) -> None:
    """Set the same ``changes`` on locked ``rows`` in one statement and record them: one audit event per
    mention (the fields as they were, and the changes), one live event."""
    if not rows:
        return
    now = timezone.now()
    before = [{name: getattr(m, name) for name in before_fields} for m in rows]
    Mention.objects.filter(pk__in=[m.pk for m in rows]).update(**changes, updated_at=now)
    for m in rows:
        for name, value in changes.items():
            setattr(m, name, value)
        m.updated_at = now
    after = {name: plain(value) for name, value in changes.items()}
    events_record_many(actor=actor, verb=verb, objects=rows, before=before, after=[after] * len(rows))
    publish(verb, rows, actor)


# --- Assignment ---------------------------------------------------------------------------------------------


def mention_assign(
    *, actor: Any, mention: Mention, assignee: Any | None, expected_assignee_id: Any = ANY_ASSIGNEE
) -> Mention:
    """Assign the mention to ``assignee`` (a member of its team), or unassign it with None.

    No lost update: the write only happens if the assignee is still the one the agent saw
    (``expected_assignee_id``; by default "nobody, or the one being assigned", and for an unassign "whoever
    holds it"), so of two agents assigning at once one wins and the other gets ``AssignmentConflict`` naming
    who did.
    """
    check_can_work(actor, mention)
    if assignee is not None and not may_be_assigned(actor_of(assignee), team_id=mention.team_id):
        raise TriageError(f"{user_name(assignee)} is not a member of team {mention.team}; re-route it first.")
    with transaction.atomic():
        current = locked(mention)
        if expected_assignee_id is not ANY_ASSIGNEE:
            allowed = {expected_assignee_id}
        elif assignee is None:
            allowed = {current.assignee_id}  # unassigning with no expectation lets go whoever holds it
        else:
            allowed = {None, assignee.pk}
        if current.assignee_id not in allowed:
            raise AssignmentConflict(
                f"{user_name(current.assignee)} took this mention first.",
                assignee=user_name(current.assignee),
            )
        _assign_rows(actor, [current], assignee)
    return Mention.objects.get(pk=mention.pk)


def mentions_assign(*, actor: Any, mentions: Sequence[Mention], assignee: Any | None) -> BulkResult:
    """Assign (or with None unassign) every mention the actor may work on; a mention of a team the assignee
    is not in is skipped."""
    rows, skipped = workable(actor, mentions)
    if assignee is not None:
        who = actor_of(assignee)
        kept = []
        for m in rows:
            if may_be_assigned(who, team_id=m.team_id):
                kept.append(m)
            else:
                skipped[m.pk] = f"{user_name(assignee)} is not in its team"
        rows = kept
    with transaction.atomic():
        current = locked_many(rows)
        _assign_rows(actor, current, assignee)
    return BulkResult(done=[m.pk for m in current], skipped=skipped)


def _assign_rows(actor: Any, rows: Sequence[Mention], assignee: Any | None) -> None:
    if not rows:
        return
    now = timezone.now()
    before = [{"assignee": m.assignee_id, "status": m.status} for m in rows]
    for m in rows:
        m.assignee = assignee
        if m.status == Mention.Status.NEW and assignee is not None:
            m.status = Mention.Status.OPEN
        m.updated_at = now
    Mention.objects.bulk_update(rows, ["assignee", "status", "updated_at"])
    events_record_many(
        actor=actor,
        verb="mention.assigned" if assignee else "mention.unassigned",
        objects=rows,
        before=before,
        after=[{"assignee": m.assignee_id, "status": m.status} for m in rows],
    )
    publish("mention.assigned", rows, actor, assignee=user_name(assignee) if assignee else "")


# --- State --------------------------------------------------------------------------------------------------


def mention_close(*, actor: Any, mention: Mention) -> Mention:
    """Close the mention: out of the queues, its SLA clock stopped."""
    return single(mentions_close(actor=actor, mentions=[mention]), mention)


def mentions_close(*, actor: Any, mentions: Sequence[Mention]) -> BulkResult:
    rows, skipped = workable(actor, mentions)
    with transaction.atomic():
        current = locked_many(rows)
        changes = {
            "status": Mention.Status.CLOSED,
            "closed_at": timezone.now(),
            "snoozed_until": None,
            **SLA_STOPPED,
        }
        _write(actor, current, "mention.closed", changes, ["status"])
    return BulkResult(done=[m.pk for m in current], skipped=skipped)


def mention_reopen(*, actor: Any, mention: Mention) -> Mention:
    """Open again; it stays with its last assignee when they are available, else goes back to the queue."""
    single(mentions_reopen(actor=actor, mentions=[mention]), mention)
    return Mention.objects.select_related("assignee").get(pk=mention.pk)


def mentions_reopen(*, actor: Any, mentions: Sequence[Mention]) -> BulkResult:
    """Open again, each staying with its last assignee when they are available (in its team, not away),
    the others back in the queue for auto-assignment."""
    rows, skipped = workable(actor, mentions)
    with transaction.atomic():
        current = locked_many(rows)
        changes = {"status": Mention.Status.OPEN, "closed_at": None, "snoozed_until": None}
        _write(actor, current, "mention.reopened", changes, ["status"])
        _back_to_last_assignees(current)
    return BulkResult(done=[m.pk for m in current], skipped=skipped)


def _back_to_last_assignees(rows: Sequence[Mention]) -> None:
    """Reopened mentions whose assignee is no longer available (left the team, away, deactivated) let go of
    them; those without an assignee now are handed out when their team assigns automatically."""
    held = [m for m in rows if m.assignee_id is not None]
    available = set(
        Membership.objects.filter(
            Q(*[Q(user_id=m.assignee_id, team_id=m.team_id) for m in held], _connector=Q.OR)
            if held
            else Q(pk__in=[]),
            is_away=False,
            user__is_active=True,
        ).values_list("user_id", "team_id")
    )
    released = [m.pk for m in held if (m.assignee_id, m.team_id) not in available]
    if released:
        Mention.objects.filter(pk__in=released).update(assignee=None)
    queued = [m.pk for m in rows if m.assignee_id is None or m.pk in released]
    if queued:
        mentions_auto_assign(mention_ids=queued)


def _snooze_until(until: datetime | None, now: datetime) -> datetime:
    if until is None:
        raise TriageError("Choose a time to snooze until.")
    if timezone.is_naive(until):
        until = timezone.make_aware(until)
    if until <= now:
        raise TriageError("Choose a time in the future to snooze until.")
    if until - now > SNOOZE_MAX:
        raise TriageError("A mention can be snoozed for a year at most.")
    return until


def mention_snooze(*, actor: Any, mention: Mention, until: datetime) -> Mention:
    """Hide the mention from the queues until ``until``; it comes back open then."""
    return single(mentions_snooze(actor=actor, mentions=[mention], until=until), mention)


def mentions_snooze(*, actor: Any, mentions: Sequence[Mention], until: datetime | None) -> BulkResult:
    until = _snooze_until(until, timezone.now())
    rows, skipped = workable(actor, mentions)
    with transaction.atomic():
        current = locked_many(rows)
        changes = {"status": Mention.Status.SNOOZED, "snoozed_until": until}
        _write(actor, current, "mention.snoozed", changes, ["status"])
    return BulkResult(done=[m.pk for m in current], skipped=skipped)


def mentions_wake(*, now: datetime | None = None) -> list[int]:
    """Snoozed mentions whose time has come go back to open. Safe to repeat (beat runs it every minute)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Mention.objects.select_for_update(skip_locked=True)
            .filter(status=Mention.Status.SNOOZED, snoozed_until__lte=now)
            .order_by("snoozed_until")[:1000]
        )
        if not due:
            return []
        Mention.objects.filter(pk__in=[m.pk for m in due]).update(
            status=Mention.Status.OPEN, snoozed_until=None, updated_at=now
        )
        events_record_many(
            actor=None,
            verb="mention.woke",
            objects=due,
            before=[{"status": Mention.Status.SNOOZED}] * len(due),
            after=[{"status": Mention.Status.OPEN}] * len(due),
        )
        publish("mention.woke", due, None)
    return [m.pk for m in due]


def _priority_checked(priority: Any) -> int:
    if priority not in Mention.Priority.values:
        raise TriageError(f"Unknown priority {priority!r}; choose low, normal, high or urgent.")
    return priority


def mention_prioritize(*, actor: Any, mention: Mention, priority: int) -> Mention:
    return single(mentions_prioritize(actor=actor, mentions=[mention], priority=priority), mention)


def mentions_prioritize(*, actor: Any, mentions: Sequence[Mention], priority: int) -> BulkResult:
    priority = _priority_checked(priority)
    rows, skipped = workable(actor, mentions)
    with transaction.atomic():
        current = locked_many(rows)
        _write(actor, current, "mention.prioritized", {"priority": priority}, ["priority"])
    return BulkResult(done=[m.pk for m in current], skipped=skipped)


def labels_clean(labels: Iterable[str]) -> list[str]:
    """Labels as stored: trimmed, lower case; ``TriageError`` naming the first one that is not a label."""
    out = []
    for label in labels:
        if not (label or "").strip():
            continue
        try:
            label = label_normalized(label)
        except LabelRefused as exc:
            raise TriageError(str(exc)) from None
        if label not in out:
            out.append(label)
    return out


def mention_label(
    *, actor: Any, mention: Mention, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> Mention:
    return single(mentions_label(actor=actor, mentions=[mention], add=add, remove=remove), mention)


def mentions_label(
    *, actor: Any, mentions: Sequence[Mention], add: Sequence[str] = (), remove: Sequence[str] = ()
) -> BulkResult:
    """Add labels a mention lacks and take away the ones named in ``remove``."""
    add, remove = labels_clean(add), labels_clean(remove)
    if not add and not remove:
        raise TriageError("Name a label to add or remove.")
    rows, skipped = workable(actor, mentions)
    with transaction.atomic():
        current = locked_many(rows)
        if current:
            now = timezone.now()
            before = [{"labels": list(m.labels)} for m in current]
            for m in current:
                # Compared as stored: a label written in capitals before labels were checked can still go.
                labels = [label for label in m.labels if label.strip().lower() not in remove]
                m.labels = labels + [label for label in add if label not in labels]
                m.updated_at = now
            Mention.objects.bulk_update(current, ["labels", "updated_at"])
            events_record_many(
                actor=actor,
                verb="mention.labelled",
                objects=current,
                before=before,
                after=[{"labels": m.labels} for m in current],
            )
            publish("mention.labelled", current, actor)
    return BulkResult(done=[m.pk for m in current], skipped=skipped)


# --- Spam ---------------------------------------------------------------------------------------------------


def mention_mark_spam(*, actor: Any, mention: Mention) -> Mention:
    """Spam: closed, labelled, out of the queues, and kept as a correction so the classifier learns to see
    it."""
    return single(mentions_mark_spam(actor=actor, mentions=[mention]), mention)


def mentions_mark_spam(*, actor: Any, mentions: Sequence[Mention]) -> BulkResult:
    rows, skipped = workable(actor, mentions)
    with transaction.atomic():
        current = locked_many(rows)
        if current:
            now = timezone.now()
            before = [{"status": m.status, "intent": m.intent} for m in current]
            corrections_learn(current, actor, Mention.SPAM_INTENT)
            classifier_learns_after_commit()
            for m in current:
                m.intent = Mention.SPAM_INTENT
                m.status = Mention.Status.CLOSED
                m.closed_at = now
                m.sla_warn_at = m.sla_due_at = None
                if Mention.SPAM_INTENT not in m.labels:
                    m.labels = [*m.labels, Mention.SPAM_INTENT]
                m.updated_at = now
            Mention.objects.bulk_update(
                current,
                ["intent", "status", "closed_at", "labels", "sla_warn_at", "sla_due_at", "updated_at"],
            )
            events_record_many(
                actor=actor,
                verb="mention.spam",
                objects=current,
                before=before,
                after=[{"status": m.status, "intent": m.intent} for m in current],
            )
            publish("mention.spam", current, actor)
    return BulkResult(done=[m.pk for m in current], skipped=skipped)


NOT_SPAM_INTENT = "other"  # what a post is when the agent says only that it is not spam
NOT_SPAM = "is not marked as spam"


def mention_mark_not_spam(*, actor: Any, mention: Mention, intent: str = "") -> Mention:
    """Not spam after all (routing or a person took it for spam): back in its team's queue with its SLA
    clock, and kept as a correction so the classifier learns what it is (``intent``, else "other")."""
    return single(mentions_mark_not_spam(actor=actor, mentions=[mention], intent=intent), mention)


def mentions_mark_not_spam(*, actor: Any, mentions: Sequence[Mention], intent: str = "") -> BulkResult:
    intent = _not_spam_intent(intent)
    rows, skipped = workable(actor, mentions)
    done = []
    with transaction.atomic():
        for current in locked_many(rows):
            if not current.is_spam:
                skipped[current.pk] = NOT_SPAM
                continue
            _not_spam(actor, current, intent)
            done.append(current.pk)
        if done:
            classifier_learns_after_commit()
    # Reasons in the order of the selection, as the other actions give them.
    return BulkResult(done=done, skipped={m.pk: skipped[m.pk] for m in mentions if m.pk in skipped})


def _not_spam_intent(intent: str) -> str:
    intent = intent or NOT_SPAM_INTENT
    if intent not in INTENTS or intent == Mention.SPAM_INTENT:
        raise TriageError(f"Say what it is instead of spam: {intent!r} is not an intent.")
    return intent


def _not_spam(actor: Any, current: Mention, intent: str) -> None:
    # Each row its own write: where it goes back to and its SLA clock differ per mention.
    before = {"status": current.status, "intent": current.intent}
    corrections_learn([current], actor, intent)
    current.intent = intent
    current.labels = [label for label in current.labels if label != Mention.SPAM_INTENT]
    if current.status == Mention.Status.CLOSED:  # closed as spam: open again, where it was
        current.status = Mention.Status.NEW if current.assignee_id is None else Mention.Status.OPEN
        current.closed_at = None
    current.decision = {
        **(current.decision or {}),
        "corrected_by": getattr(actor, "username", ""),
        "correction_reason": "not spam",
    }
    clock = sla_clock_restart(mention=current)
    current.updated_at = timezone.now()
    current.save(update_fields=["intent", "labels", "status", "closed_at", "decision", *clock, "updated_at"])
    event_record(
        actor=actor,
        verb="mention.not_spam",
        obj=current,
        before=before,
        after={"status": current.status, "intent": intent},
    )
    publish("mention.not_spam", [current], actor)


# --- Notes --------------------------------------------------------------------------------------------------


def note_add(*, actor: Any, mention: Mention, body: str) -> Note:
    body = (body or "").strip()
    if not body:
        raise TriageError("A note needs some text.")
    if len(body) > NOTE_MAX:
        raise TriageError(f"A note holds at most {NOTE_MAX} characters; this one has {len(body)}.")
    check_can_work(actor, mention)
    with transaction.atomic():
        note = Note.objects.create(mention=mention, author=actor, body=body)
        event_record(actor=actor, verb="mention.noted", obj=mention, after={"note": note.pk})
        publish("mention.noted", [mention], actor)
    return note


# --- Bulk ---------------------------------------------------------------------------------------------------

BULK_ACTIONS = (
    "assign",
    "unassign",
    "close",
    "reopen",
    "label",
    "priority",
    "snooze",
    "spam",
    "not_spam",
    "reroute",
    "accept_escalation",
    "bounce_escalation",
)


def mentions_bulk_apply(
    *,
    actor: Any,
    mentions: Sequence[Mention],
    action: str,
    assignee: Any | None = None,
    labels: Sequence[str] = (),
    priority: int | None = None,
    until: datetime | None = None,
    team: Team | None = None,
    segment: Segment | None = None,
    intent: str = "",
    reason: str = "",
) -> BulkResult:
    """Apply one action to a selection: the action's many form, so the same columns change and the same
    events are recorded as when each mention is done alone. Mentions the actor may not work on (or that the
    action does not fit) are skipped with a reason; the rest are done."""
    if action not in BULK_ACTIONS:
        raise TriageError(f"Unknown bulk action {action!r}; expected one of {', '.join(BULK_ACTIONS)}.")
    if len(mentions) > BULK_MAX:
        raise TriageError(f"Select at most {BULK_MAX} mentions at once; {len(mentions)} were selected.")
    if action == "assign":
        if assignee is None:
            raise TriageError("Choose who to assign the selection to.")
        return mentions_assign(actor=actor, mentions=mentions, assignee=assignee)
    if action == "unassign":
        return mentions_assign(actor=actor, mentions=mentions, assignee=None)
    if action == "close":
        return mentions_close(actor=actor, mentions=mentions)
    if action == "reopen":
        return mentions_reopen(actor=actor, mentions=mentions)
    if action == "label":
        if not labels_clean(labels):
            raise TriageError("Name a label to add.")
        return mentions_label(actor=actor, mentions=mentions, add=labels)
    if action == "priority":
        if priority not in Mention.Priority.values:
            raise TriageError("Choose low, normal, high or urgent.")
        return mentions_prioritize(actor=actor, mentions=mentions, priority=priority)
    if action == "snooze":
        return mentions_snooze(actor=actor, mentions=mentions, until=until)
    if action == "spam":
        return mentions_mark_spam(actor=actor, mentions=mentions)
    if action == "not_spam":
        return mentions_mark_not_spam(actor=actor, mentions=mentions, intent=intent)
    if action in {"accept_escalation", "bounce_escalation"}:
        return escalations_answer(
            actor=actor, mentions=mentions, accept=action == "accept_escalation", reason=reason
        )
    if team is None and segment is None and not intent:
        raise TriageError("Choose a team or an intent to re-route to.")
    if intent and intent not in INTENTS:
        raise TriageError(f"Unknown intent {intent!r}.")
    return mentions_reroute(
        actor=actor, mentions=mentions, team=team, segment=segment, intent=intent, reason=reason
    )


def assignable_users(*, team_id: int | None) -> list:
    """People a mention of the team can be assigned to."""
    if team_id is None:
        return []
    return list(
        get_user_model()
        .objects.filter(Q(memberships__team_id=team_id), is_active=True)
        .distinct()
        .order_by("username")
    )
