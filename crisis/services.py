"""The live radar: counters fed from the ingest's domain events, the detector run once a minute, alerts
turned into incidents.

``crisis_events_handle`` is the consumer's handler (``events_consume(consumer=CONSUMER, ...)``): for a batch
of events it reads the new mentions' rows in one query (text, sentiment label, intent and the author's
followers, as routing stored them at ingest) and adds their counters to the store in one round trip. Each
post is counted at the minute it was received (the event's time); a post written more than
``BACKFILL_HOURS`` before it arrived is a backfill, not news, and is left out.

``radar_tick`` runs the detector for each finished minute not yet looked at (one worker per minute, any
worker), and ``alerts_record`` opens an incident or adds the alerts to the open one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from channels.models import Channel
from crisis.actions import incident_opened, incident_recipients, incident_team_ids
from crisis.detector import Alert, Detector, Policy
from crisis.models import Incident
from crisis.signals import PostSignal, counts_by_minute, post_signal, reposts_dropped
from crisis.store import CacheStore, RedisStore, Store
from foundation.events import event_record
from foundation.live import event_publish
from foundation.models import DomainEvent
from inbox.models import Mention

logger = logging.getLogger(__name__)

CONSUMER = "crisis"
RECEIVED = "mention.received"
CRISIS_INTENT = "crisis_signal"
NEGATIVE = "negative"
BACKFILL_HOURS = 6
MAX_CATCH_UP_MINUTES = 15  # after an outage the detector looks at the last minutes, not the whole gap
EMAIL_TASK = "crisis.tasks.incident_email"
INCIDENT_JOIN_MINUTES = 120  # an alert this soon after an open incident's last one joins it

_local = threading.local()


def radar_store() -> Store:
    """Redis when configured (one client per thread), else the Django cache (the embedded default)."""
    if not settings.REDIS_URL:
        return CacheStore(cache)
    client = getattr(_local, "redis", None)
    if client is None:
        import redis

        client = _local.redis = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2
        )
    return RedisStore(client)


def _channels(ids: set[int]) -> dict[int, tuple[str, str]]:
    """Channel id -> (slug, segment slug), read once per process for each channel."""
    known: dict[int, tuple[str, str]] = getattr(_local, "channels", None) or {}
    missing = ids - known.keys()
    if missing:
        for pk, slug, segment in Channel.objects.filter(pk__in=missing).values_list(
            "pk", "slug", "segment__slug"
        ):
            known[pk] = (slug, segment)
        _local.channels = known
    return known


def post_signals(events: Sequence[DomainEvent]) -> list[PostSignal]:
    """The signals of a batch's new mentions: one query for their rows, whatever the batch's size."""
    received = [e for e in events if e.verb == RECEIVED and e.mention_id is not None]
    if not received:
        return []
    rows = {
        pk: (text, label, intent, followers, created)
        for pk, text, label, intent, followers, created in Mention.objects.filter(
            pk__in=[e.mention_id for e in received]
        ).values_list("pk", "text", "sentiment_label", "intent", "author__follower_count", "created_at")
    }
    channels = _channels({int(e.after.get("channel_id") or 0) for e in received})
    signals = []
    for event in received:
        row = rows.get(event.mention_id)
        if row is None:  # erased since
            continue
        text, label, intent, followers, created = row
        if created is not None and event.created_at - created > timedelta(hours=BACKFILL_HOURS):
            continue
        channel, segment = channels.get(int(event.after.get("channel_id") or 0), ("", ""))
        signals.append(
            post_signal(
                minute=int(event.created_at.timestamp()) // 60,
                text=text or "",
                channel=channel,
                segment=segment,
                negative=label == NEGATIVE,
                crisis=intent == CRISIS_INTENT,
                reach=followers or 0,
            )
        )
    return signals


def crisis_events_handle(events: list[DomainEvent], *, store: Store | None = None) -> None:
    """The consumer's handler: the batch's new mentions into the counters, in one write (and one round trip
    before it, to tell reposts, which add reach only)."""
    signals = post_signals(events)
    if signals:
        store = store or radar_store()
        new = store.first_seen([s.text_key for s in signals], max(s.minute for s in signals))
        store.add(counts_by_minute(reposts_dropped(signals, new)))


def _labels() -> dict[str, str]:
    labels = {}
    for slug, handle, segment_slug, segment_name in Channel.objects.values_list(
        "slug", "handle", "segment__slug", "segment__name"
    ):
        labels[f"channel:{slug}"] = handle if handle.startswith("@") else f"@{handle}"
        labels[f"segment:{segment_slug}"] = segment_name
    return labels


def radar_tick(
    *, now: datetime | None = None, store: Store | None = None, policy: Policy | None = None
) -> list[Alert]:
    """Run the detector for each finished minute since the last tick (at most ``MAX_CATCH_UP_MINUTES``),
    each minute by one caller only; record what it finds."""
    store = store or radar_store()
    now = now or timezone.now()
    last_finished = int(now.timestamp()) // 60 - 1
    detector = None
    alerts: list[Alert] = []
    for minute in range(last_finished - MAX_CATCH_UP_MINUTES + 1, last_finished + 1):
        if not store.tick_claim(minute):
            continue
        if detector is None:
            detector = Detector(store, policy, _labels())
        alerts.extend(detector.detect(minute))
    if alerts:
        alerts_record(alerts)
    return alerts


def _alert_row(alert: Alert) -> dict:
    return {
        "at": alert.at.isoformat(),
        "scope": alert.scope,
        "signal": alert.signal,
        "window_minutes": alert.window_minutes,
        "posts": alert.posts,
        "observed": round(alert.observed, 4),
        "expected": round(alert.expected, 4),
        "score": round(alert.score, 2),
        "reach": alert.reach,
        "terms": list(alert.terms),
        "text": alert.text,
    }


def alerts_record(alerts: Sequence[Alert]) -> Incident:
    """Open an incident for the alerts, or add them to the open incident whose last alert is recent; record
    ``incident.opened`` (or ``incident.alerted``) and tell the browsers after commit."""
    alerts = sorted(alerts, key=lambda a: (a.minute, -a.score))
    rows = [_alert_row(a) for a in alerts]
    at = alerts[-1].at
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update()
            .filter(
                status=Incident.Status.OPEN, last_alert_at__gte=at - timedelta(minutes=INCIDENT_JOIN_MINUTES)
            )
            .order_by("-last_alert_at")
            .first()
        )
        if incident is None:
            incident = Incident.objects.create(
                opened_at=alerts[0].at,
                last_alert_at=at,
                summary=alerts[0].text[:500],
                scope=alerts[0].scope,
                signal=alerts[0].signal,
                terms=list(alerts[0].terms),
                alerts=rows,
            )
            verb = "incident.opened"
            incident_opened(incident=incident)
        else:
            incident.alerts = [*incident.alerts, *rows]
            incident.last_alert_at = at
            incident.save(update_fields=["alerts", "last_alert_at"])
            verb = "incident.alerted"
        teams = incident_team_ids(incident)
        event_record(
            actor=None,
            verb=verb,
            obj=incident,
            after={"alerts": rows, "summary": incident.summary, "crisis_mode": incident.crisis_mode},
            teams=teams,
        )
        # To the leads of the teams it concerns (every team's when organisation-wide) and to admins (see
        # inbox.views.events); the email too, once, when it opens.
        payload = {
            "ids": [],
            "teams": teams,
            "leads_only": True,
            "incident": incident.pk,
            "summary": alerts[-1].text if verb == "incident.alerted" else incident.summary,
        }
        transaction.on_commit(lambda: event_publish("crisis.alert", payload))
        if verb == "incident.opened":
            pk = incident.pk
            transaction.on_commit(lambda: current_app.send_task(EMAIL_TASK, args=[pk]), robust=True)
    return incident


def incident_email_send(*, incident: Incident) -> int:
    """The opening email: what the radar saw, what crisis mode did, and the incident page's link. Returns
    the number of recipients (``incident_recipients``)."""
    recipients = incident_recipients(incident)
    if not recipients:
        return 0
    where = incident.channel.handle if incident.channel else incident.segment.name if incident.segment else ""
    mode = {
        Incident.CrisisMode.SUGGESTED: "Crisis mode is suggested: a lead switches it on from the page.",
        Incident.CrisisMode.ON: "Crisis mode was switched on by the segment's policy.",
    }.get(incident.crisis_mode, "Crisis mode is unchanged.")
    body = "\n".join(
        [
            f"The crisis radar opened incident {incident.pk}{f' on {where}' if where else ''}.",
            "",
            incident.summary,
            "",
            mode,
            f"Open it: {settings.SOCIALOPS_BASE_URL}{reverse('crisis:incident', args=[incident.pk])}",
        ]
    )
    subject = f"[socialops] Crisis radar: incident {incident.pk}{f' on {where}' if where else ''}"
    send_mail(subject[:200], body, None, recipients)
    return len(recipients)
