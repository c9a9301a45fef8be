"""People and mentions the API tests share: an agent and a lead of customer care, an agent of crisis
management, an admin; a mention of each of the two teams."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from inbox.models import Mention
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment


@pytest.fixture
def care_team():
    return segment("customer-relations").team


@pytest.fixture
def crisis_team():
    return segment("crisis-management").team


@pytest.fixture
def agent(care_team):
    return MembershipFactory(team=care_team, user__username="ada", user__first_name="Ada").user


@pytest.fixture
def lead(care_team):
    return MembershipFactory(team=care_team, role=Membership.Role.LEAD, user__username="lee").user


@pytest.fixture
def crisis_agent(crisis_team):
    return MembershipFactory(team=crisis_team, user__username="cris").user


@pytest.fixture
def admin():
    return UserFactory(username="root", admin=True)


@pytest.fixture
def care_channel():
    return ChannelFactory(slug="northwind-help", segment=segment("customer-relations"))


@pytest.fixture
def crisis_channel():
    return ChannelFactory(slug="northwind-news", segment=segment("crisis-management"))


@pytest.fixture
def care_mention(care_team, care_channel) -> Mention:
    return MentionFactory(team=care_team, on_channels=[care_channel], text="Where is my order?")


@pytest.fixture
def crisis_mention(crisis_team, crisis_channel) -> Mention:
    return MentionFactory(team=crisis_team, on_channels=[crisis_channel], text="Is the recall true?")


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """A client authenticated as the given user (or anonymous without one)."""

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for
