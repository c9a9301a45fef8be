from __future__ import annotations

import pytest

from teams.models import Membership
from tests.factories import AuthorFactory, MembershipFactory, TeamFactory, UserFactory


@pytest.fixture
def care():
    return TeamFactory(name="Care", slug="care")


@pytest.fixture
def sales():
    return TeamFactory(name="Sales", slug="sales")


@pytest.fixture
def agent(care):
    return MembershipFactory(team=care, role=Membership.Role.AGENT, user=UserFactory(username="agent")).user


@pytest.fixture
def admin_user():
    return UserFactory(username="boss", admin=True)


@pytest.fixture
def ann_x():
    return AuthorFactory(network="x", handle="ann_lee", display_name="Ann Lee", external_id="x-ann")


@pytest.fixture
def ann_masto():
    return AuthorFactory(
        network="mastodon", handle="ann_lee@mastodon.social", display_name="Ann Lee", external_id="m-ann"
    )
