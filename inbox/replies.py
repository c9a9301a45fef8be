"""Sending replies: the outbound half of triage.

``inbox.triage.reply_create`` (or ``reply_approve``, ``reply_retry``) leaves a queued reply and schedules
``inbox.tasks.reply_send_task``, which calls :func:`reply_deliver`. It sends the reply through the channel's
connector and records what became of it, in words an agent can act on.
"""

from __future__ import annotations

import logging
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
from channels.models import Channel
from channels.services import channel_credentials_store_refreshed, channel_ref
from foundation.events import event_record
from foundation.live import event_publish
from inbox.models import Mention, MentionChannel, Reply

logger = logging.getLogger(__name__)


class ReplyDeferred(Exception):
    """The network cannot take the reply now; it stays queued and should be sent again later.

    ``countdown`` is the network's own wait in seconds (a rate limit's reset) or None when the caller should
    choose a backoff (an outage).
    """

    def __init__(self, message: str, *, countdown: float | None = None) -> None:
        super().__init__(message)
        self.countdown = countdown


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
    _publish("reply.sent", reply, state=Reply.State.SENT)


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
    _publish("reply.failed", reply, state=Reply.State.FAILED)


def _publish(kind: str, reply: Reply, *, state: str) -> None:
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
