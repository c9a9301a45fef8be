"""Sending webhook deliveries: claim the due ones, POST them signed, record how it went, retry with backoff.

A run claims up to ``CLAIM_BATCH`` due deliveries in a short transaction (``select_for_update`` with
``skip_locked``, so workers running side by side take different rows) by moving each row's
``next_attempt_at`` a lease ahead; the POSTs then go out from a thread pool *outside* any transaction (a
transaction held open over slow receivers would hold back every consumer of the domain events, which read
only below the oldest running transaction). The results are written only to rows still carrying this run's
lease mark. A worker killed mid-delivery therefore loses nothing: its rows become due again when the lease
runs out, and are sent again (at least once; receivers deduplicate on ``Socialops-Webhook-Id``).

Order: a delivery is due only when no earlier delivery of the same subscription and mention is still open
(pending or failed), so a receiver sees a mention's events in the order they happened, with a stuck one
holding back only that mention's later events.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from integrations.delivery_wake import deliveries_wake, deliveries_wake_at
from integrations.destinations import Destination, DestinationRefused, destination_check
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.signing import SIGNATURE_HEADER, signature_header
from integrations.webhooks import subscription_secrets, webhook_subscription_pause

logger = logging.getLogger(__name__)

ID_HEADER = "Socialops-Webhook-Id"
EVENT_HEADER = "Socialops-Event-Type"
USER_AGENT = "socialops-webhooks/1"
CLAIM_BATCH = 200  # rows a run sends at once; more would only lengthen the lease a killed worker leaves
SEND_THREADS = 8  # concurrent POSTs per worker process; more cost more CPU than they save (GIL) locally
RESPONSE_READ_BYTES = 4096  # of a receiver's answer read at most, whatever it sends
EXCERPT_CHARS = 1000  # of it kept in the delivery log
MAX_BACKOFF_SECONDS = 3600.0  # an hour between attempts at most: a receiver back up is not kept waiting long
MIN_BACKOFF_SECONDS = 1.0  # a draw near zero would retry within the same run, as if it had not failed
RUN_SECONDS = 2.0  # a run hands over to a fresh task after this, so one busy run cannot hog a worker
# Connect 5 s; the request and each read of the answer 5 s more, and the body is read until 10 s in all.
TIMEOUT = httpx.Timeout(5.0, connect=5.0)
TOTAL_SECONDS = 10.0


def delivery_backoff_seconds(
    attempts: int, *, rng: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: "full jitter" (a uniform draw up to
    base x 2^(attempts-1), capped), so receivers coming back are not hit by every sender at once."""
    ceiling = min(MAX_BACKOFF_SECONDS, settings.SOCIALOPS_WEBHOOKS_RETRY_BASE_SECONDS * 2 ** (attempts - 1))
    return max(MIN_BACKOFF_SECONDS, rng(0.0, ceiling))


# --- Claiming -------------------------------------------------------------------------------------------


def deliveries_claim(*, limit: int = CLAIM_BATCH) -> tuple[list[WebhookDelivery], datetime]:
    """Take up to ``limit`` due deliveries for this run: each one's ``next_attempt_at`` moves to the lease's
    end, which is also this run's mark on it. Returns them (with their subscriptions) and the mark."""
    now = timezone.now()
    mark = now + timedelta(seconds=settings.SOCIALOPS_WEBHOOKS_LEASE_SECONDS)
    earlier_open = WebhookDelivery.objects.filter(
        subscription_id=OuterRef("subscription_id"),
        mention_id=OuterRef("mention_id"),
        id__lt=OuterRef("id"),
        state__in=WebhookDelivery.OPEN_STATES,
    )
    with transaction.atomic():
        rows = list(
            WebhookDelivery.objects.filter(
                state__in=WebhookDelivery.OPEN_STATES,
                next_attempt_at__lte=now,
                subscription__is_active=True,
            )
            .filter(~Exists(earlier_open))
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription")
            .order_by("next_attempt_at", "id")[:limit]
        )
        if rows:
            WebhookDelivery.objects.filter(pk__in=[r.pk for r in rows]).update(next_attempt_at=mark)
    return rows, mark


# --- Sending --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """How one POST went."""

    delivered: bool
    status_code: int | None
    response_ms: int
    excerpt: str
    error: str


_client_lock = threading.Lock()
_client: httpx.Client | None = None
_pool: ThreadPoolExecutor | None = None


def _http() -> tuple[httpx.Client, ThreadPoolExecutor]:
    """One client (keep-alive connections to receivers) and one thread pool per worker process."""
    global _client, _pool
    with _client_lock:
        if _client is None or _pool is None:
            _client = httpx.Client(
                timeout=TIMEOUT,
                follow_redirects=False,  # a redirect could lead anywhere, past the address check
                limits=httpx.Limits(max_connections=SEND_THREADS * 2, max_keepalive_connections=SEND_THREADS),
                trust_env=False,  # no proxy from the environment: the request goes to the checked address
            )
            _pool = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="webhooks")
    return _client, _pool


def delivery_body(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def delivery_send(
    client: httpx.Client, delivery: WebhookDelivery, *, secrets: list[str], destination: Destination | str
) -> Attempt:
    """POST one delivery, signed, to the checked address of its subscription's URL (``destination``: the
    address checked for this batch, or why it was refused)."""
    started = time.monotonic()
    if isinstance(destination, str):
        return Attempt(False, None, 0, "", f"refused: {destination}")
    body = delivery_body(delivery)
    default_port = 443 if destination.scheme == "https" else 80
    host = destination.host if destination.port == default_port else f"{destination.host}:{destination.port}"
    headers = {
        "Host": host,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        ID_HEADER: str(delivery.pk),
        EVENT_HEADER: delivery.event_type,
        SIGNATURE_HEADER: signature_header(secrets_=secrets, timestamp=int(time.time()), body=body),
    }
    extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
    try:
        with client.stream(
            "POST", destination.pinned_url, content=body, headers=headers, extensions=extensions
        ) as response:
            read = bytearray()
            for chunk in response.iter_raw():
                read += chunk
                if len(read) >= RESPONSE_READ_BYTES or time.monotonic() - started > TOTAL_SECONDS:
                    break
            elapsed = int((time.monotonic() - started) * 1000)
            excerpt = bytes(read[:RESPONSE_READ_BYTES]).decode("utf-8", "replace")[:EXCERPT_CHARS]
            delivered = 200 <= response.status_code < 300
            error = "" if delivered else f"the receiver answered {response.status_code}"
            return Attempt(delivered, response.status_code, elapsed, excerpt, error)
    except httpx.TimeoutException as exc:
        return Attempt(False, None, int((time.monotonic() - started) * 1000), "", f"timed out: {exc!r}")
    except httpx.HTTPError as exc:
        return Attempt(
            False, None, int((time.monotonic() - started) * 1000), "", f"could not connect: {exc!r}"
        )


# --- Recording ------------------------------------------------------------------------------------------


def attempts_record(*, deliveries: list[WebhookDelivery], attempts: list[Attempt], mark: datetime) -> None:
    """Write each attempt to its delivery (only where this run's lease mark still stands: a row taken over
    after an expired lease, or redelivered by hand meanwhile, belongs to someone else now), count the
    subscriptions' failures in a row, and pause those that failed too often."""
    now = timezone.now()
    pause_after = settings.SOCIALOPS_WEBHOOKS_PAUSE_AFTER_FAILURES
    to_pause: list[tuple[WebhookSubscription, int]] = []
    with transaction.atomic():
        ours = set(
            WebhookDelivery.objects.select_for_update()
            .filter(
                pk__in=[d.pk for d in deliveries], next_attempt_at=mark, state__in=WebhookDelivery.OPEN_STATES
            )
            .values_list("pk", flat=True)
        )
        changed = []
        streaks: dict[int, tuple[bool, int]] = {}  # subscription -> (a success in this batch, failures since)
        for delivery, attempt in sorted(zip(deliveries, attempts, strict=True), key=lambda p: p[0].pk):
            if delivery.pk not in ours:
                continue
            delivery.attempts += 1
            delivery.last_attempt_at = now
            delivery.last_status_code = attempt.status_code
            delivery.last_response_ms = attempt.response_ms
            delivery.response_excerpt = attempt.excerpt
            delivery.error = attempt.error
            succeeded, failures = streaks.get(delivery.subscription_id, (False, 0))
            if attempt.delivered:
                delivery.state = WebhookDelivery.State.DELIVERED
                delivery.delivered_at = now
                streaks[delivery.subscription_id] = (True, 0)
            else:
                retry_at = now + timedelta(seconds=delivery_backoff_seconds(delivery.attempts))
                if retry_at > delivery.retry_until:
                    delivery.state = WebhookDelivery.State.DEAD
                else:
                    delivery.state = WebhookDelivery.State.FAILED
                    delivery.next_attempt_at = retry_at
                streaks[delivery.subscription_id] = (succeeded, failures + 1)
            changed.append(delivery)
        _deliveries_write(changed)
        for subscription_id, (succeeded, failures) in streaks.items():
            count = failures if succeeded else F("consecutive_failures") + failures
            WebhookSubscription.objects.filter(pk=subscription_id).update(consecutive_failures=count)
        if streaks:
            for subscription in WebhookSubscription.objects.filter(
                pk__in=list(streaks), is_active=True, consecutive_failures__gte=pause_after
            ):
                to_pause.append((subscription, subscription.consecutive_failures))
    for subscription, count in to_pause:
        webhook_subscription_pause(
            actor=None,
            subscription=subscription,
            reason=f"Paused automatically after {count} failed deliveries in a row.",
        )


_RESULT_FIELDS = (
    "state",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_response_ms",
    "response_excerpt",
    "error",
    "delivered_at",
)


def _deliveries_write(deliveries: list[WebhookDelivery]) -> None:
    """Write the attempts' results: one UPDATE … FROM (VALUES …) on PostgreSQL, where Django's bulk_update
    (a CASE per column and row) cost more than sending the webhooks."""
    if not deliveries:
        return
    if connection.vendor != "postgresql":
        WebhookDelivery.objects.bulk_update(deliveries, _RESULT_FIELDS, batch_size=500)
        return
    from psycopg2.extras import execute_values

    table = WebhookDelivery._meta.db_table
    columns = ", ".join(f"{f} = v.{f}" for f in _RESULT_FIELDS)
    with connection.cursor() as cursor:
        execute_values(
            cursor.cursor,
            f"UPDATE {table} AS d SET {columns} FROM (VALUES %s) AS v(id, {', '.join(_RESULT_FIELDS)}) "  # noqa: S608
            "WHERE d.id = v.id",
            [(d.pk, *(getattr(d, f) for f in _RESULT_FIELDS)) for d in deliveries],
            template="(%s::bigint, %s, %s::smallint, %s::timestamptz, %s::timestamptz, %s::smallint, "
            "%s::integer, %s, %s, %s::timestamptz)",
            page_size=1000,
        )


def deliveries_send_due(*, limit: int = CLAIM_BATCH) -> int:
    """Claim, send and record one batch of due deliveries; returns how many were sent."""
    deliveries, mark = deliveries_claim(limit=limit)
    if not deliveries:
        return 0
    if len(deliveries) == limit:
        deliveries_wake()  # more are due: another worker can take the next batch meanwhile
    client, pool = _http()
    secrets_by_subscription: dict[int, list[str]] = {}
    destinations: dict[int, Destination | str] = {}
    for delivery in deliveries:
        if delivery.subscription_id not in secrets_by_subscription:
            secrets_by_subscription[delivery.subscription_id] = subscription_secrets(delivery.subscription)
            # Checked again for each batch: DNS may point elsewhere than when the URL was saved.
            try:
                destinations[delivery.subscription_id] = destination_check(delivery.subscription.url)
            except DestinationRefused as exc:
                destinations[delivery.subscription_id] = str(exc)
    futures = [
        pool.submit(
            delivery_send,
            client,
            delivery,
            secrets=secrets_by_subscription[delivery.subscription_id],
            destination=destinations[delivery.subscription_id],
        )
        for delivery in deliveries
    ]
    attempts = [future.result() for future in futures]
    attempts_record(deliveries=deliveries, attempts=attempts, mark=mark)
    return len(deliveries)


def next_retry_at() -> datetime | None:
    """When the earliest open delivery of an active subscription comes due."""
    return (
        WebhookDelivery.objects.filter(state__in=WebhookDelivery.OPEN_STATES, subscription__is_active=True)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def deliveries_run(*, seconds: float = RUN_SECONDS) -> int:
    """Send due deliveries batch after batch until none is due or ``seconds`` have passed; then make sure
    a run comes for what is left (now, or when the next retry is due). Returns how many were sent."""
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < seconds:
        batch = deliveries_send_due()
        sent += batch
        if not batch:
            break
    else:
        deliveries_wake()  # out of time with work left
        return sent
    upcoming = next_retry_at()
    # Further off than a minute, beat's sweep comes first anyway (and a long countdown would sit in a
    # worker's memory).
    if upcoming is not None and upcoming - timezone.now() < timedelta(seconds=60):
        deliveries_wake_at(upcoming)
    return sent
