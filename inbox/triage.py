"""Triage: what agents do to mentions, from the browser, in bulk and through the API.

Each action is a service that takes the acting user, checks they may do it, changes the mention in one
transaction, writes an audit event and publishes a live event after commit. Callers get mentions through
``inbox.selectors`` (which hides what the user may not see); these services check that the user may *act*:
a member of the mention's team, or an admin.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import JSONField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from channels.connectors.text import reply_length, reply_limit, reply_prefix_length
from channels.models import Channel, Segment
from foundation.events import event_record, events_record_many
from foundation.live import event_publish
from inbox.models import Mention, Note, Reply
from inbox.presence import presence_typing_stop
from inbox.selectors import mention_is_workable_by
from inbox.sla import SLA_STOPPED, sla_clock_restart, sla_replied
from routing.facts import INTENTS, LabelRefused, label_normalized
from routing.models import Correction, Escalation
from routing.services import (
    RoutingActionError,
    mention_owner_decide,
    mention_reroute,
    mention_sentiment_correct,
)
from teams.models import Membership, Team
from teams.roles import user_is_admin, user_leads_team, user_name, user_team_ids

SNOOZE_MAX = timedelta(days=365)
NOTE_MAX = 5000
BULK_MAX = 1000  # a selection larger than this is a filter, not a selection


class TriageError(ValueError):
    """An action this user cannot do, or not in the mention's state; the message says why."""


class AssignmentConflict(TriageError):
    """Someone else assigned the mention first."""

    def __init__(self, message: str, *, assignee: str) -> None:
        super().__init__(message)
        self.assignee = assignee


class ReplyCollision(TriageError):
    """Someone else replied since the composer opened; sending needs the agent's confirmation."""


ANY_ASSIGNEE = object()  # expected_assignee_id meaning "nobody, or the one being assigned"


# --- Shared pieces ------------------------------------------------------------------------------------------


def _check_can_work(actor: Any, mention: Mention) -> None:
    if not mention_is_workable_by(user=actor, mention=mention):
        raise TriageError("Only members of the mention's team can do that; it belongs to another team now.")


def _publish(kind: str, mentions: Iterable[Mention], actor: Any, **extra: Any) -> None:
    mentions = list(mentions)
    payload = {
        "ids": [m.pk for m in mentions],
        "teams": sorted({m.team_id for m in mentions if m.team_id is not None}),
        "actor": getattr(actor, "username", ""),
        **extra,
    }
    transaction.on_commit(lambda: event_publish(kind, payload))


def _locked(mention: Mention) -> Mention:
    # No select_related: after waiting for the row lock PostgreSQL returns the mention's new version but
    # keeps the joined rows it read before waiting, so a joined assignee would be the old one (or none).
    return Mention.objects.select_for_update(of=("self",)).get(pk=mention.pk)


def _touch(mention: Mention, fields: list[str]) -> None:
    mention.updated_at = timezone.now()
    mention.save(update_fields=[*fields, "updated_at"])


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
    _check_can_work(actor, mention)
    if assignee is not None and not (
        user_is_admin(assignee) or Membership.objects.filter(user=assignee, team_id=mention.team_id).exists()
    ):
        raise TriageError(f"{user_name(assignee)} is not a member of team {mention.team}; re-route it first.")
    with transaction.atomic():
        current = _locked(mention)
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
        before = {"assignee": current.assignee_id, "status": current.status}
        current.assignee = assignee
        if current.status == Mention.Status.NEW and assignee is not None:
            current.status = Mention.Status.OPEN
        _touch(current, ["assignee", "status"])
        event_record(
            actor=actor,
            verb="mention.assigned" if assignee else "mention.unassigned",
            obj=current,
            before=before,
            after={"assignee": current.assignee_id, "status": current.status},
        )
        _publish("mention.assigned", [current], actor, assignee=user_name(assignee) if assignee else "")
    return current


def mention_reroute_by(
    *,
    actor: Any,
    mention: Mention,
    team: Team | None = None,
    segment: Segment | None = None,
    intent: str = "",
    reason: str = "",
) -> Mention:
    """Move a mention to another team (or the team of a segment) and/or correct its intent, with a reason.

    This is the correction the routing engine learns from. An assignee who is not in the new team is
    unassigned, and the mention waits in the new team's queue.
    """
    _check_can_work(actor, mention)
    if segment is not None and team is None:
        team = segment.team
    try:
        with transaction.atomic():
            moved = mention_reroute(mention=mention, user=actor, team=team, intent=intent, reason=reason)
            _release_outside_team(moved)
    except RoutingActionError as exc:
        raise TriageError(str(exc)) from exc
    return moved


def _release_outside_team(moved: Mention) -> None:
    # An assignee who is not in the mention's (new) team lets go of it: it waits in that team's queue.
    if (
        moved.assignee_id is not None
        and not Membership.objects.filter(user_id=moved.assignee_id, team_id=moved.team_id).exists()
    ):
        moved.assignee = None
        moved.status = Mention.Status.NEW
        _touch(moved, ["assignee", "status"])
    else:
        _touch(moved, [])


def mention_owner_decide_by(*, actor: Any, mention: Mention, team: Team | None = None) -> Mention:
    """A lead of the mention's team decides who owns a post routing was unsure of: keep it (``team`` None or
    its own team) or move it to ``team``. Routing learns from the decision."""
    try:
        with transaction.atomic():
            decided = mention_owner_decide(mention=mention, user=actor, team=team)
            _release_outside_team(decided)
    except RoutingActionError as exc:
        raise TriageError(str(exc)) from exc
    return decided


def mention_sentiment_correct_by(*, actor: Any, mention: Mention, label: str) -> Mention:
    """Correct a mention's sentiment label; the sentiment model learns from it (routing's training task)."""
    _check_can_work(actor, mention)
    try:
        with transaction.atomic():
            corrected = mention_sentiment_correct(mention=mention, user=actor, label=label)
            _touch(corrected, [])
            _publish("mention.sentiment_corrected", [corrected], actor, sentiment=label)
    except RoutingActionError as exc:
        raise TriageError(str(exc)) from exc
    return corrected


def escalation_of(mention: Mention) -> Escalation | None:
    """The mention's open escalation, if any."""
    return (
        Escalation.objects.filter(
            mention=mention, state__in=(Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD)
        )
        .select_related("from_team", "to_team")
        .first()
    )


# --- State --------------------------------------------------------------------------------------------------


def _set_status(actor: Any, mention: Mention, status: str, verb: str, **changes: Any) -> Mention:
    _check_can_work(actor, mention)
    with transaction.atomic():
        current = _locked(mention)
        before = {"status": current.status}
        current.status = status
        for name, value in changes.items():
            setattr(current, name, value)
        _touch(current, ["status", *changes])
        after = {
            "status": status,
            **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in changes.items()},
        }
        event_record(actor=actor, verb=verb, obj=current, before=before, after=after)
        _publish(verb, [current], actor)
    return current


def mention_close(*, actor: Any, mention: Mention) -> Mention:
    return _set_status(
        actor,
        mention,
        Mention.Status.CLOSED,
        "mention.closed",
        closed_at=timezone.now(),
        snoozed_until=None,
        **SLA_STOPPED,
    )


def mention_reopen(*, actor: Any, mention: Mention) -> Mention:
    """Open again; it stays with its last assignee when they are available, else goes back to the queue."""
    from teams.assignment import mention_back_to_last_assignee

    with transaction.atomic():
        mention = _set_status(
            actor, mention, Mention.Status.OPEN, "mention.reopened", closed_at=None, snoozed_until=None
        )
        mention_back_to_last_assignee(mention=mention)
    return Mention.objects.select_related("assignee").get(pk=mention.pk)


def _snooze_until(until: datetime, now: datetime) -> datetime:
    if timezone.is_naive(until):
        until = timezone.make_aware(until)
    if until <= now:
        raise TriageError("Choose a time in the future to snooze until.")
    if until - now > SNOOZE_MAX:
        raise TriageError("A mention can be snoozed for a year at most.")
    return until


def mention_snooze(*, actor: Any, mention: Mention, until: datetime) -> Mention:
    """Hide the mention from the queues until ``until``; it comes back open then."""
    until = _snooze_until(until, timezone.now())
    return _set_status(actor, mention, Mention.Status.SNOOZED, "mention.snoozed", snoozed_until=until)


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
        _publish("mention.woke", due, None)
    return [m.pk for m in due]


def mention_prioritize(*, actor: Any, mention: Mention, priority: int) -> Mention:
    if priority not in Mention.Priority.values:
        raise TriageError(f"Unknown priority {priority!r}; choose low, normal, high or urgent.")
    _check_can_work(actor, mention)
    with transaction.atomic():
        current = _locked(mention)
        before = {"priority": current.priority}
        current.priority = priority
        _touch(current, ["priority"])
        event_record(
            actor=actor, verb="mention.prioritized", obj=current, before=before, after={"priority": priority}
        )
        _publish("mention.prioritized", [current], actor)
    return current


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
    add, remove = labels_clean(add), labels_clean(remove)
    if not add and not remove:
        raise TriageError("Name a label to add or remove.")
    _check_can_work(actor, mention)
    with transaction.atomic():
        current = _locked(mention)
        before = {"labels": list(current.labels)}
        # Compared as stored today: a label written in capitals before labels were checked can still go.
        labels = [label for label in current.labels if label.strip().lower() not in remove]
        labels += [label for label in add if label not in labels]
        current.labels = labels
        _touch(current, ["labels"])
        event_record(
            actor=actor, verb="mention.labelled", obj=current, before=before, after={"labels": labels}
        )
        _publish("mention.labelled", [current], actor)
    return current


def _corrections_learn(mentions: Sequence[Mention], actor: Any, intent: str) -> None:
    """An agent said what posts are: kept as corrections (the team stays). Reads each mention's intent before
    it changes. The caller has the classifier learn from them (``_classifier_learns_after_commit``)."""
    Correction.objects.bulk_create(
        [
            Correction(
                mention_id=m.pk,
                user=actor,
                text=m.text,
                intent_before=m.intent,
                intent_after=intent,
                team_before_id=m.team_id,
                team_after_id=m.team_id,
            )
            for m in mentions
        ]
    )


def _classifier_learns_after_commit() -> None:
    from routing.tasks import classifier_train_task

    transaction.on_commit(classifier_train_task.delay)


def mention_mark_spam(*, actor: Any, mention: Mention) -> Mention:
    """Spam: closed, labelled, out of the queues, and kept as a correction so the classifier learns to see
    it."""
    _check_can_work(actor, mention)
    with transaction.atomic():
        current = _locked(mention)
        before = {"status": current.status, "intent": current.intent}
        _corrections_learn([current], actor, Mention.SPAM_INTENT)
        _classifier_learns_after_commit()
        current.intent = Mention.SPAM_INTENT
        current.status = Mention.Status.CLOSED
        current.closed_at = timezone.now()
        current.sla_warn_at = current.sla_due_at = None
        if Mention.SPAM_INTENT not in current.labels:
            current.labels = [*current.labels, Mention.SPAM_INTENT]
        _touch(current, ["intent", "status", "closed_at", "labels", "sla_warn_at", "sla_due_at"])
        event_record(
            actor=actor,
            verb="mention.spam",
            obj=current,
            before=before,
            after={"status": current.status, "intent": current.intent},
        )
        _publish("mention.spam", [current], actor)
    return current


NOT_SPAM_INTENT = "other"  # what a post is when the agent says only that it is not spam


def mention_mark_not_spam(*, actor: Any, mention: Mention, intent: str = "") -> Mention:
    """Not spam after all (routing or a person took it for spam): back in its team's queue with its SLA
    clock, and kept as a correction so the classifier learns what it is (``intent``, else "other")."""
    intent = _not_spam_intent(intent)
    _check_can_work(actor, mention)
    with transaction.atomic():
        current = _not_spam(actor, mention, intent)
        _classifier_learns_after_commit()
    return current


def _not_spam_intent(intent: str) -> str:
    intent = intent or NOT_SPAM_INTENT
    if intent not in INTENTS or intent == Mention.SPAM_INTENT:
        raise TriageError(f"Say what it is instead of spam: {intent!r} is not an intent.")
    return intent


def _not_spam(actor: Any, mention: Mention, intent: str) -> Mention:
    # In the caller's transaction; refuses (before writing anything) a mention that is not spam.
    current = _locked(mention)
    if not current.is_spam:
        raise TriageError("This mention is not marked as spam.")
    before = {"status": current.status, "intent": current.intent}
    _corrections_learn([current], actor, intent)
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
    _touch(current, ["intent", "labels", "status", "closed_at", "decision", *clock])
    event_record(
        actor=actor,
        verb="mention.not_spam",
        obj=current,
        before=before,
        after={"status": current.status, "intent": intent},
    )
    _publish("mention.not_spam", [current], actor)
    return current


def note_add(*, actor: Any, mention: Mention, body: str) -> Note:
    body = (body or "").strip()
    if not body:
        raise TriageError("A note needs some text.")
    if len(body) > NOTE_MAX:
        raise TriageError(f"A note holds at most {NOTE_MAX} characters; this one has {len(body)}.")
    _check_can_work(actor, mention)
    with transaction.atomic():
        note = Note.objects.create(mention=mention, author=actor, body=body)
        event_record(actor=actor, verb="mention.noted", obj=mention, after={"note": note.pk})
        _publish("mention.noted", [mention], actor)
    return note


# --- Escalations --------------------------------------------------------------------------------------------


def escalation_accept_by(*, actor: Any, escalation: Escalation) -> Escalation:
    from routing.services import escalation_accept

    try:
        return escalation_accept(escalation=escalation, user=actor)
    except RoutingActionError as exc:
        raise TriageError(str(exc)) from exc


def escalation_bounce_by(*, actor: Any, escalation: Escalation, reason: str) -> Escalation:
    from routing.services import escalation_bounce

    try:
        return escalation_bounce(escalation=escalation, user=actor, reason=reason)
    except RoutingActionError as exc:
        raise TriageError(str(exc)) from exc


# --- Replies ------------------------------------------------------------------------------------------------


def reply_create(
    *,
    actor: Any,
    mention: Mention,
    text: str,
    is_direct: bool = False,
    seen_reply_id: int = 0,
    confirm: bool = False,
) -> Reply:
    """Queue a reply for sending through the channel the post arrived on (or hold it for a lead's approval
    when a rule asked for one).

    ``seen_reply_id`` is the newest reply the agent's composer showed; a reply someone else sent since then
    raises ``ReplyCollision`` unless the agent ``confirm``s.
    """
    text = (text or "").strip()
    if not text:
        raise TriageError("Write a reply before sending.")
    _check_can_work(actor, mention)
    channel = reply_channel(mention)
    limit = reply_limit(channel.network, is_direct=is_direct)
    length = reply_length(channel.network, text)
    if not is_direct:
        # What the connector puts in front of a public reply (Mastodon's "@author") counts too.
        length += reply_prefix_length(
            channel.network, text, author_handle=mention.author.handle, credentials=channel.credentials
        )
    if length > limit:
        raise TriageError(
            f"The reply is {length} characters as {channel.get_network_display()} counts them; "
            f"the limit is {limit}."
        )
    with transaction.atomic():
        current = _locked(mention)
        if not confirm:
            newer = (
                Reply.objects.filter(mention=current, pk__gt=seen_reply_id or 0)
                .exclude(author=actor)
                .exclude(state=Reply.State.REJECTED)
                .select_related("author")
                .order_by("-pk")
                .first()
            )
            if newer is not None:
                raise ReplyCollision(
                    f"{user_name(newer.author)} already replied {_ago(newer.created_at)}: "
                    f"“{newer.text[:80]}” — send yours as well?"
                )
        # The leads who would approve it (and admins) approve their own replies by sending them.
        self_approved = current.requires_approval and user_leads_team(actor, current.team_id)
        held = current.requires_approval and not self_approved
        state = Reply.State.AWAITING_APPROVAL if held else Reply.State.QUEUED
        reply = Reply.objects.create(
            mention=current,
            channel=channel,
            author=actor,
            text=text,
            is_direct=is_direct,
            state=state,
            reviewed_by=actor if self_approved else None,
        )
        sla_replied(mention=current)
        changed = []
        if current.assignee_id is None:
            current.assignee = actor
            changed.append("assignee")
        if current.status == Mention.Status.NEW:
            current.status = Mention.Status.OPEN
            changed.append("status")
        _touch(current, changed)
        event_record(
            actor=actor,
            verb="reply.awaiting_approval" if state == Reply.State.AWAITING_APPROVAL else "reply.queued",
            obj=current,
            after={"reply": reply.pk, "direct": is_direct},
        )
        _publish("reply.created", [current], actor, reply=reply.pk, state=state)
        transaction.on_commit(lambda: presence_typing_stop(mention=current, user=actor))
        if state == Reply.State.QUEUED:
            _send_after_commit(reply)
    return reply


def reply_channel(mention: Mention) -> Channel:
    """The account a reply goes out from: among those that received the post, one of the mention's team
    that can send (not waiting for re-authorisation; a paused account stops pulling, not replying), else any
    that can send."""
    channels = list(mention.channels.select_related("segment").order_by("id"))
    if not channels:
        raise TriageError("This mention arrived on no channel of ours, so there is nowhere to reply from.")
    usable = [c for c in channels if c.state != Channel.State.NEEDS_REAUTH]
    if not usable:
        names = ", ".join(c.handle for c in channels)
        raise TriageError(
            f"{names} needs re-authorising before replies can be sent: ask an admin to reconnect it "
            "under Channels."
        )
    own = [c for c in usable if c.owning_team_id == mention.team_id]
    return (own or usable)[0]


def _ago(when: datetime) -> str:
    seconds = max(0, int((timezone.now() - when).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _send_after_commit(reply: Reply) -> None:
    from inbox.tasks import reply_send_task

    transaction.on_commit(lambda: reply_send_task.delay(reply.pk))


def _check_can_approve(actor: Any, reply: Reply) -> None:
    if not user_leads_team(actor, reply.mention.team_id):
        raise TriageError("Only a lead of the mention's team (or an admin) can approve or reject replies.")


def reply_approve(*, actor: Any, reply: Reply) -> Reply:
    _check_can_approve(actor, reply)
    with transaction.atomic():
        reply = Reply.objects.select_for_update().select_related("mention").get(pk=reply.pk)
        if reply.state != Reply.State.AWAITING_APPROVAL:
            raise TriageError(f"This reply is {reply.get_state_display().lower()}, not awaiting approval.")
        reply.state = Reply.State.QUEUED
        reply.reviewed_by = actor
        reply.save(update_fields=["state", "reviewed_by"])
        event_record(actor=actor, verb="reply.approved", obj=reply.mention, after={"reply": reply.pk})
        _publish("reply.approved", [reply.mention], actor, reply=reply.pk)
        _send_after_commit(reply)
    return reply


def reply_reject(*, actor: Any, reply: Reply, note: str = "") -> Reply:
    _check_can_approve(actor, reply)
    with transaction.atomic():
        reply = Reply.objects.select_for_update().select_related("mention").get(pk=reply.pk)
        if reply.state != Reply.State.AWAITING_APPROVAL:
            raise TriageError(f"This reply is {reply.get_state_display().lower()}, not awaiting approval.")
        reply.state = Reply.State.REJECTED
        reply.reviewed_by = actor
        reply.review_note = (note or "").strip()[:2000]
        reply.save(update_fields=["state", "reviewed_by", "review_note"])
        event_record(
            actor=actor,
            verb="reply.rejected",
            obj=reply.mention,
            after={"reply": reply.pk, "note": reply.review_note},
        )
        _publish("reply.rejected", [reply.mention], actor, reply=reply.pk)
    return reply


def reply_retry(*, actor: Any, reply: Reply) -> Reply:
    """Send a failed reply again."""
    _check_can_work(actor, reply.mention)
    with transaction.atomic():
        reply = Reply.objects.select_for_update().select_related("mention").get(pk=reply.pk)
        if reply.state != Reply.State.FAILED:
            raise TriageError(
                f"Only a failed reply can be retried; this one is {reply.get_state_display().lower()}."
            )
        reply.state = Reply.State.QUEUED
        reply.error = ""
        reply.save(update_fields=["state", "error"])
        event_record(actor=actor, verb="reply.retried", obj=reply.mention, after={"reply": reply.pk})
        _publish("reply.retried", [reply.mention], actor, reply=reply.pk)
        _send_after_commit(reply)
    return reply


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
)
BULK_VERBS = {
    "assign": "mention.assigned",
    "unassign": "mention.unassigned",
    "close": "mention.closed",
    "reopen": "mention.reopened",
    "label": "mention.labelled",
    "priority": "mention.prioritized",
    "snooze": "mention.snoozed",
    "spam": "mention.spam",
}


@dataclass(frozen=True)
class BulkResult:
    done: list[int]
    skipped: dict[int, str] = field(default_factory=dict)


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
    intent: str = "",
    reason: str = "",
) -> BulkResult:
    """Apply one action to a selection in a few set-based statements. Mentions the actor may not work on (or
    that the action does not fit) are skipped with a reason; the rest are done."""
    if action not in BULK_ACTIONS:
        raise TriageError(f"Unknown bulk action {action!r}; expected one of {', '.join(BULK_ACTIONS)}.")
    if len(mentions) > BULK_MAX:
        raise TriageError(f"Select at most {BULK_MAX} mentions at once; {len(mentions)} were selected.")
    now = timezone.now()
    admin = user_is_admin(actor)
    teams = set() if admin else set(user_team_ids(actor))
    skipped: dict[int, str] = {}
    workable = []
    for m in mentions:
        if admin or m.team_id in teams:
            workable.append(m)
        else:
            skipped[m.pk] = "belongs to another team"
    if action == "reroute":
        if team is None and not intent:
            raise TriageError("Choose a team or an intent to re-route to.")
        if intent and intent not in INTENTS:
            raise TriageError(f"Unknown intent {intent!r}.")
        done = []
        for m in workable:
            mention_reroute_by(actor=actor, mention=m, team=team, intent=intent, reason=reason)
            done.append(m.pk)
        return BulkResult(done=done, skipped=skipped)

    if action == "not_spam":
        intent = _not_spam_intent(intent)
        done = []
        with transaction.atomic():
            for m in workable:
                try:
                    _not_spam(actor, m, intent)
                except TriageError as exc:
                    skipped[m.pk] = str(exc).removeprefix("This mention ").rstrip(".")
                    continue
                done.append(m.pk)
            if done:
                _classifier_learns_after_commit()
        return BulkResult(done=done, skipped=skipped)

    update: dict[str, Any] = {"updated_at": now}
    verb = BULK_VERBS[action]  # the single actions' verbs: the audit log filters one way for both
    if action == "assign":
        if assignee is None:
            raise TriageError("Choose who to assign the selection to.")
        member_of = set(Membership.objects.filter(user=assignee).values_list("team_id", flat=True))
        assignee_admin = user_is_admin(assignee)
        kept = []
        for m in workable:
            if assignee_admin or m.team_id in member_of:
                kept.append(m)
            else:
                skipped[m.pk] = f"{user_name(assignee)} is not in its team"
        workable = kept
        update["assignee_id"] = assignee.pk
    elif action == "unassign":
        update["assignee_id"] = None
    elif action == "close":
        update.update(status=Mention.Status.CLOSED, closed_at=now, snoozed_until=None, **SLA_STOPPED)
    elif action == "reopen":
        update.update(status=Mention.Status.OPEN, closed_at=None, snoozed_until=None)
    elif action == "priority":
        if priority not in Mention.Priority.values:
            raise TriageError("Choose low, normal, high or urgent.")
        update["priority"] = priority
    elif action == "snooze":
        if until is None:
            raise TriageError("Choose a time to snooze until.")
        update.update(status=Mention.Status.SNOOZED, snoozed_until=_snooze_until(until, now))
    elif action == "spam":
        update.update(status=Mention.Status.CLOSED, closed_at=now, intent=Mention.SPAM_INTENT, **SLA_STOPPED)
    elif action == "label":
        labels = labels_clean(labels)
        if not labels:
            raise TriageError("Name a label to add.")

    ids = [m.pk for m in workable]
    with transaction.atomic():
        locked = list(
            Mention.objects.select_for_update(of=("self",))
            .filter(pk__in=ids)
            .order_by("pk")
            .only(
                "id",
                "network",
                "external_id",
                "status",
                "assignee_id",
                "priority",
                "labels",
                "intent",
                "team_id",
                "text",
            )
        )
        before = [{"status": m.status, "assignee": m.assignee_id, "priority": m.priority} for m in locked]
        if action == "label":
            mentions_labels_append(locked, labels, now)
            after = [{"labels_added": labels, "bulk": True}] * len(locked)
        else:
            Mention.objects.filter(pk__in=ids).update(**update)
            if action == "spam":
                mentions_labels_append(locked, [Mention.SPAM_INTENT], now)
            if action == "assign":
                Mention.objects.filter(pk__in=ids, status=Mention.Status.NEW).update(
                    status=Mention.Status.OPEN
                )
            after = [{**{k: _plain(v) for k, v in update.items() if k != "updated_at"}, "bulk": True}] * len(
                locked
            )
        if action == "spam":
            _corrections_learn(locked, actor, Mention.SPAM_INTENT)
            _classifier_learns_after_commit()
        events_record_many(actor=actor, verb=verb, objects=locked, before=before, after=after)
        if locked:  # everything skipped: nothing changed, nothing to tell the browsers
            _publish(verb, locked, actor, bulk=True)
    return BulkResult(done=[m.pk for m in locked], skipped=skipped)


def mentions_labels_append(mentions: Sequence[Mention], labels: Sequence[str], now: datetime) -> None:
    """Add labels to mentions that lack them. Labels differ per mention: PostgreSQL appends in one UPDATE
    per label; SQLite (the embedded default, small inboxes) writes the merged lists back in one statement."""
    ids = [m.pk for m in mentions]
    if _postgres():
        for label in labels:
            Mention.objects.filter(pk__in=ids).exclude(labels__contains=[label]).update(
                labels=RawSQL("labels || %s::jsonb", (json.dumps([label]),), output_field=JSONField()),
                updated_at=now,
            )
        return
    for m in mentions:
        m.labels = [*m.labels, *(label for label in labels if label not in m.labels)]
        m.updated_at = now
    Mention.objects.bulk_update(mentions, ["labels", "updated_at"])


def _postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


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
