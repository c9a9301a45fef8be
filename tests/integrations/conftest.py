"""Webhook tests send to a real receiver on 127.0.0.1, which the address rule (SSRF) refuses by default."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from integrations.models import WebhookDelivery
from integrations.webhooks import SubscriptionFields, webhook_subscription_create, webhooks_fan_out
from tests.integrations.receiver import Receiver
from tests.integrations.scripted import Receiver as Scripted
from tests.integrations.scripted import local_receiver

# The fan-out reads only events of transactions older than every one of this database still running: the
# workers' and this process's own can hold an event back for a moment.
FANOUT_WAIT_SECONDS = 60


@pytest.fixture(autouse=True)
def _private_allowed(settings) -> None:
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def subscribe(url: str, *, actor=None, **fields):
    """A subscription through the service, as the admin page makes it; returns (subscription, secret)."""
    return webhook_subscription_create(
        actor=actor,
        fields=SubscriptionFields(
            name=fields.pop("name", "Hook"), url=url, event_types=fields.pop("event_types", ["*"]), **fields
        ),
    )


# What the admin's own actions on subscriptions record: every "*" subscription receives them too.
ADMIN_EVENTS = (
    "webhook.created",
    "webhook.updated",
    "webhook.paused",
    "webhook.resumed",
    "webhook.secret_rotated",
)


def event_deliveries():
    """The deliveries of events other than the admin's actions on subscriptions."""
    return WebhookDelivery.objects.exclude(event_id=None).exclude(event_type__in=ADMIN_EVENTS)


def fan_out_until(count: int, *, timeout: float = FANOUT_WAIT_SECONDS) -> int:
    """Run the fan-out until ``count`` event deliveries exist (see FANOUT_WAIT_SECONDS); returns how many
    deliveries it made in all."""
    made = 0
    deadline = time.monotonic() + timeout
    while event_deliveries().count() < count:
        assert time.monotonic() < deadline, f"only {event_deliveries().count()} of {count} deliveries made"
        made += webhooks_fan_out()
        time.sleep(0.05)
    return made


@pytest.fixture
def desk() -> Iterator[Scripted]:
    """A scripted local server standing in for HubSpot, a helpdesk's endpoint or Slack."""
    with local_receiver() as state:
        yield state


@pytest.fixture
def allow_private(settings) -> None:
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = True
