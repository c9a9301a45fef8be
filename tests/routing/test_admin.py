"""Rules in the Django admin: a rule that does not compile is refused with the part that is wrong named, and
every saved change publishes a new rule-set version."""

from __future__ import annotations

import json

import pytest

from routing.models import Rule, RuleSetVersion
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.login(username=user.username, password=DEFAULT_PASSWORD)
    return client


def form(name: str, when: object, then: object) -> dict[str, str]:
    return {
        "position": "10",
        "name": name,
        "enabled": "on",
        "when": json.dumps(when),
        "then": json.dumps(then),
    }


def test_a_rule_with_a_bad_regular_expression_is_refused_naming_it(admin_client) -> None:
    response = admin_client.post(
        "/django-admin/routing/rule/add/",
        form(
            "Order numbers",
            {"all": [{"keywords": ["order"]}, {"regex": "NW-(\\d+"}]},
            [{"set_priority": "high"}],
        ),
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "when.all[1].regex" in body
    assert not Rule.objects.exists()
    assert not RuleSetVersion.objects.exists()


def test_a_rule_naming_an_unknown_team_is_refused(admin_client) -> None:
    response = admin_client.post(
        "/django-admin/routing/rule/add/",
        form("Lost", {"keywords": ["refund"]}, [{"route_to_team": "no-such-team"}]),
    )

    assert response.status_code == 200
    assert "no-such-team" in response.content.decode()
    assert not Rule.objects.exists()


def test_a_good_rule_is_saved_and_published(admin_client) -> None:
    response = admin_client.post(
        "/django-admin/routing/rule/add/",
        form("Refunds are urgent", {"keywords": ["refund"]}, [{"set_priority": "urgent"}]),
    )

    assert response.status_code == 302
    rule = Rule.objects.get()
    version = RuleSetVersion.objects.get()
    assert version.rules == [rule.as_spec()]
