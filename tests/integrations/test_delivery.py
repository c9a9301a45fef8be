"""Sending deliveries to a real receiver on 127.0.0.1: signed POSTs, the delivery log, per-mention order,
backoff, giving up, pausing after failures, redelivery, leases, and the address rule at sending time."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from django.db import transaction
from django.utils import timezone

from foundation.events import event_record
from foundation.models import DomainEvent
from integrations import delivery as delivery_module
from integrations.delivery import (
    EXCERPT_CHARS,
    deliveries_claim,
    deliveries_run,
    delivery_backoff_seconds,
    delivery_body,
)
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.signing import signature_verify
from integrations.webhooks import webhook_delivery_redeliver, webhook_subscription_resume
from tests.factories import MentionFactory, TeamFactory
from tests.integrations.conftest import event_deliveries, fan_out_until, subscribe

pytestmark = pytest.mark.usefixtures("six_segments")


@pytest.fixture(autouse=True)
def _slow_retries(settings) -> None:
    # Retries far off unless a test makes them due: each run below is one round of attempts.
    settings.SOCIALOPS_WEBHOOKS_RETRY_BASE_SECONDS = 1000


def events_about(mention, count: int, verb: str = "mention.assigned") -> list[DomainEvent]:
    recorded = []
    for n in range(count):
        with transaction.atomic():
            recorded.append(event_record(actor=None, verb=verb, obj=mention, after={"n": n}))
    return recorded


def retries_due_now() -> None:
    WebhookDelivery.objects.filter(state=WebhookDelivery.State.FAILED).update(next_attempt_at=timezone.now())


def test_a_delivery_is_posted_signed_with_its_id_and_logged(receiver):
    subscription, secret = subscribe(receiver.url, event_types=["mention.closed"])
    events_about(MentionFactory(), 1, verb="mention.closed")
    fan_out_until(1)

    sent = deliveries_run()

    delivery = event_deliveries().get()
    [got] = receiver.received
    assert sent == 1
    assert got.delivery_id == delivery.pk
    assert got.body == delivery_body(delivery)
    assert json.loads(got.body) == delivery.payload
    assert signature_verify(header=got.signature, body=got.body, secret=secret, now=int(time.time())) > 0
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.response_excerpt == '{"ok": true}'
    assert delivery.error == ""
    assert delivery.delivered_at is not None
    assert delivery.last_response_ms is not None
    assert WebhookSubscription.objects.get(pk=subscription.pk).consecutive_failures == 0


def test_a_later_event_of_a_mention_waits_for_the_earlier_one(receiver):
    first, second = MentionFactory(), MentionFactory()
    subscribe(receiver.url, event_types=["mention.assigned"])
    first_events = events_about(first, 3)
    second_events = events_about(second, 1)
    fan_out_until(4)
    receiver.mode = "fail"

    deliveries_run()

    # One attempt each for the first event of each mention; the later two of the first mention wait.
    assert sorted(r.event_id for r in receiver.received) == sorted([first_events[0].pk, second_events[0].pk])
    assert list(event_deliveries().order_by("id").values_list("state", "attempts")) == [
        ("failed", 1),
        ("pending", 0),
        ("pending", 0),
        ("failed", 1),
    ]

    receiver.mode = "ok"
    retries_due_now()
    deliveries_run()

    accepted = [r.event_id for r in receiver.accepted() if r.mention_id == first.pk]
    assert accepted == [e.pk for e in first_events]
    assert set(event_deliveries().values_list("state", flat=True)) == {"delivered"}


def test_the_backoff_doubles_with_full_jitter_up_to_an_hour(settings):
    settings.SOCIALOPS_WEBHOOKS_RETRY_BASE_SECONDS = 10

    ceilings = [delivery_backoff_seconds(n, rng=lambda low, high: high) for n in range(1, 12)]
    floors = [delivery_backoff_seconds(n, rng=lambda low, high: low) for n in range(1, 12)]
    drawn = [delivery_backoff_seconds(9) for _ in range(200)]

    assert ceilings == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
    assert floors == [1.0] * 11
    assert all(1.0 <= d <= 2560 for d in drawn)
    assert len(set(drawn)) > 150  # drawn, not fixed


def test_a_delivery_failing_past_the_retry_window_is_given_up(receiver, settings):
    settings.SOCIALOPS_WEBHOOKS_RETRY_HOURS = 0
    subscribe(receiver.url, event_types=["mention.closed"])
    events_about(MentionFactory(), 1, verb="mention.closed")
    fan_out_until(1)
    receiver.mode = "fail"

    deliveries_run()

    delivery = event_deliveries().get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("dead", 1, 500)
    assert delivery.error == "the receiver answered 500"
    assert len(delivery.response_excerpt) == EXCERPT_CHARS  # the receiver sent 10 KB; 4 KiB read, 1,000 kept
    assert len(receiver.received) == 1


def test_a_subscription_failing_too_often_in_a_row_is_paused_and_admins_are_told(receiver, settings):
    settings.SOCIALOPS_WEBHOOKS_PAUSE_AFTER_FAILURES = 3
    subscription, _ = subscribe(receiver.url, event_types=["mention.closed"])
    for mention in MentionFactory.create_batch(4):
        events_about(mention, 1, verb="mention.closed")
    fan_out_until(4)
    receiver.mode = "fail"

    deliveries_run()
    subscription.refresh_from_db()

    assert subscription.is_active is False
    assert subscription.consecutive_failures == 4
    assert subscription.paused_reason == "Paused automatically after 4 failed deliveries in a row."
    notice = DomainEvent.objects.get(verb="webhook.paused")
    assert (notice.actor, notice.object_id, notice.team_ids) == (None, str(subscription.pk), [])
    assert notice.after == {"reason": subscription.paused_reason}

    # Paused: its open deliveries wait, even when due.
    retries_due_now()
    assert deliveries_run() == 0

    receiver.mode = "ok"
    webhook_subscription_resume(actor=None, subscription=subscription)
    deliveries_run()
    subscription.refresh_from_db()
    assert set(event_deliveries().values_list("state", flat=True)) == {"delivered"}
    assert (subscription.is_active, subscription.consecutive_failures) == (True, 0)


def test_a_success_resets_the_failures_in_a_row(receiver, settings):
    settings.SOCIALOPS_WEBHOOKS_PAUSE_AFTER_FAILURES = 3
    subscription, _ = subscribe(receiver.url, event_types=["mention.closed"])
    mentions = MentionFactory.create_batch(2)
    events_about(mentions[0], 1, verb="mention.closed")
    fan_out_until(1)
    receiver.mode = "fail"
    deliveries_run()
    assert WebhookSubscription.objects.get(pk=subscription.pk).consecutive_failures == 1

    receiver.mode = "ok"
    retries_due_now()
    deliveries_run()

    assert WebhookSubscription.objects.get(pk=subscription.pk).consecutive_failures == 0


def test_redelivering_sends_the_same_delivery_again_with_the_same_id(receiver):
    subscribe(receiver.url, event_types=["mention.closed"])
    events_about(MentionFactory(), 1, verb="mention.closed")
    fan_out_until(1)
    deliveries_run()
    delivery = event_deliveries().get()

    webhook_delivery_redeliver(actor=None, delivery=delivery)
    deliveries_run()

    delivery.refresh_from_db()
    assert [r.delivery_id for r in receiver.received] == [delivery.pk, delivery.pk]
    assert receiver.received[0].body == receiver.received[1].body
    assert (delivery.state, delivery.attempts) == ("delivered", 2)


def test_deliveries_claimed_by_a_worker_that_died_are_sent_when_the_lease_runs_out(receiver, settings):
    settings.SOCIALOPS_WEBHOOKS_LEASE_SECONDS = 1
    subscribe(receiver.url, event_types=["mention.closed"])
    events_about(MentionFactory(), 1, verb="mention.closed")
    fan_out_until(1)
    claimed, _mark = deliveries_claim()  # ... and the worker dies before sending

    assert deliveries_run() == 0  # still leased
    time.sleep(1.2)
    assert deliveries_run() == 1

    assert [r.delivery_id for r in receiver.received] == [claimed[0].pk]
    assert event_deliveries().get().state == "delivered"


def test_a_result_for_a_row_taken_over_meanwhile_is_not_written(receiver):
    subscribe(receiver.url, event_types=["mention.closed"])
    events_about(MentionFactory(), 1, verb="mention.closed")
    fan_out_until(1)
    claimed, mark = deliveries_claim()
    WebhookDelivery.objects.filter(pk=claimed[0].pk).update(next_attempt_at=timezone.now())  # another claim

    delivery_module.attempts_record(
        deliveries=claimed,
        attempts=[delivery_module.Attempt(False, 500, 3, "", "the receiver answered 500")],
        mark=mark,
    )

    assert list(event_deliveries().values_list("state", "attempts")) == [("pending", 0)]


def test_the_address_is_checked_again_when_sending(receiver, settings):
    subscribe(receiver.url, event_types=["mention.closed"])
    events_about(MentionFactory(), 1, verb="mention.closed")
    fan_out_until(1)
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = False  # as if its name now resolved to a private address

    deliveries_run()

    delivery = event_deliveries().get()
    assert receiver.received == []
    assert delivery.state == "failed"
    assert delivery.error == (
        "refused: 127.0.0.1 resolves to 127.0.0.1 (a loopback address); socialops sends only to public "
        "addresses (SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE allows others)"
    )


def test_a_redirect_is_not_followed(receiver):
    subscribe(receiver.url, event_types=["mention.closed"])
    events_about(MentionFactory(), 1, verb="mention.closed")
    fan_out_until(1)
    receiver.mode = "redirect"

    deliveries_run()

    delivery = event_deliveries().get()
    assert len(receiver.received) == 1
    assert (delivery.state, delivery.last_status_code) == ("failed", 302)


def test_a_receiver_slower_than_the_timeout_is_a_failure(receiver, monkeypatch):
    monkeypatch.setattr(delivery_module, "TIMEOUT", httpx.Timeout(0.3))
    monkeypatch.setattr(delivery_module, "_client", None)  # a client with the short timeout
    subscribe(receiver.url, event_types=["mention.closed"])
    events_about(MentionFactory(team=TeamFactory()), 1, verb="mention.closed")
    fan_out_until(1)
    receiver.mode = "slow"
    receiver.slow_seconds = 1.0

    deliveries_run()

    delivery = event_deliveries().get()
    assert delivery.state == "failed"
    assert delivery.error.startswith("timed out")
    assert delivery.last_status_code is None
