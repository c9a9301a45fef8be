"""Who may act: the one policy (``foundation.access``) over the ``Actor`` that ``teams.roles`` builds, and the
re-route of a mention no team owns, which anyone could do before."""

from __future__ import annotations

import pytest

from foundation.access import (
    SYSTEM,
    Actor,
    may_answer_escalation,
    may_lead,
    may_reroute,
    may_set_away,
    may_work_on,
)
from foundation.models import DomainEvent
from inbox.actions.base import TriageError
from inbox.actions.routing import mention_reroute
from inbox.actions.triage import mentions_bulk_apply
from inbox.models import Mention
from routing.models import Correction
from teams.models import Membership
from teams.roles import actor_of
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment

AGENT = Actor(user_id=1, team_ids=frozenset({10}))
LEAD = Actor(user_id=2, team_ids=frozenset({10}), led_team_ids=frozenset({10}))
ADMIN = Actor(user_id=3, is_admin=True)


@pytest.mark.parametrize(
    ("actor", "team_id", "expected"),
    [(AGENT, 10, True), (AGENT, 11, False), (AGENT, None, False), (ADMIN, 11, True), (ADMIN, None, True)],
)
def test_who_works_on_a_mention(actor: Actor, team_id: int | None, expected: bool) -> None:
    assert may_work_on(actor, team_id=team_id) is expected
    assert may_answer_escalation(actor, to_team_id=team_id) is expected


@pytest.mark.parametrize(
    ("actor", "team_id", "expected"),
    [(AGENT, 10, False), (LEAD, 10, True), (LEAD, 11, False), (ADMIN, 11, True)],
)
def test_who_leads_a_team(actor: Actor, team_id: int, expected: bool) -> None:
    assert may_lead(actor, team_id=team_id) is expected


@pytest.mark.parametrize(
    ("actor", "team_id", "receiving", "expected"),
    [
        (AGENT, 10, {11}, True),  # its team's member
        (AGENT, 11, {10}, False),  # another team's mention, whoever received it
        (AGENT, None, {10}, True),  # no team: a member of the receiving channel's team
        (LEAD, None, {10, 12}, True),
        (AGENT, None, {11}, False),  # no team, received by another team's channel
        (AGENT, None, set(), False),  # no team, no receiving channel
        (ADMIN, None, set(), True),
    ],
)
def test_who_reroutes(actor: Actor, team_id: int | None, receiving: set[int], expected: bool) -> None:
    assert may_reroute(actor, team_id=team_id, receiving_team_ids=receiving) is expected


def test_who_marks_someone_away() -> None:
    assert may_set_away(AGENT, user_id=1, user_team_ids={10}) is True  # themselves
    assert may_set_away(AGENT, user_id=9, user_team_ids={10}) is False
    assert may_set_away(LEAD, user_id=9, user_team_ids={10}) is True
    assert may_set_away(LEAD, user_id=9, user_team_ids={11}) is False
    assert may_set_away(ADMIN, user_id=9, user_team_ids=set()) is True


@pytest.mark.django_db
def test_the_actor_of_a_user_names_their_teams_and_leads() -> None:
    care, crisis = segment("customer-relations").team, segment("crisis-management").team
    membership = MembershipFactory(team=care, role=Membership.Role.LEAD)
    MembershipFactory(team=crisis, user=membership.user)

    assert actor_of(membership.user) == Actor(
        user_id=membership.user.pk,
        is_admin=False,
        team_ids=frozenset({care.pk, crisis.pk}),
        led_team_ids=frozenset({care.pk}),
    )
    assert actor_of(UserFactory(admin=True)).is_admin is True
    assert actor_of(None) == SYSTEM


@pytest.fixture
def teamless() -> Mention:
    # Routing found no team for it; it arrived on a customer-relations account.
    channel = ChannelFactory(segment=segment("customer-relations"))
    return MentionFactory(team=None, on_channels=[channel], intent="other")


@pytest.mark.django_db
def test_an_agent_of_another_team_cannot_reroute_a_mention_no_team_owns(teamless: Mention) -> None:
    crisis = segment("crisis-management").team
    outsider = MembershipFactory(team=crisis).user

    with pytest.raises(TriageError, match="belongs to another team"):
        mention_reroute(actor=outsider, mention=teamless, team=crisis, reason="mine now")
    result = mentions_bulk_apply(actor=outsider, mentions=[teamless], action="reroute", team=crisis)

    assert (result.done, result.skipped) == ([], {teamless.pk: "belongs to another team"})
    assert Mention.objects.get(pk=teamless.pk).team_id is None
    assert not Correction.objects.exists()
    assert not DomainEvent.objects.filter(verb="mention.rerouted").exists()


@pytest.mark.django_db
def test_someone_with_no_team_cannot_reroute_a_mention_no_team_owns(teamless: Mention) -> None:
    with pytest.raises(TriageError, match="belongs to another team"):
        mention_reroute(actor=UserFactory(), mention=teamless, team=segment("crisis-management").team)

    assert Mention.objects.get(pk=teamless.pk).team_id is None
    assert not Correction.objects.exists()


@pytest.mark.parametrize("who", ["member", "lead", "admin"])
@pytest.mark.django_db
def test_the_receiving_team_and_admins_may_reroute_a_mention_no_team_owns(
    teamless: Mention, who: str
) -> None:
    care, crisis = segment("customer-relations").team, segment("crisis-management").team
    actor = {
        "member": lambda: MembershipFactory(team=care).user,
        "lead": lambda: MembershipFactory(team=care, role=Membership.Role.LEAD).user,
        "admin": lambda: UserFactory(admin=True),
    }[who]()

    moved = mention_reroute(actor=actor, mention=teamless, team=crisis, reason="theirs")

    assert moved.team_id == crisis.pk
    assert list(Correction.objects.values_list("team_before_id", "team_after_id", "user_id")) == [
        (None, crisis.pk, actor.pk)
    ]
    assert list(DomainEvent.objects.filter(verb="mention.rerouted").values_list("before", "after")) == [
        ({"team": None, "intent": "other"}, {"team": crisis.pk, "intent": "other"})
    ]
