"""The integration tasks as the worker runs them: retries until the attempts run out, and the sweeps that
queue again what lost its task (read back from the real Redis queue)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from channels.crypto import encrypt_json
from integrations.handoff.services import handoffs_resend
from integrations.models import HandOff, HandOffIntegration, SlackMessage, SlackNotifier
from integrations.slack import slack_messages_resend
from integrations.tasks import handoff_send_task
from tests.factories import MentionFactory, segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    yield broker
    broker.delete("celery")


def queued(broker) -> list[tuple[str, list]]:
    messages = [json.loads(raw) for raw in reversed(broker.lrange("celery", 0, -1))]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in messages]


@pytest.mark.usefixtures("allow_private")
def test_a_helpdesk_that_keeps_failing_is_tried_six_times_then_the_hand_off_fails(desk):
    helpdesk = HandOffIntegration.objects.create(
        name="Desk", slug="desk", kind="generic", config={"url": f"{desk.url}/cases"}
    )
    handoff = HandOff.objects.create(mention=MentionFactory(), integration=helpdesk)
    for _ in range(7):
        desk.answer(503, {"error": "down"})

    handoff_send_task.apply(args=[handoff.pk])  # eager: each retry runs at once, without its wait

    handoff.refresh_from_db()
    assert (handoff.state, handoff.attempts, handoff.error) == (
        "failed",
        6,
        "The endpoint answered 503; trying again later.",
    )
    assert len(desk.requests) == 6


def test_hand_offs_and_messages_that_lost_their_task_are_queued_again(
    queue, django_capture_on_commit_callbacks
):
    desk = HandOffIntegration.objects.create(name="Desk", slug="desk", kind="generic", config={})
    stale = timezone.now() - timedelta(minutes=5)
    lost = HandOff.objects.create(mention=MentionFactory(), integration=desk, updated_at=stale)
    HandOff.objects.create(mention=MentionFactory(), integration=desk)  # just queued: its task is on the way
    HandOff.objects.create(mention=MentionFactory(), integration=desk, updated_at=stale, state="linked")
    hook = SlackNotifier.objects.create(
        team=segment("customer-relations").team,
        name="care",
        webhook_url=encrypt_json({"url": "https://h.example/x"}),
    )
    old = SlackMessage.objects.create(notifier=hook, event_id=1, payload={}, created_at=stale)
    SlackMessage.objects.create(notifier=hook, event_id=2, payload={})
    SlackMessage.objects.create(notifier=hook, event_id=3, payload={}, created_at=stale, state="sent")

    with django_capture_on_commit_callbacks(execute=True):
        assert handoffs_resend() == [lost.pk]
    assert slack_messages_resend() == [old.pk]

    assert queued(queue) == [
        ("integrations.tasks.handoff_send", [lost.pk]),
        ("integrations.tasks.slack_message_send", [old.pk]),
    ]
