"""Fixtures of the reply tests (test_replies, test_outbox, test_outbox_faults): a team with an agent and a
lead, the fake networks, and the send tasks handed to a list instead of the broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from inbox.tasks import reply_send_task
from teams.models import Membership, Team
from tests.factories import MembershipFactory, segment


@pytest.fixture
def team(db: None) -> Team:
    return segment("customer-relations").team


@pytest.fixture
def agent(team: Team) -> Any:
    return MembershipFactory(team=team, role=Membership.Role.AGENT).user


@pytest.fixture
def lead(team: Team) -> Any:
    return MembershipFactory(team=team, role=Membership.Role.LEAD).user


@pytest.fixture
def network() -> Iterator[responses.RequestsMock]:
    """The fake X and Mastodon APIs: every answer registered must be asked for, and nothing else."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The live events the reply service publishes (after commit)."""
    events: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        "inbox.actions.replies.event_publish", lambda kind, payload: events.append((kind, payload))
    )
    return events


@pytest.fixture
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Reply ids handed to the send task by triage, instead of to the broker."""
    ids: list[int] = []
    monkeypatch.setattr(reply_send_task, "apply_async", lambda args, **options: ids.append(args[0]))
    return ids
