"""Replies: writing one (held for a lead's approval when a rule asked), approving, rejecting, retrying, and
sending it.

A queued reply is an outbox row: ``next_attempt_at`` says when it is due, and whoever finds it due sends it.
``reply_create`` (or ``reply_approve``, ``reply_retry``) queues ``inbox.tasks.reply_send_task`` once the row
is committed; when the broker cannot take the task the reply says so and stays due, and the sweeper
(``inbox.tasks.replies_send_due``, run by beat) queues it again once the broker is back. A deferred reply
(an outage, a rate limit) gets its next time on the row, not in a broker message, so a Redis restart loses
no retry.

:func:`reply_deliver` claims a due reply in one short transaction (committing that an attempt began), talks
to the network outside any transaction, and records the outcome in another. An attempt whose outcome is
unknown (a timeout, a worker that stopped mid-call) leaves ``outcome_unknown`` (or ``attempt_started_at``)
on the row, and the next attempt first looks on the network for our reply through the connector
(``FindsSent``) and marks it sent when it is there, instead of posting it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from channels.connectors.base import (
    AuthExpired,
    Connector,
    ConnectorError,
    ConnectorUnavailable,
    FindsSent,
    RateLimited,
    SentReply,
)
from channels.connectors.registry import capabilities_for, connector_for
from channels.connectors.text import reply_length, reply_limit, reply_prefix_length
from channels.models import Channel
from channels.services import channel_credentials_store_refreshed, channel_ref
from foundation.access import may_lead
from foundation.events import event_record
from foundation.live import event_publish
from inbox import canned
from inbox.actions.base import BulkResult, TriageError, check_can_work, locked, publish, touch, workable
from inbox.actions.sla import sla_replied
from inbox.models import Mention, MentionChannel, Reply
from inbox.outbox import (
    QUEUE_UNREACHABLE,
    REPLY_HANDOFF_SECONDS,
    REPLY_LOOK_BACK_SECONDS,
    REPLY_MAX_ATTEMPTS,
    REPLY_SEND_LEASE_SECONDS,
    REPLY_SWEEP_BATCH,
    reply_in_flight,
    reply_retry_countdown,
)
from inbox.presence import presence_typing_stop
from teams.roles import actor_of, user_name

logger = logging.getLogger(__name__)


class ReplyCollision(TriageError):
    """Someone else replied since the composer opened; sending needs the agent's confirmation."""


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
    check_can_work(actor, mention)
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
        current = locked(mention)
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
        self_approved = current.requires_approval and may_lead(actor_of(actor), team_id=current.team_id)
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
        touch(current, changed)
        event_record(
            actor=actor,
            verb="reply.awaiting_approval" if state == Reply.State.AWAITING_APPROVAL else "reply.queued",
            obj=current,
            after={"reply": reply.pk, "direct": is_direct},
        )
        publish("reply.created", [current], actor, reply=reply.pk, state=state)
        transaction.on_commit(lambda: presence_typing_stop(mention=current, user=actor))
        if state == Reply.State.QUEUED:
            _send_after_commit(reply)
    return reply


def canned_fill_for(body: str, *, mention: Mention, actor: Any) -> str:
    """A canned response's placeholders filled for one mention, as the composer fills them in the browser:
    {author} (the @handle), {author_name}, {agent} (the actor's name) and {channel} (the receiving account).
    An unknown placeholder is left as written."""
    receipt = MentionChannel.objects.filter(mention=mention).select_related("channel").order_by("id").first()
    values = {
        "author": f"@{mention.author.handle}",
        "author_name": mention.author.display_name or mention.author.handle,
        "agent": user_name(actor),
        "channel": receipt.channel.handle if receipt else "",
    }
    return canned.canned_fill(body, values)


def mentions_reply(*, actor: Any, mentions: Sequence[Mention], text: str) -> BulkResult:
    """The same reply (a holding statement) to each mention, placeholders filled for each: ``reply_create``
    once per mention, so each is checked, held for approval or queued, and recorded as a single reply is.
    Skipped: mentions of teams the actor may not work on, mentions someone already replied to, and those the
    network refuses the text for (too long)."""
    if not (text or "").strip():
        raise TriageError("Choose or write the reply to send.")
    kept, skipped = workable(actor, mentions)
    replied = set(
        Reply.objects.filter(mention__in=kept)
        .exclude(state=Reply.State.REJECTED)
        .values_list("mention_id", flat=True)
    )
    done = []
    for mention in kept:
        if mention.pk in replied:
            skipped[mention.pk] = "already has a reply"
            continue
        try:
            reply_create(
                actor=actor, mention=mention, text=canned_fill_for(text, mention=mention, actor=actor)
            )
        except TriageError as exc:
            skipped[mention.pk] = f"could not be replied to: {exc}"
        else:
            done.append(mention.pk)
    return BulkResult(done=done, skipped=skipped)


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
    """Make the reply due now and queue its send task once the transaction commits."""
    now = timezone.now()
    reply.next_attempt_at = now
    reply.handed_off_at = now
    reply.save(update_fields=["next_attempt_at", "handed_off_at"])
    reply_id = reply.pk
    transaction.on_commit(lambda: replies_hand_off(reply_ids=[reply_id]))


def replies_hand_off(*, reply_ids: list[int]) -> list[int]:
    """Queue a send task for each reply; return the ids whose task the broker took.

    Called after the commit that made them due. A broker that cannot take a task (Redis down) costs the
    reply its speed, never the reply or the agent's request: the reply keeps its row, says why it waits,
    and the sweeper hands it off again as soon as it can run.
    """
    from inbox.tasks import reply_send_task  # the tasks module imports this one

    queued: list[int] = []
    refused: list[int] = []
    for reply_id in reply_ids:
        try:
            # No publish retries: the request of the agent who wrote the reply is waiting on this.
            reply_send_task.apply_async((reply_id,), retry=False)
        except Exception:  # whatever the broker raised, the row is the reply's safe place
            logger.warning("could not queue the send task of reply %s", reply_id, exc_info=True)
            refused.append(reply_id)
        else:
            queued.append(reply_id)
    if refused:
        Reply.objects.filter(
            pk__in=refused, state=Reply.State.QUEUED, attempt_started_at__isnull=True
        ).update(handed_off_at=None, error=QUEUE_UNREACHABLE)
    if queued:  # the queue is back: the reply no longer waits for it
        Reply.objects.filter(pk__in=queued, error=QUEUE_UNREACHABLE).update(error="")
    return queued


def replies_send_due(*, now: datetime | None = None, limit: int = REPLY_SWEEP_BATCH) -> list[int]:
    """The sweeper: hand every queued reply that is due, and whose last hand-off is not still pending, to
    a send task. Returns the ids handed off.

    Due covers a reply whose deferral ended, one whose broker message was lost (a Redis restart), one
    written while the broker was down, and one whose worker died mid-attempt (its lease ended). Running it
    twice hands nothing off twice within ``REPLY_HANDOFF_SECONDS``, and a task handed off twice sends once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Reply.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=Reply.State.QUEUED, next_attempt_at__lte=now)
            .exclude(handed_off_at__gt=now - timedelta(seconds=REPLY_HANDOFF_SECONDS))
            .order_by("next_attempt_at", "id")
            .values_list("pk", "mention_id", "mention__team_id")[:limit]
        )
        Reply.objects.filter(pk__in=[pk for pk, _, _ in due]).update(handed_off_at=now)
    if not due:
        return []
    handed = replies_hand_off(reply_ids=[pk for pk, _, _ in due])
    # Open panes show the reply's new state (on its way again, or why it still waits) without a reload.
    event_publish(
        "reply.waiting",
        {
            "ids": sorted({mention_id for _, mention_id, _ in due}),
            "teams": sorted({team_id for _, _, team_id in due if team_id is not None}),
        },
    )
    return handed


def _check_can_approve(actor: Any, reply: Reply) -> None:
    if not may_lead(actor_of(actor), team_id=reply.mention.team_id):
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
        publish("reply.approved", [reply.mention], actor, reply=reply.pk)
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
        publish("reply.rejected", [reply.mention], actor, reply=reply.pk)
    return reply


def reply_retry(*, actor: Any, reply: Reply) -> Reply:
    """Send a failed reply again, or a queued one now instead of when it is due.

    A reply whose earlier attempt may have been published is still looked for on the network first.
    """
    check_can_work(actor, reply.mention)
    with transaction.atomic():
        reply = Reply.objects.select_for_update().select_related("mention").get(pk=reply.pk)
        if reply.state not in (Reply.State.FAILED, Reply.State.QUEUED):
            raise TriageError(
                "Only a failed or waiting reply can be retried; "
                f"this one is {reply.get_state_display().lower()}."
            )
        if reply_in_flight(reply, timezone.now()):
            raise TriageError("This reply is being sent right now; wait a moment for the outcome.")
        reply.state = Reply.State.QUEUED
        reply.error = ""
        reply.attempts_at_retry = reply.attempts
        reply.save(update_fields=["state", "error", "attempts_at_retry"])
        event_record(actor=actor, verb="reply.retried", obj=reply.mention, after={"reply": reply.pk})
        publish("reply.retried", [reply.mention], actor, reply=reply.pk)
        _send_after_commit(reply)
    return reply


@dataclass(frozen=True)
class _Claim:
    """One attempt at a reply, as claimed: what it sends, and whether it must look for an earlier one."""

    reply_id: int
    started_at: datetime
    must_look: bool


def reply_deliver(*, reply_id: int, connector: Connector | None = None) -> Reply:
    """Send a due reply through its channel's connector and record the outcome.

    Only a reply still queued and due is sent. The attempt is claimed and committed first (the count, the
    start, and a lease moving the reply's due time past the attempt), so a second delivery of the same task
    finds it not due and leaves it, and a worker that dies mid-call leaves a trace the next attempt sees.
    When an earlier attempt's outcome is unknown, the network is asked for our reply before posting, and a
    reply found there is marked sent without posting again.

    An outage or a rate limit leaves the reply queued with its next due time and a reason, until the
    ``REPLY_MAX_ATTEMPTS``th attempt fails it. A revoked token fails the reply and marks the channel as
    needing re-authorisation; any other refusal fails it with the network's reason. ``connector`` stands in
    for the registry's, as in ``channel_pull`` (tests with a fixed clock).
    """
    with transaction.atomic():
        reply = (
            Reply.objects.select_for_update(of=("self",))
            .select_related("mention__author", "channel__segment")
            .get(pk=reply_id)
        )
        now = timezone.now()
        if reply.state != Reply.State.QUEUED or (
            reply.next_attempt_at is not None and reply.next_attempt_at > now
        ):
            return reply  # settled, or not due: a duplicate task, or an attempt in flight
        channel = reply.channel
        claim = _Claim(
            reply_id=reply.pk,
            started_at=now,
            must_look=reply.outcome_unknown or reply.attempt_started_at is not None,
        )
        reply.attempts += 1
        if channel.needs_reauth:
            # The network would only refuse the token again; fail without calling it.
            _fail(reply, _reauth_message(channel))
            return reply
        reply.attempt_started_at = now
        reply.next_attempt_at = now + timedelta(seconds=REPLY_SEND_LEASE_SECONDS)
        reply.outcome_unknown = claim.must_look
        reply.save(update_fields=["attempts", "attempt_started_at", "next_attempt_at", "outcome_unknown"])

    sender = connector or connector_for(channel.network)
    try:
        outcome = _attempt(sender, channel, reply, claim)
    finally:
        # X has already spent the old refresh token, whatever became of the call: keep the new one.
        channel_credentials_store_refreshed(channel=channel, connector=sender, ref=channel_ref(channel))
    return _record(claim, outcome)


@dataclass(frozen=True)
class _Outcome:
    """What one attempt learned: sent (``sent``, and whether it was ``found`` from an earlier attempt), or
    the error that stopped it and whether the network may have published the reply anyway."""

    sent: SentReply | None = None
    found: bool = False
    error: ConnectorError | None = None
    unknown: bool = False
    while_looking: bool = False


def _attempt(sender: Connector, channel: Channel, reply: Reply, claim: _Claim) -> _Outcome:
    # A network that cannot be asked (no FindsSent) gets the reply again, as before: its only guard is its
    # own (Bluesky's none, the simulated network's ids).
    finder = sender if isinstance(sender, FindsSent) and sender.capabilities.finds_sent else None
    if claim.must_look and finder is not None:
        try:
            found = _find(finder, channel, reply)
        except ConnectorError as exc:
            return _Outcome(error=exc, unknown=True, while_looking=True)
        if found is not None:
            return _Outcome(sent=found, found=True)
    try:
        return _Outcome(sent=_send(sender, channel, reply))
    except RateLimited as exc:
        return _Outcome(error=exc, unknown=claim.must_look and finder is None)
    except ConnectorUnavailable as exc:
        # A timeout or a dropped connection may come after the network published the reply.
        return _Outcome(error=exc, unknown=True)
    except ConnectorError as exc:
        return _Outcome(error=exc, unknown=claim.must_look and finder is None)


def _find(finder: FindsSent, channel: Channel, reply: Reply) -> SentReply | None:
    mention = reply.mention
    ref = channel_ref(channel)
    since = reply.created_at - timedelta(seconds=REPLY_LOOK_BACK_SECONDS)
    target = _target(channel, reply)
    if target is None:
        return finder.find_direct_message(
            ref, recipient_id=mention.author.external_id, text=reply.text, since=since
        )
    return finder.find_reply(
        ref, in_reply_to=target, conversation=mention.conversation_key, text=reply.text, since=since
    )


def _record(claim: _Claim, outcome: _Outcome) -> Reply:
    """Write what the attempt learned, unless the reply moved on without it (its lease ended and a later
    attempt took it): a later attempt owns the reply then, and looks for this one's post before its own."""
    with transaction.atomic():
        reply = (
            Reply.objects.select_for_update(of=("self",))
            .select_related("mention__author", "channel__segment")
            .get(pk=claim.reply_id)
        )
        if reply.state != Reply.State.QUEUED:
            return reply
        ours = reply.attempt_started_at == claim.started_at
        if outcome.sent is not None:
            _succeed(reply, outcome.sent, found=outcome.found)
            return reply
        if not ours:
            return reply
        reply.attempt_started_at = None
        reply.outcome_unknown = outcome.unknown
        exc = outcome.error
        channel = reply.channel
        assert exc is not None
        if isinstance(exc, RateLimited):
            _defer_or_fail(reply, exc, countdown=exc.retry_after)
        elif isinstance(exc, ConnectorUnavailable):
            _defer_or_fail(reply, exc, countdown=None)
        elif isinstance(exc, AuthExpired):
            logger.warning("channel %s needs re-authorisation: %s", channel.slug, exc)
            Channel.objects.filter(pk=channel.pk).update(state=Channel.State.NEEDS_REAUTH)
            event_record(
                actor=None,
                verb="channel.needs_reauth",
                obj=channel,
                before={"state": channel.state},
                after={"state": Channel.State.NEEDS_REAUTH, "reason": f"sending a reply: {exc}"[:500]},
            )
            _fail(reply, _reauth_message(channel), detail=str(exc))
        elif outcome.while_looking:
            # We could not tell whether the earlier attempt went out; the agent can, by looking.
            reply.outcome_unknown = False
            _fail(
                reply,
                f"An earlier try may have been posted, and {channel.get_network_display()} would not say "
                f"({str(exc).rstrip('.')}). Look at the conversation on {channel.get_network_display()}: "
                "if the reply is not there, press Retry to send it.",
                detail=str(exc),
            )
        else:
            _fail(
                reply,
                f"{channel.get_network_display()} refused the reply: {str(exc).rstrip('.')}. "
                "Sending it again will not help until that is fixed: check that the post still exists "
                "and the text is allowed, then press Retry, or write a new reply.",
                detail=str(exc),
            )
    return reply


def _target(channel: Channel, reply: Reply) -> str | None:
    """The post a public reply answers (the external id this channel received it under), or None when the
    reply goes as a direct message."""
    mention = reply.mention
    # Where a direct message is a post with a visibility (capabilities.direct_messages_are_posts), a reply to
    # one stays direct and in its thread; elsewhere it is a separate conversation with no post id to reply
    # to, so the answer to a DM goes back as a DM.
    capabilities = capabilities_for(channel.network)
    dms_are_posts = capabilities is not None and capabilities.direct_messages_are_posts
    answers_a_dm = mention.kind == Mention.Kind.DM and not dms_are_posts
    if reply.is_direct or answers_a_dm:
        return None
    # A post seen through accounts on several Mastodon servers has an id per server: answer the one this
    # channel received, kept on its receipt when it is not the mention's own.
    received_as = (
        MentionChannel.objects.filter(mention=mention, channel=channel)
        .values_list("external_id", flat=True)
        .first()
    )
    return received_as or mention.external_id


def _send(connector: Connector, channel: Channel, reply: Reply) -> SentReply:
    # Connectors take our stored external ids as they are (X's plain ids, Mastodon's "host:id").
    ref = channel_ref(channel)
    target = _target(channel, reply)
    if target is None:
        return connector.send_direct_message(
            ref, recipient_id=reply.mention.author.external_id, text=reply.text
        )
    return connector.reply(ref, in_reply_to=target, text=reply.text)


def _succeed(reply: Reply, sent: SentReply, *, found: bool = False) -> None:
    reply.state = Reply.State.SENT
    reply.external_id = sent.external_id
    reply.url = sent.url
    reply.sent_at = timezone.now()
    reply.error = ""
    reply.next_attempt_at = reply.handed_off_at = reply.attempt_started_at = None
    reply.outcome_unknown = False
    reply.save(update_fields=["state", "external_id", "url", "sent_at", "error", *_SETTLED_FIELDS])
    after: dict[str, Any] = {
        "reply": reply.pk,
        "external_id": sent.external_id,
        "url": sent.url,
        "direct": reply.is_direct,
        "attempts": reply.attempts,
    }
    if found:
        after["found_on_network"] = True  # an earlier attempt's post, found instead of posting again
    event_record(actor=None, verb="reply.sent", obj=reply.mention, after=after)
    _publish_delivery("reply.sent", reply, state=Reply.State.SENT)


def _defer_or_fail(reply: Reply, exc: ConnectorError, *, countdown: float | None) -> None:
    network = reply.channel.get_network_display()
    handle = _handle(reply.channel)
    tries = reply.attempts - reply.attempts_at_retry
    if tries >= REPLY_MAX_ATTEMPTS:
        if isinstance(exc, RateLimited):
            reason = f"{network} kept refusing {handle}'s replies for going over its rate limit"
        else:
            reason = f"{network} could not be reached"
        _fail(
            reply,
            f"{reason} ({tries} tries), so the reply was not sent. "
            "Press Retry to try again in a few minutes.",
            detail=str(exc),
        )
        return
    wait = countdown if countdown is not None else reply_retry_countdown(tries)
    if isinstance(exc, RateLimited):
        waiting = f"{network}'s rate limit for {handle} is used up; it will be sent in about {_wait(wait)}."
    else:
        waiting = f"{network} could not be reached; it will be tried again in about {_wait(wait)}."
    # Kept on the queued reply so that an agent who looks sees why it has not gone yet.
    reply.error = f"Not sent yet: {waiting}"
    reply.next_attempt_at = timezone.now() + timedelta(seconds=wait)
    reply.handed_off_at = None
    reply.save(
        update_fields=["error", "next_attempt_at", "handed_off_at", "attempt_started_at", "outcome_unknown"]
    )
    _publish_delivery("reply.waiting", reply, state=Reply.State.QUEUED)
    logger.info("reply %s deferred (attempt %s): %s", reply.pk, reply.attempts, exc)


# A settled reply is nobody's to send: no due time, no attempt in flight.
_SETTLED_FIELDS = ("attempts", "next_attempt_at", "handed_off_at", "attempt_started_at", "outcome_unknown")


def _fail(reply: Reply, message: str, *, detail: str = "") -> None:
    reply.state = Reply.State.FAILED
    reply.error = message
    reply.next_attempt_at = reply.handed_off_at = reply.attempt_started_at = None
    # outcome_unknown is kept: an agent's Retry still looks for an earlier attempt's post first.
    reply.save(update_fields=["state", "error", *_SETTLED_FIELDS])
    logger.warning("reply %s failed: %s", reply.pk, detail or message)
    event_record(
        actor=None,
        verb="reply.failed",
        obj=reply.mention,
        after={"reply": reply.pk, "error": message, "attempts": reply.attempts},
    )
    _publish_delivery("reply.failed", reply, state=Reply.State.FAILED)


def _publish_delivery(kind: str, reply: Reply, *, state: str) -> None:
    team_id = reply.mention.team_id
    payload: dict[str, Any] = {
        "ids": [reply.mention_id],
        "teams": [team_id] if team_id is not None else [],
        "reply": reply.pk,
        "state": state,
    }
    transaction.on_commit(lambda: event_publish(kind, payload))


def _handle(channel: Channel) -> str:
    return "@" + channel.handle.lstrip("@")


def _reauth_message(channel: Channel) -> str:
    return (
        f"The account {_handle(channel)} needs re-authorising by an admin before replies can be sent. "
        "Ask an admin to reconnect it under Channels, then press Retry."
    )


def _wait(seconds: float | None) -> str:
    seconds = int(seconds or 0)
    if seconds < 90:
        return f"{max(seconds, 1)} s"
    return f"{round(seconds / 60)} min"
