"""A routing rule's hand_off action: compiled into a notification, and routing's follow-up task sends it
to the integrations' task by name (read back from the real Redis queue)."""

from __future__ import annotations

import base64
import json

import pytest
import redis
from django.conf import settings

from inbox.tasks import notification_send_task
from routing.facts import Notification
from routing.rules import RoutingContext, RuleError, compile_rule_set
from tests.factories import MentionFactory

CONTEXT = RoutingContext(teams=frozenset({"care"}), segments={"customer-relations": "care"})


def rule(then: list) -> dict:
    return {"id": 1, "name": "Recall", "enabled": True, "when": {"keywords": ["recall"]}, "then": then}


def test_a_hand_off_action_compiles_into_a_handoff_notification():
    [compiled] = compile_rule_set([rule([{"hand_off": " helpdesk "}])], CONTEXT).rules

    assert compiled.notifications == (Notification("handoff", "helpdesk"),)


def test_a_hand_off_without_an_integration_is_refused():
    with pytest.raises(RuleError) as refused:
        compile_rule_set([rule([{"hand_off": ""}])], CONTEXT)

    assert str(refused.value) == "rules[0].then[0].hand_off: expected a hand-off integration, got ''"


@pytest.mark.django_db
def test_routing_follow_up_queues_the_integrations_task_by_name():
    mention = MentionFactory()
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue.delete("celery")

    notification_send_task(mention.pk, "handoff", "helpdesk")

    [raw] = queue.lrange("celery", 0, -1)
    message = json.loads(raw)
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert (message["headers"]["task"], args, kwargs) == (
        "integrations.tasks.mention_hand_off_by_rule",
        [mention.pk, "helpdesk"],
        {},
    )
    queue.delete("celery")
