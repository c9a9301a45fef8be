"""Writing SLA clocks on mentions: starting them, switching them when a reply goes out, giving one back,
warning and raising breaches (``inbox.sla`` computes the deadlines)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import JSONField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from foundation.events import events_record_many
from foundation.live import event_publish
from inbox.models import Mention, MentionChannel, Reply, SlaCursor
from inbox.sla import (
    BREACHED,
    FIRST_RESPONSE,
    NEXT_RESPONSE,
    OPEN_STATUSES,
    RESOLUTION,
    SETTLE,
    START_BATCH,
    WARNING,
    SlaPolicyError,
    clock_of,
    policies_enabled,
    segment_slug_of,
)

logger = logging.getLogger(__name__)


def sla_clocks_start(*, now: datetime | None = None, limit: int = START_BATCH) -> int:
    """Start the clocks of mentions that arrived since the last run; returns how many got one."""
    now = now or timezone.now()
    with transaction.atomic():
        cursor, _ = SlaCursor.objects.select_for_update().get_or_create(pk=1)
        rows = list(
            Mention.objects.filter(pk__gt=cursor.last_mention_id, received_at__lte=now - SETTLE)
            .order_by("pk")
            .values_list("pk", "received_at", "decision", "network", "conversation_key", "status", "intent")[
                :limit
            ]
        )
        if not rows:
            return 0
        cursor.last_mention_id = rows[-1][0]
        cursor.save(update_fields=["last_mention_id"])
        policies = policies_enabled()
        if not policies:
            return 0
        ids = [r[0] for r in rows]
        received_on = {}
        for mention_id, slug in (
            MentionChannel.objects.filter(mention_id__in=ids)
            .order_by("id")
            .values_list("mention_id", "channel__segment__slug")
        ):
            received_on.setdefault(mention_id, slug)
        conversations = {(r[3], r[4]) for r in rows if r[4]}
        answered = set()
        if conversations:
            answered = set(
                Reply.objects.filter(
                    mention__conversation_key__in={c for _, c in conversations},
                    state__in=(Reply.State.QUEUED, Reply.State.SENT),
                ).values_list("mention__network", "mention__conversation_key")
            )
        updates = []
        for mention_id, received_at, decision, network, conversation, status, intent in rows:
            if status == Mention.Status.CLOSED or intent == Mention.SPAM_INTENT:
                continue
            slug = (decision or {}).get("segment") or received_on.get(mention_id)
            policy = policies.get(slug)
            if policy is None:
                continue
            kind = NEXT_RESPONSE if (network, conversation) in answered else FIRST_RESPONSE
            try:
                warn_at, due_at = clock_of(policy, kind, received_at)
            except SlaPolicyError:
                logger.warning("SLA policy of %s has an unknown time zone; no clock started", slug)
                continue
            if due_at is not None:
                updates.append(Mention(pk=mention_id, sla_kind=kind, sla_warn_at=warn_at, sla_due_at=due_at))
        Mention.objects.bulk_update(updates, ["sla_kind", "sla_warn_at", "sla_due_at"], batch_size=1000)
    return len(updates)


def sla_replied(*, mention: Mention) -> None:
    """A reply answers the first (or next) response target; the resolution clock runs from now on."""
    if mention.sla_kind not in (FIRST_RESPONSE, NEXT_RESPONSE):
        return
    policy = policies_enabled().get(segment_slug_of(mention))
    warn_at, due_at = clock_of(policy, RESOLUTION, mention.received_at) if policy else (None, None)
    Mention.objects.filter(pk=mention.pk).update(
        sla_kind=RESOLUTION if due_at else "", sla_warn_at=warn_at, sla_due_at=due_at, sla_state=""
    )


def sla_clock_restart(*, mention: Mention) -> list[str]:
    """Give a mention back the clock it would have had from when it was received (it was taken for spam and
    is not): first response, next response in a conversation we answered, or resolution once it has a reply.
    Sets the fields on ``mention`` and returns their names; the caller saves them."""
    answered = (Reply.State.QUEUED, Reply.State.SENT)
    if Reply.objects.filter(mention=mention, state__in=answered).exists():
        kind = RESOLUTION
    elif (
        mention.conversation_key
        and Reply.objects.filter(
            mention__network=mention.network,
            mention__conversation_key=mention.conversation_key,
            state__in=answered,
        ).exists()
    ):
        kind = NEXT_RESPONSE
    else:
        kind = FIRST_RESPONSE
    slug = segment_slug_of(mention)
    policy = policies_enabled().get(slug)
    warn_at = due_at = None
    if policy is not None:
        try:
            warn_at, due_at = clock_of(policy, kind, mention.received_at)
        except SlaPolicyError:
            logger.warning("SLA policy of %s has an unknown time zone; no clock started", slug)
    mention.sla_kind = kind if due_at else ""
    mention.sla_warn_at, mention.sla_due_at, mention.sla_state = warn_at, due_at, ""
    return ["sla_kind", "sla_warn_at", "sla_due_at", "sla_state"]


# Closing stops the clock; the state (met, or breached) stays as history.
SLA_STOPPED = {"sla_warn_at": None, "sla_due_at": None}


def sla_tick(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Start new clocks, then warn and raise breaches; returns (warned ids, breached ids). Safe to repeat:
    a mention is warned once and raised once per clock."""
    now = now or timezone.now()
    sla_clocks_start(now=now)
    # Spam runs no clock; this also stops one started before routing said it was spam.
    running = (
        Mention.objects.filter(sla_due_at__isnull=False, status__in=OPEN_STATUSES)
        .exclude(sla_state=BREACHED)
        .exclude(intent=Mention.SPAM_INTENT)
    )
    with transaction.atomic():
        breached = list(
            running.filter(sla_due_at__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .only("id", "team_id", "network", "external_id", "sla_kind", "sla_due_at", "labels", "priority")[
                :1000
            ]
        )
        if breached:
            _breach(breached, now)
        warned = list(
            running.filter(sla_warn_at__lte=now, sla_due_at__gt=now)
            .exclude(sla_state=WARNING)
            .select_for_update(skip_locked=True, of=("self",))
            .only("id", "team_id", "network", "external_id", "sla_kind", "sla_due_at")[:1000]
        )
        if warned:
            Mention.objects.filter(pk__in=[m.pk for m in warned]).update(sla_state=WARNING)
            events_record_many(
                actor=None,
                verb="sla.warning",
                objects=warned,
                before=[{}] * len(warned),
                after=[{"kind": m.sla_kind, "due_at": m.sla_due_at.isoformat()} for m in warned],
            )
            _publish("sla.warning", warned)
    return [m.pk for m in warned], [m.pk for m in breached]


def _breach(mentions: list[Mention], now: datetime) -> None:
    from inbox.tasks import sla_breach_notify_task  # the tasks module runs these actions

    ids = [m.pk for m in mentions]
    Mention.objects.filter(pk__in=ids).update(sla_state=BREACHED)
    Mention.objects.filter(pk__in=ids, priority__lt=Mention.Priority.HIGH).update(
        priority=Mention.Priority.HIGH
    )
    mentions_labels_append(mentions, ["sla-breached"], now)
    events_record_many(
        actor=None,
        verb="sla.breached",
        objects=mentions,
        before=[{"priority": m.priority} for m in mentions],
        after=[
            {"kind": m.sla_kind, "due_at": m.sla_due_at.isoformat(), "raised_to": "team leads"}
            for m in mentions
        ],
    )
    _publish("sla.breached", mentions)
    for mention_id in ids:
        transaction.on_commit(lambda m=mention_id: sla_breach_notify_task.delay(m), robust=True)


def _publish(kind: str, mentions: Iterable[Mention]) -> None:
    mentions = list(mentions)
    payload: dict[str, Any] = {
        "ids": [m.pk for m in mentions],
        "teams": sorted({m.team_id for m in mentions if m.team_id}),
        "actor": "",
    }
    transaction.on_commit(lambda: event_publish(kind, payload))


def mentions_labels_append(mentions: Sequence[Mention], labels: Sequence[str], now: datetime) -> None:
    """Add labels to mentions that lack them. Labels differ per mention: PostgreSQL appends in one UPDATE
    per label; SQLite (the embedded default, small inboxes) writes the merged lists back in one statement."""
    ids = [m.pk for m in mentions]
    if connection.vendor == "postgresql":
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
