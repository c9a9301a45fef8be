"""Auto-assignment: round-robin and load-balanced within capacity, oldest first; away; reopen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from foundation.models import DomainEvent
from inbox.actions.assignment import member_set_away, mentions_auto_assign
from inbox.actions.triage import mention_close, mention_reopen
from inbox.models import Mention
from teams.models import Membership, Team
from tests.factories import MembershipFactory, MentionFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def queued(team: Team, n: int, *, start_minutes: int = 100) -> list[Mention]:
    """n unassigned mentions, oldest first."""
    now = timezone.now()
    return [
        MentionFactory(team=team, created_at=now - timedelta(minutes=start_minutes - i)) for i in range(n)
    ]


def people(team: Team, n: int, *, capacity: int = 20) -> list:
    return [
        MembershipFactory(team=team, capacity=capacity, user__username=f"p{team.pk}-{i}").user
        for i in range(n)
    ]


def assignees(mentions: list[Mention]) -> list[int | None]:
    return [Mention.objects.get(pk=m.pk).assignee_id for m in mentions]


def test_manual_teams_are_left_alone():
    team = TeamFactory(assignment=Team.Assignment.MANUAL)
    people(team, 2)
    mentions = queued(team, 3)

    assert mentions_auto_assign() == {}
    assert assignees(mentions) == [None, None, None]


def test_round_robin_takes_turns_oldest_first_and_continues_where_it_stopped():
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN)
    a, b, c = people(team, 3)
    first = queued(team, 4)

    mentions_auto_assign()
    later = queued(team, 2, start_minutes=10)
    mentions_auto_assign()

    assert assignees(first) == [a.pk, b.pk, c.pk, a.pk]
    assert assignees(later) == [b.pk, c.pk]
    assert Mention.objects.get(pk=first[0].pk).status == Mention.Status.OPEN


def test_round_robin_skips_people_who_are_full_or_away():
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN)
    a, b, c = people(team, 3, capacity=2)
    MentionFactory(team=team, assignee=a, status=Mention.Status.OPEN)
    MentionFactory(team=team, assignee=a, status=Mention.Status.OPEN)  # a is full
    Membership.objects.filter(user=c).update(is_away=True)
    mentions = queued(team, 3)

    mentions_auto_assign()

    # Only b has room (2), so the third mention waits in the queue.
    assert assignees(mentions) == [b.pk, b.pk, None]


def test_spam_is_handed_to_nobody_and_counts_in_nobodys_load():
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN)
    (a,) = people(team, 1, capacity=1)
    MentionFactory(team=team, assignee=a, status=Mention.Status.OPEN, intent="spam")  # handed out before
    spam, ham = queued(team, 2)
    Mention.objects.filter(pk=spam.pk).update(intent="spam")

    mentions_auto_assign()

    assert assignees([spam, ham]) == [None, a.pk]


def test_load_balanced_gives_each_mention_to_whoever_has_most_room():
    team = TeamFactory(assignment=Team.Assignment.LOAD_BALANCED)
    a, b = people(team, 2, capacity=10)
    for _ in range(3):
        MentionFactory(team=team, assignee=a, status=Mention.Status.OPEN)
    mentions = queued(team, 5)

    mentions_auto_assign()

    # b starts at 0 of 10 and a at 3 of 10: b gets three before a gets one, then they alternate.
    assert assignees(mentions) == [b.pk, b.pk, b.pk, a.pk, b.pk]


def test_burst_never_goes_past_anyones_capacity():
    team = TeamFactory(assignment=Team.Assignment.LOAD_BALANCED)
    crew = people(team, 4, capacity=5)
    mentions = queued(team, 30)

    chosen = mentions_auto_assign()

    assert len(chosen) == 20
    loads = [Mention.objects.filter(assignee=p).count() for p in crew]
    assert loads == [5, 5, 5, 5]
    # Oldest first: the ten that wait are the newest ten.
    assert assignees(mentions[20:]) == [None] * 10
    assert DomainEvent.objects.filter(verb="mention.auto_assigned").count() == 20


def test_only_the_given_mentions_when_the_ingest_asks():
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN)
    (a,) = people(team, 1)
    old, new = queued(team, 2)

    mentions_auto_assign(mention_ids=[new.pk])

    assert assignees([old, new]) == [None, a.pk]


def test_going_away_returns_open_mentions_to_the_queue_and_others_get_them():
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN)
    a, b = people(team, 2)
    held = [MentionFactory(team=team, assignee=a, status=Mention.Status.OPEN) for _ in range(2)]
    done = MentionFactory(team=team, assignee=a, status=Mention.Status.CLOSED)

    returned = member_set_away(actor=a, user=a, is_away=True)

    assert sorted(returned) == sorted(m.pk for m in held)
    assert assignees(held) == [b.pk, b.pk]
    assert assignees([done]) == [a.pk]  # closed work keeps its history
    assert Membership.objects.get(user=a).is_away is True


def test_an_agent_cannot_set_someone_else_away():
    team = TeamFactory()
    a, b = people(team, 2)

    with pytest.raises(PermissionError):
        member_set_away(actor=a, user=b, is_away=True)
    assert Membership.objects.get(user=b).is_away is False


def test_a_lead_can_set_a_member_away():
    team = TeamFactory()
    (member,) = people(team, 1)
    lead = MembershipFactory(team=team, role=Membership.Role.LEAD).user

    member_set_away(actor=lead, user=member, is_away=True)

    assert Membership.objects.get(user=member).is_away is True


def test_a_reopened_mention_goes_back_to_its_last_assignee_when_available():
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN)
    a, _b = people(team, 2)
    mention = MentionFactory(team=team, assignee=a, status=Mention.Status.OPEN)
    mention_close(actor=a, mention=mention)

    reopened = mention_reopen(actor=a, mention=mention)

    assert reopened.assignee_id == a.pk


def test_a_reopened_mention_whose_assignee_is_away_goes_to_someone_available():
    team = TeamFactory(assignment=Team.Assignment.ROUND_ROBIN)
    a, b = people(team, 2)
    mention = MentionFactory(team=team, assignee=a, status=Mention.Status.CLOSED)
    Membership.objects.filter(user=a).update(is_away=True)
    lead = UserFactory(admin=True)

    reopened = mention_reopen(actor=lead, mention=mention)

    assert reopened.assignee_id == b.pk
