"""Replies: writing one (held for a lead's approval when a rule asked), approving, rejecting, retrying, and
sending it.

``reply_create`` (or ``reply_approve``, ``reply_retry``) leaves a queued reply and schedules
``inbox.tasks.reply_send_task``, which calls :func:`reply_deliver`. It sends the reply through the channel's
connector and records what became of it, in words an agent can act on.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from channels.connectors.base import (
    AuthExpired,
    Connector,
    ConnectorError,
    ConnectorUnavailable,
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
from inbox.actions.base import TriageError, check_can_work, locked, publish, touch
from inbox.actions.sla import sla_replied
from inbox.models import Mention, MentionChannel, Reply
from inbox.presence import presence_typing_stop
from teams.roles import actor_of, user_name

logger = logging.getLogger(__name__)


class ReplyDeferred(Exception):
    """The network cannot take the reply now; it stays queued and should be sent again later.

    ``countdown`` is the network's own wait in seconds (a rate limit's reset) or None when the caller should
    choose a backoff (an outage).
    """

    def __init__(self, message: str, *, countdown: float | None = None) -> None:
        super().__init__(message)
        self.countdown = countdown


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
    """Send a failed reply again."""
    check_can_work(actor, reply.mention)
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
        publish("reply.retried", [reply.mention], actor, reply=reply.pk)
        _send_after_commit(reply)
    return reply


def reply_deliver(*, reply_id: int, final_attempt: bool = False, connector: Connector | None = None) -> Reply:
    """Send a queued reply through its channel's connector and record the outcome.

    Only a reply still queued is sent, under a lock on its row held through the call to the network: a
    second delivery of the same task waits for the first and then finds the reply sent, so running this
    twice sends once. An outage or a rate limit leaves the reply queued and raises :class:`ReplyDeferred`
    (the attempt is counted and committed first), unless ``final_attempt`` says no retry follows, in which
    case the reply fails. A revoked token fails the reply and marks the channel as needing re-authorisation;
    any other refusal fails it with the network's reason.

    A worker that dies after the network accepted the reply but before this commits leaves it queued, and
    the retry sends it again; the Mastodon connector's idempotency key covers that case, X has none.
    ``connector`` stands in for the registry's, as in ``channel_pull`` (tests with a fixed clock).
    """
    deferred: ReplyDeferred | None = None
    sender: Connector | None = None
    channel: Channel | None = None
    try:
        with transaction.atomic():
            reply = (
                Reply.objects.select_for_update(of=("self",))
                .select_related("mention__author", "channel__segment")
                .get(pk=reply_id)
            )
            if reply.state != Reply.State.QUEUED:
                return reply
            channel = reply.channel
            reply.attempts += 1
            if channel.needs_reauth:
                # The network would only refuse the token again; fail without calling it.
                _fail(reply, _reauth_message(channel))
                return reply
            sender = connector or connector_for(channel.network)
            try:
                sent = _send(sender, channel, reply)
            except RateLimited as exc:
                deferred = _defer_or_fail(reply, exc, final_attempt, countdown=exc.retry_after)
            except ConnectorUnavailable as exc:
                deferred = _defer_or_fail(reply, exc, final_attempt, countdown=None)
            except AuthExpired as exc:
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
            except ConnectorError as exc:
                _fail(
                    reply,
                    f"{channel.get_network_display()} refused the reply: {str(exc).rstrip('.')}. "
                    "Sending it again will not help until that is fixed: check that the post still exists "
                    "and the text is allowed, then press Retry, or write a new reply.",
                    detail=str(exc),
                )
            else:
                _succeed(reply, sent)
    finally:
        if sender is not None and channel is not None:
            # X has already spent the old refresh token, whatever became of the call: keep the new one.
            channel_credentials_store_refreshed(channel=channel, connector=sender, ref=channel_ref(channel))
    if deferred is not None:
        raise deferred
    return reply


def _send(connector: Connector, channel: Channel, reply: Reply) -> SentReply:
    # Connectors take our stored external ids as they are (X's plain ids, Mastodon's "host:id").
    mention = reply.mention
    ref = channel_ref(channel)
    # Where a direct message is a post with a visibility (capabilities.direct_messages_are_posts), a reply to
    # one stays direct and in its thread; elsewhere it is a separate conversation with no post id to reply
    # to, so the answer to a DM goes back as a DM.
    capabilities = capabilities_for(channel.network)
    dms_are_posts = capabilities is not None and capabilities.direct_messages_are_posts
    answers_a_dm = mention.kind == Mention.Kind.DM and not dms_are_posts
    if reply.is_direct or answers_a_dm:
        return connector.send_direct_message(ref, recipient_id=mention.author.external_id, text=reply.text)
    # A post seen through accounts on several Mastodon servers has an id per server: answer the one this
    # channel received, kept on its receipt when it is not the mention's own.
    received_as = (
        MentionChannel.objects.filter(mention=mention, channel=channel)
        .values_list("external_id", flat=True)
        .first()
    )
    return connector.reply(ref, in_reply_to=received_as or mention.external_id, text=reply.text)


def _succeed(reply: Reply, sent: SentReply) -> None:
    reply.state = Reply.State.SENT
    reply.external_id = sent.external_id
    reply.url = sent.url
    reply.sent_at = timezone.now()
    reply.error = ""
    reply.save(update_fields=["state", "external_id", "url", "sent_at", "error", "attempts"])
    event_record(
        actor=None,
        verb="reply.sent",
        obj=reply.mention,
        after={
            "reply": reply.pk,
            "external_id": sent.external_id,
            "url": sent.url,
            "direct": reply.is_direct,
            "attempts": reply.attempts,
        },
    )
    _publish_delivery("reply.sent", reply, state=Reply.State.SENT)


def _defer_or_fail(
    reply: Reply, exc: ConnectorError, final_attempt: bool, *, countdown: float | None
) -> ReplyDeferred | None:
    network = reply.channel.get_network_display()
    handle = _handle(reply.channel)
    if final_attempt:
        if isinstance(exc, RateLimited):
            reason = f"{network} kept refusing {handle}'s replies for going over its rate limit"
        else:
            reason = f"{network} could not be reached"
        _fail(
            reply,
            f"{reason} ({reply.attempts} tries), so the reply was not sent. "
            "Press Retry to try again in a few minutes.",
            detail=str(exc),
        )
        return None
    if isinstance(exc, RateLimited):
        waiting = (
            f"{network}'s rate limit for {handle} is used up; it will be sent in about {_wait(countdown)}."
        )
    else:
        waiting = f"{network} could not be reached; it will be tried again shortly."
    # Kept on the queued reply so that an agent who looks sees why it has not gone yet.
    reply.error = f"Not sent yet: {waiting}"
    reply.save(update_fields=["error", "attempts"])
    logger.info("reply %s deferred (attempt %s): %s", reply.pk, reply.attempts, exc)
    return ReplyDeferred(str(exc), countdown=countdown)


def _fail(reply: Reply, message: str, *, detail: str = "") -> None:
    reply.state = Reply.State.FAILED
    reply.error = message
    reply.save(update_fields=["state", "error", "attempts"])
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
