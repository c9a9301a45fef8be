"""Outbound webhooks: subscriptions (the admin's actions on them) and the fan-out of domain events into
deliveries.

The fan-out is a consumer of the domain events (``foundation.events.events_consume``, consumer
``"webhooks"``): each batch of events becomes one ``WebhookDelivery`` per event and matching active
subscription, written in the transaction that moves the consumer past the batch, so every event is fanned
out exactly once however often the task runs or dies. Sending is separate (``integrations.delivery``): a
slow receiver holds up its own deliveries, never the ingest nor the fan-out.

The payload (version 1) is documented in the README ("Integrations"). It carries the mention as it stands
when the event is fanned out (a second or so after it happened); ``before`` and ``after`` say what the event
itself changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from channels.crypto import decrypt_json, encrypt_json
from channels.models import Channel, Segment
from foundation.events import consumer_position, consumer_start, event_record, events_consume
from foundation.models import DomainEvent
from inbox.models import Mention, MentionChannel
from integrations.delivery_wake import deliveries_wake
from integrations.destinations import destination_check
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.signing import webhook_secret_generate
from teams.models import Team

WEBHOOKS_CONSUMER = "webhooks"
PAYLOAD_VERSION = 1
FANOUT_BATCH = 500  # events per transaction: a few thousand delivery rows at most, written in one statement
TEST_EVENT_TYPE = "webhook.test"


# --- Secrets ---------------------------------------------------------------------------------------------


def _secret_encrypt(secret: str) -> str:
    return encrypt_json({"secret": secret})


def _secret_decrypt(token: str) -> str:
    return decrypt_json(token)["secret"]


def subscription_secrets(subscription: WebhookSubscription, *, now: Any = None) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during its overlap."""
    now = now or timezone.now()
    found = [_secret_decrypt(subscription.secret_encrypted)]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret_encrypted and expires is not None and expires > now:
        found.append(_secret_decrypt(subscription.previous_secret_encrypted))
    return found


# --- The admin's actions on subscriptions ----------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionFields:
    """What an admin sets on a subscription (the form's cleaned data)."""

    name: str
    url: str
    event_types: Sequence[str]
    team: Team | None = None
    segment: Segment | None = None
    channel: Channel | None = None
    intent: str = ""
    min_priority: int | None = None


def _record(actor: Any, verb: str, subscription: WebhookSubscription, **after: Any) -> None:
    # teams=[]: webhooks are the admins' business, not a team's screens.
    event_record(actor=actor, verb=verb, obj=subscription, after=after, teams=[])


def webhook_subscription_create(*, actor: Any, fields: SubscriptionFields) -> tuple[WebhookSubscription, str]:
    """A new active subscription with a fresh secret; returns it and the secret (shown once)."""
    destination_check(fields.url)
    secret = webhook_secret_generate()
    with transaction.atomic():
        consumer_start(consumer=WEBHOOKS_CONSUMER)  # events from now on, even before its first run
        subscription = WebhookSubscription.objects.create(
            **_field_values(fields), secret_encrypted=_secret_encrypt(secret), created_by=actor
        )
        _record(actor, "webhook.created", subscription, url=subscription.url)
    return subscription, secret


def _field_values(fields: SubscriptionFields) -> dict[str, Any]:
    return {
        "name": fields.name,
        "url": fields.url,
        "event_types": list(fields.event_types),
        "team": fields.team,
        "segment": fields.segment,
        "channel": fields.channel,
        "intent": fields.intent,
        "min_priority": fields.min_priority,
    }


def webhook_subscription_update(
    *, actor: Any, subscription: WebhookSubscription, fields: SubscriptionFields
) -> None:
    """Change what a subscription receives and where; deliveries already made keep their payloads."""
    destination_check(fields.url)
    with transaction.atomic():
        for name, value in _field_values(fields).items():
            setattr(subscription, name, value)
        subscription.updated_at = timezone.now()
        subscription.save()
        _record(actor, "webhook.updated", subscription, url=subscription.url)


def webhook_secret_rotate(*, actor: Any, subscription: WebhookSubscription) -> str:
    """A new secret; the current one keeps signing beside it for the overlap (``…ROTATION_OVERLAP_HOURS``)
    so the receiver can switch without refusing a delivery. Returns the new secret (shown once)."""
    secret = webhook_secret_generate()
    overlap = timedelta(hours=settings.SOCIALOPS_WEBHOOKS_ROTATION_OVERLAP_HOURS)
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = timezone.now() + overlap
        locked.secret_encrypted = _secret_encrypt(secret)
        locked.updated_at = timezone.now()
        locked.save()
        _record(
            actor,
            "webhook.secret_rotated",
            locked,
            previous_valid_until=str(locked.previous_secret_expires_at),
        )
    subscription.refresh_from_db()
    return secret


def webhook_subscription_pause(*, actor: Any, subscription: WebhookSubscription, reason: str) -> bool:
    """Stop sending: no new deliveries are made and open ones wait. False if it was paused already.
    ``actor`` None is the automatic pause after failures: its event (``webhook.paused``) is the admins'
    notice, in the audit log and on the webhooks page."""
    with transaction.atomic():
        changed = WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).update(
            is_active=False, paused_reason=reason[:300], paused_at=timezone.now(), updated_at=timezone.now()
        )
        if changed:
            subscription.refresh_from_db()
            _record(actor, "webhook.paused", subscription, reason=reason[:300])
    return bool(changed)


def webhook_subscription_resume(*, actor: Any, subscription: WebhookSubscription) -> bool:
    """Send again: the open deliveries are due now with a fresh retry window. False if it was active."""
    now = timezone.now()
    with transaction.atomic():
        changed = WebhookSubscription.objects.filter(pk=subscription.pk, is_active=False).update(
            is_active=True, paused_reason="", paused_at=None, consecutive_failures=0, updated_at=now
        )
        if changed:
            WebhookDelivery.objects.filter(
                subscription=subscription, state__in=WebhookDelivery.OPEN_STATES
            ).update(next_attempt_at=now, retry_until=now + _retry_window())
            subscription.refresh_from_db()
            _record(actor, "webhook.resumed", subscription)
            transaction.on_commit(deliveries_wake)
    return bool(changed)


def webhook_test_send(*, actor: Any, subscription: WebhookSubscription) -> WebhookDelivery:
    """A ``webhook.test`` delivery, queued like any other (its outcome shows in the delivery log)."""
    now = timezone.now()
    payload = {
        "version": PAYLOAD_VERSION,
        "id": None,
        "type": TEST_EVENT_TYPE,
        "occurred_at": now.isoformat(),
        "actor": _actor_json(actor),
        "mention": None,
        "routing": None,
        "before": {},
        "after": {"subscription": subscription.name},
    }
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            subscription=subscription,
            event_type=TEST_EVENT_TYPE,
            payload=payload,
            next_attempt_at=now,
            retry_until=now + _retry_window(),
        )
        transaction.on_commit(deliveries_wake)
    return delivery


def webhook_delivery_redeliver(*, actor: Any, delivery: WebhookDelivery) -> None:
    """Send a delivery again by hand, whatever its state: same payload, same id (receivers deduplicate on
    it), a fresh retry window."""
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=WebhookDelivery.State.PENDING,
            next_attempt_at=now,
            retry_until=now + _retry_window(),
            error="",
        )
        transaction.on_commit(deliveries_wake)
    delivery.refresh_from_db()


def _retry_window() -> timedelta:
    return timedelta(hours=settings.SOCIALOPS_WEBHOOKS_RETRY_HOURS)


# --- The fan-out --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MentionFacts:
    """What the payload and the filters need of a mention, loaded once per batch."""

    json: dict[str, Any]
    routing: dict[str, Any]
    team_id: int | None
    segment_slug: str
    channel_ids: frozenset[int]
    intent: str
    priority: int


def _actor_json(user: Any) -> dict[str, Any] | None:
    if user is None or not getattr(user, "is_authenticated", True):
        return None
    return {
        "id": user.pk,
        "username": user.get_username(),
        "name": user.get_full_name() or user.get_username(),
    }


_MENTION_FIELDS = (
    "id",
    "text",
    "url",
    "network",
    "kind",
    "created_at",
    "author__handle",
    "author__display_name",
    "author__follower_count",
    "author__is_verified",
    "team_id",
    "team__slug",
    "team__name",
    "intent",
    "sentiment",
    "sentiment_label",
    "priority",
    "status",
    "assignee__username",
    "labels",
    "decision",
    "routed_at",
)


def _mentions_facts(mention_ids: Iterable[int]) -> dict[int, _MentionFacts]:
    """The mentions of a batch of events, read as plain values (two queries, no model instances: the
    fan-out's cost is mostly here)."""
    ids = set(mention_ids)
    if not ids:
        return {}
    receipts: dict[int, list[tuple]] = {}
    for mention_id, *receipt in (
        MentionChannel.objects.filter(mention_id__in=ids)
        .order_by("id")
        .values_list("mention_id", "channel_id", "channel__slug", "channel__handle", "channel__segment__slug")
    ):
        receipts.setdefault(mention_id, []).append(receipt)
    # The mention's page, by its URL pattern once per batch rather than a reverse() per mention.
    prefix, _, suffix = reverse("inbox:detail", args=[0]).rpartition("0")
    link = settings.SOCIALOPS_BASE_URL + prefix + "{}" + suffix
    priorities = {p.value: p.label.lower() for p in Mention.Priority}
    facts = {}
    for m in Mention.objects.filter(pk__in=ids).values(*_MENTION_FIELDS):
        received = receipts.get(m["id"], [])
        first = received[0] if received else None
        decision = m["decision"] or {}
        segment = decision.get("segment") or (first[3] if first else "")
        facts[m["id"]] = _MentionFacts(
            json={
                "id": m["id"],
                "text": m["text"],
                "url": m["url"],
                "link": link.format(m["id"]),
                "network": m["network"],
                "kind": m["kind"],
                "created_at": m["created_at"].isoformat(),
                "author": {
                    "handle": m["author__handle"],
                    "display_name": m["author__display_name"],
                    "followers": m["author__follower_count"],
                    "is_verified": m["author__is_verified"],
                },
                "channel": {"slug": first[1], "handle": first[2]} if first else None,
                "channels": [r[1] for r in received],
                "team": {"slug": m["team__slug"], "name": m["team__name"]} if m["team_id"] else None,
                "segment": segment or None,
                "intent": m["intent"],
                "sentiment": {"label": m["sentiment_label"], "score": m["sentiment"]},
                "priority": priorities.get(m["priority"], str(m["priority"])),
                "status": m["status"],
                "assignee": m["assignee__username"],
                "labels": list(m["labels"] or []),
            },
            routing={
                "routed_at": m["routed_at"].isoformat() if m["routed_at"] else None,
                "decision": {k: v for k, v in decision.items() if k != "explanation"},
                "explanation": list(decision.get("explanation", [])),
            },
            team_id=m["team_id"],
            segment_slug=segment,
            channel_ids=frozenset(r[0] for r in received),
            intent=m["intent"],
            priority=m["priority"],
        )
    return facts


@dataclass(frozen=True)
class _Filter:
    """A subscription's filters, with the related rows' keys resolved once per batch."""

    subscription_id: int
    all_events: bool
    event_types: frozenset[str]
    team_id: int | None
    segment_slug: str | None
    channel_id: int | None
    intent: str
    min_priority: int | None

    @property
    def about_mentions_only(self) -> bool:
        return bool(self.segment_slug or self.channel_id or self.intent or self.min_priority)

    def matches(self, event: DomainEvent, mention: _MentionFacts | None) -> bool:
        if not self.all_events and event.verb not in self.event_types:
            return False
        if self.team_id is not None:
            teams = set(event.team_ids or [])
            if mention is not None and mention.team_id is not None:
                teams.add(mention.team_id)
            if self.team_id not in teams:
                return False
        if not self.about_mentions_only:
            return True
        if mention is None:
            return False
        return (
            (self.segment_slug is None or mention.segment_slug == self.segment_slug)
            and (self.channel_id is None or self.channel_id in mention.channel_ids)
            and (not self.intent or mention.intent == self.intent)
            and (self.min_priority is None or mention.priority >= self.min_priority)
        )


def _active_filters() -> list[_Filter]:
    subscriptions = WebhookSubscription.objects.filter(is_active=True).select_related("segment")
    return [
        _Filter(
            subscription_id=s.pk,
            all_events=WebhookSubscription.ALL_EVENTS in s.event_types,
            event_types=frozenset(s.event_types),
            team_id=s.team_id,
            segment_slug=s.segment.slug if s.segment else None,
            channel_id=s.channel_id,
            intent=s.intent,
            min_priority=s.min_priority,
        )
        for s in subscriptions
    ]


def event_payload(event: DomainEvent, mention: _MentionFacts | None, *, actor: Any) -> dict[str, Any]:
    """The version 1 payload of one event (README, "Integrations")."""
    object_type = ContentType.objects.get_for_id(event.object_type_id)  # cached by Django
    return {
        "version": PAYLOAD_VERSION,
        "id": event.pk,
        "type": event.verb,
        "occurred_at": event.created_at.isoformat(),
        "actor": _actor_json(actor),
        "object": {
            "type": f"{object_type.app_label}.{object_type.model}",
            "id": event.object_id,
            "repr": event.object_repr,
        },
        "mention": mention.json if mention else None,
        "routing": mention.routing if mention else None,
        "before": event.before,
        "after": event.after,
    }


def deliveries_for_events(events: Sequence[DomainEvent]) -> int:
    """Write the deliveries of a batch of events (``events_consume``'s handler: in its transaction)."""
    filters = _active_filters()
    if not filters:
        return 0
    facts = _mentions_facts(e.mention_id for e in events if e.mention_id is not None)
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    actors = get_user_model().objects.in_bulk(actor_ids) if actor_ids else {}
    now = timezone.now()
    until = now + _retry_window()
    rows = []
    for event in events:
        mention = facts.get(event.mention_id) if event.mention_id is not None else None
        matching = [f for f in filters if f.matches(event, mention)]
        if not matching:
            continue
        payload = event_payload(event, mention, actor=actors.get(event.actor_id))
        rows.extend(
            WebhookDelivery(
                subscription_id=f.subscription_id,
                event_id=event.pk,
                event_type=event.verb,
                mention_id=event.mention_id,
                payload=payload,
                next_attempt_at=now,
                retry_until=until,
                created_at=now,
            )
            for f in matching
        )
    # ignore_conflicts: the consumer position already makes this exactly once; the constraint is the floor.
    WebhookDelivery.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def webhooks_fan_out(*, made_some: Callable[[], None] | None = None) -> int:
    """Fan out every event committed since the last run; returns how many deliveries were made.
    ``made_some`` is called after each batch that made deliveries (committed), so sending can begin while
    the rest is fanned out."""
    made = 0

    def handle(events: list[DomainEvent]) -> None:
        nonlocal made
        batch = deliveries_for_events(events)
        made += batch
        if batch and made_some is not None:
            transaction.on_commit(made_some)

    while events_consume(consumer=WEBHOOKS_CONSUMER, handle=handle, limit=FANOUT_BATCH):
        pass
    return made


def webhooks_fan_out_held_back() -> bool:
    """Whether committed events wait beyond the fan-out's position: the consumer reads only events of
    transactions of this database older than every one still running, so an event can be
    committed yet not readable for a moment. The task looks again shortly rather than at beat's next tick.
    Without an active subscription nothing waits for them."""
    if not WebhookSubscription.objects.filter(is_active=True).exists():
        return False
    position = consumer_position(consumer=WEBHOOKS_CONSUMER)
    return (
        DomainEvent.objects.filter(xid__isnull=False)
        .extra(where=["(xid, id) > (%s, %s)"], params=[position.xid, position.event_id])
        .exists()
    )
