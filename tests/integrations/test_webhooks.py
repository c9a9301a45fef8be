"""The fan-out: each committed domain event becomes one delivery per matching active subscription, exactly
once, with the version 1 payload; and the subscription's secrets through a rotation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from foundation.events import event_record
from foundation.models import DomainEvent
from inbox.models import Mention
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.webhooks import (
    subscription_secrets,
    webhook_secret_rotate,
    webhook_subscription_pause,
    webhooks_fan_out,
)
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, TeamFactory, segment
from tests.integrations.conftest import event_deliveries, fan_out_until, subscribe

pytestmark = pytest.mark.usefixtures("six_segments")

URL = "http://127.0.0.1:9/hook"  # never called here


def record(verb: str, obj, **kwargs) -> DomainEvent:
    with transaction.atomic():
        return event_record(actor=kwargs.pop("actor", None), verb=verb, obj=obj, **kwargs)


@pytest.fixture
def world():
    care, sales = TeamFactory(slug="care", name="Care"), TeamFactory(slug="sales", name="Sales")
    ada = MembershipFactory(team=care, user__username="ada").user
    care_channel = ChannelFactory(slug="brand-care", handle="@brand_care")
    sales_channel = ChannelFactory(
        slug="brand-sales", handle="@brand_sales", segment=segment("product-promotion")
    )
    angry = MentionFactory(
        team=care,
        intent="complaint",
        priority=Mention.Priority.HIGH,
        on_channels=[care_channel],
        text="Broken!",
    )
    happy = MentionFactory(team=sales, intent="praise", on_channels=[sales_channel], text="Love it")
    return {
        "care": care,
        "sales": sales,
        "ada": ada,
        "care_channel": care_channel,
        "angry": angry,
        "happy": happy,
    }


def delivered_pairs() -> set[tuple[str, str, int | None]]:
    return set(event_deliveries().values_list("subscription__name", "event_type", "mention_id"))


def test_each_event_goes_to_every_matching_subscription_once(world):
    angry, happy = world["angry"], world["happy"]
    subscribe(URL, name="all")
    subscribe(URL, name="closed only", event_types=["mention.closed"])
    subscribe(URL, name="care team", team=world["care"])
    subscribe(URL, name="promotion segment", segment=segment("product-promotion"))
    subscribe(URL, name="care channel", channel=world["care_channel"])
    subscribe(URL, name="praise", intent="praise")
    subscribe(URL, name="high or urgent", min_priority=Mention.Priority.HIGH)
    paused, _ = subscribe(URL, name="paused")
    webhook_subscription_pause(actor=None, subscription=paused, reason="by hand")

    record("mention.assigned", angry, actor=world["ada"])
    record("mention.closed", happy)
    record("team.member_added", world["care"], teams=[world["care"].pk])
    fan_out_until(10)

    assert delivered_pairs() == {
        ("all", "mention.assigned", angry.pk),
        ("all", "mention.closed", happy.pk),
        ("all", "team.member_added", None),
        ("care team", "team.member_added", None),
        ("closed only", "mention.closed", happy.pk),
        ("care team", "mention.assigned", angry.pk),
        ("promotion segment", "mention.closed", happy.pk),
        ("care channel", "mention.assigned", angry.pk),
        ("praise", "mention.closed", happy.pk),
        ("high or urgent", "mention.assigned", angry.pk),
    }
    assert event_deliveries().count() == 10
    assert not WebhookDelivery.objects.filter(subscription=paused).exists()


def test_the_fan_out_is_exactly_once_however_often_it_runs(world):
    subscription, _ = subscribe(URL)
    events = [record("mention.assigned", world["angry"]) for _ in range(5)]
    fan_out_until(5)

    again = webhooks_fan_out() + webhooks_fan_out()

    assert again == 0
    assert list(event_deliveries().order_by("id").values_list("event_id", flat=True)) == [
        e.pk for e in events
    ]
    assert event_deliveries().filter(subscription=subscription).count() == 5


def test_events_before_the_first_subscription_are_not_sent(world):
    record("mention.closed", world["happy"])
    subscribe(URL)
    after = record("mention.assigned", world["angry"])
    fan_out_until(1)

    assert list(event_deliveries().values_list("event_id", flat=True)) == [after.pk]


def test_the_payload_is_version_1_with_the_mention_its_routing_and_a_link(world, settings):
    settings.SOCIALOPS_BASE_URL = "https://inbox.example.com"
    angry = world["angry"]
    Mention.objects.filter(pk=angry.pk).update(
        decision={
            "segment": "customer-relations",
            "team": "care",
            "intent": "complaint",
            "explanation": ["Said broken."],
        },
        sentiment=-0.7,
        sentiment_label="negative",
    )
    subscribe(URL, event_types=["mention.assigned"])
    event = record(
        "mention.assigned", angry, actor=world["ada"], before={"assignee": None}, after={"assignee": "ada"}
    )
    fan_out_until(1)

    payload = event_deliveries().get().payload

    assert payload == {
        "version": 1,
        "id": event.pk,
        "type": "mention.assigned",
        "occurred_at": event.created_at.isoformat(),
        "actor": {"id": world["ada"].pk, "username": "ada", "name": "ada"},
        "object": {"type": "inbox.mention", "id": str(angry.pk), "repr": str(angry)},
        "mention": {
            "id": angry.pk,
            "text": "Broken!",
            "url": "",
            "link": f"https://inbox.example.com/inbox/mentions/{angry.pk}/",
            "network": "simulated",
            "kind": "mention",
            "created_at": angry.created_at.isoformat(),
            "author": {
                "handle": angry.author.handle,
                "display_name": angry.author.display_name,
                "followers": 0,
                "is_verified": False,
            },
            "channel": {"slug": "brand-care", "handle": "@brand_care"},
            "channels": ["brand-care"],
            "team": {"slug": "care", "name": "Care"},
            "segment": "customer-relations",
            "intent": "complaint",
            "sentiment": {"label": "negative", "score": -0.7},
            "priority": "high",
            "status": "new",
            "assignee": None,
            "labels": [],
        },
        "routing": {
            "routed_at": None,
            "decision": {"segment": "customer-relations", "team": "care", "intent": "complaint"},
            "explanation": ["Said broken."],
        },
        "before": {"assignee": None},
        "after": {"assignee": "ada"},
    }


def test_the_secret_is_stored_encrypted_and_a_rotation_signs_with_both_for_the_overlap(world, settings):
    settings.SOCIALOPS_WEBHOOKS_ROTATION_OVERLAP_HOURS = 24
    subscription, first = subscribe(URL)
    assert first not in subscription.secret_encrypted
    assert subscription_secrets(subscription) == [first]

    second = webhook_secret_rotate(actor=None, subscription=subscription)

    assert subscription_secrets(subscription) == [second, first]
    assert second not in WebhookSubscription.objects.get().secret_encrypted
    with time_machine.travel(timezone.now() + timedelta(hours=23, minutes=59)):
        assert subscription_secrets(subscription) == [second, first]
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        assert subscription_secrets(subscription) == [second]
    assert DomainEvent.objects.filter(verb="webhook.secret_rotated").count() == 1
