"""Inbox reads: who sees which mention, the queues, every filter, full-text search, keyset pages, counts,
presence, the detail pane, saved views and the approvals list."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from foundation.models import DomainEvent
from inbox import selectors
from inbox.actions.base import TriageError
from inbox.actions.escalations import escalation_accept
from inbox.actions.triage import mention_close
from inbox.models import CannedResponse, Mention, Note, Reply, SavedView
from inbox.selectors import (
    InboxFilters,
    channels_visible_to,
    cursor_decode,
    cursor_encode,
    mention_detail,
    mention_get,
    mention_is_workable_by,
    mentions_for_inbox,
    mentions_visible_to,
    queue_counts,
    replies_awaiting_approval,
    reply_get,
    saved_views_for,
    teams_visible_to,
    viewers_of,
)
from routing.models import Escalation
from teams.models import Membership
from tests.factories import (
    AuthorFactory,
    ChannelFactory,
    MembershipFactory,
    MentionFactory,
    TeamFactory,
    UserFactory,
    segment,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher"
    ]  # users are made by the dozen


DAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BAD_CURSOR = "The page cursor is not valid; start again from the first page."


@pytest.fixture
def care():
    return segment("customer-relations").team


@pytest.fixture
def crisis():
    return segment("crisis-management").team


@pytest.fixture
def agent(care):
    return MembershipFactory(team=care, user__username="ada", user__first_name="Ada").user


@pytest.fixture
def teammate(care):
    return MembershipFactory(team=care, user__username="ben", user__first_name="Ben").user


@pytest.fixture
def lead(care):
    return MembershipFactory(team=care, role=Membership.Role.LEAD, user__username="lee").user


@pytest.fixture
def crisis_agent(crisis):
    return MembershipFactory(team=crisis, user__username="cris").user


@pytest.fixture
def admin():
    return UserFactory(username="root", admin=True)


@pytest.fixture
def care_channel():
    return ChannelFactory(slug="northwind-help", segment=segment("customer-relations"))


@pytest.fixture
def crisis_channel():
    return ChannelFactory(slug="northwind-news", segment=segment("crisis-management"))


def ids(mentions) -> set[int]:
    return {m.pk for m in mentions}


def escalate(mention: Mention, *, to, from_, state=Escalation.State.PENDING) -> Escalation:
    """A post routing sent from one team to another: the receiving team owns it while the escalation waits."""
    Mention.objects.filter(pk=mention.pk).update(team=to)
    mention.team = to
    return Escalation.objects.create(
        mention=mention, from_team=from_, to_team=to, reason="Misdirected", state=state
    )


def listed(user, **filters) -> set[int]:
    return ids(mentions_for_inbox(user=user, filters=InboxFilters(**filters), limit=500).mentions)


# --- Visibility ---------------------------------------------------------------------------------------------


def test_an_agent_sees_her_teams_mentions_and_nothing_else(agent, care, crisis):
    ours = MentionFactory(team=care)
    theirs = MentionFactory(team=crisis)
    unrouted = MentionFactory(team=None)

    assert ids(mentions_visible_to(user=agent)) == {ours.pk}
    assert mention_get(user=agent, mention_id=ours.pk) == ours
    with pytest.raises(Mention.DoesNotExist):
        mention_get(user=agent, mention_id=theirs.pk)
    with pytest.raises(Mention.DoesNotExist):
        mention_get(user=agent, mention_id=unrouted.pk)
    with pytest.raises(Mention.DoesNotExist):
        mention_get(user=agent, mention_id=theirs.pk, for_update=True)


def test_a_lead_sees_what_the_agents_of_their_team_see(lead, care, crisis):
    ours = MentionFactory(team=care)
    theirs = MentionFactory(team=crisis)

    assert ids(mentions_visible_to(user=lead)) == {ours.pk}
    assert mention_is_workable_by(user=lead, mention=ours) is True
    with pytest.raises(Mention.DoesNotExist):
        mention_get(user=lead, mention_id=theirs.pk)


def test_an_admin_sees_every_mention_and_may_work_on_each(admin, care, crisis):
    mentions = [MentionFactory(team=care), MentionFactory(team=crisis), MentionFactory(team=None)]

    assert ids(mentions_visible_to(user=admin)) == ids(mentions)
    assert [mention_get(user=admin, mention_id=m.pk) for m in mentions] == mentions
    assert [mention_is_workable_by(user=admin, mention=m) for m in mentions] == [True, True, True]


def test_someone_in_no_team_sees_nothing():
    loner = UserFactory(username="loner")
    MentionFactory(team=TeamFactory())

    assert list(mentions_visible_to(user=loner)) == []
    assert mentions_for_inbox(user=loner, filters=InboxFilters(queue="all")).mentions == []


def test_a_mention_sent_away_stays_visible_to_the_sender_but_only_the_owner_may_act(agent, care, crisis):
    mention = MentionFactory(team=care, status=Mention.Status.NEW)
    escalate(mention, to=crisis, from_=care)

    seen = mention_get(user=agent, mention_id=mention.pk)

    assert seen.team_id == crisis.pk
    assert mention_is_workable_by(user=agent, mention=seen) is False
    with pytest.raises(TriageError, match="Only members of the mention's team can do that"):
        mention_close(actor=agent, mention=seen)
    assert Mention.objects.get(pk=mention.pk).status == Mention.Status.NEW
    assert not DomainEvent.objects.exists()


def test_a_mention_escalated_to_a_lead_is_still_visible_to_the_team_that_sent_it(agent, care, crisis):
    mention = MentionFactory(team=care)
    escalate(mention, to=crisis, from_=care, state=Escalation.State.ESCALATED_TO_LEAD)

    assert ids(mentions_visible_to(user=agent)) == {mention.pk}


@pytest.mark.parametrize("state", [Escalation.State.ACCEPTED, Escalation.State.BOUNCED])
def test_once_the_other_team_decided_the_sender_no_longer_sees_it(agent, care, crisis, state):
    mention = MentionFactory(team=care)
    escalate(mention, to=crisis, from_=care, state=state)

    with pytest.raises(Mention.DoesNotExist):
        mention_get(user=agent, mention_id=mention.pk)


# --- Queues -------------------------------------------------------------------------------------------------


@pytest.fixture
def queues(agent, teammate, crisis_agent, admin, care, crisis):
    """One mention for each place a mention can be, as the care agent Ada sees them."""
    S = Mention.Status
    m = SimpleNamespace(
        mine_open=MentionFactory(team=care, assignee=agent, status=S.OPEN),
        mine_pending=MentionFactory(team=care, assignee=agent, status=S.PENDING),
        mine_snoozed=MentionFactory(
            team=care, assignee=agent, status=S.SNOOZED, snoozed_until=timezone.now() + timedelta(hours=1)
        ),
        mine_closed=MentionFactory(team=care, assignee=agent, status=S.CLOSED),
        new=MentionFactory(team=care, status=S.NEW),
        open=MentionFactory(team=care, status=S.OPEN),
        pending=MentionFactory(team=care, status=S.PENDING),
        teammates=MentionFactory(team=care, assignee=teammate, status=S.OPEN),
        closed=MentionFactory(team=care, status=S.CLOSED),
        escalated_in=MentionFactory(team=crisis, status=S.NEW),
        sent=MentionFactory(team=care, status=S.NEW),
        sent_accepted=MentionFactory(team=care, status=S.NEW),
        crisis=MentionFactory(team=crisis, status=S.NEW),
        crisis_snoozed=MentionFactory(team=crisis, status=S.SNOOZED),
        admins=MentionFactory(team=crisis, assignee=admin, status=S.OPEN),
        unrouted=MentionFactory(team=None, status=S.NEW),
        # Spam, as routing classifies it (still new, maybe handed to someone) and as an agent marks it.
        spam=MentionFactory(team=care, status=S.NEW, intent="spam", labels=["spam"]),
        mine_spam=MentionFactory(team=care, assignee=agent, status=S.OPEN, intent="spam"),
        closed_spam=MentionFactory(team=care, status=S.CLOSED, intent="spam", labels=["spam"]),
        crisis_spam=MentionFactory(team=crisis, status=S.NEW, intent="spam"),
    )
    escalate(m.escalated_in, to=care, from_=crisis)
    escalate(m.sent, to=crisis, from_=care)
    escalate(m.sent_accepted, to=crisis, from_=care, state=Escalation.State.ACCEPTED)
    return m


def pks(m: SimpleNamespace, *names: str) -> set[int]:
    return {getattr(m, name).pk for name in names}


AGENT_QUEUES = {
    "mine": ("mine_open", "mine_pending"),
    "team": ("new", "open", "escalated_in"),
    "escalated": ("escalated_in",),
    "sent": ("sent",),
    "snoozed": ("mine_snoozed",),
    "closed": ("mine_closed", "closed"),
    "spam": ("spam", "mine_spam", "closed_spam"),
    "all": (
        "mine_open",
        "mine_pending",
        "mine_snoozed",
        "mine_closed",
        "new",
        "open",
        "pending",
        "teammates",
        "closed",
        "escalated_in",
        "sent",
        "spam",
        "mine_spam",
        "closed_spam",
    ),
}


@pytest.mark.parametrize("queue", list(AGENT_QUEUES))
def test_each_queue_holds_exactly_its_mentions_for_an_agent(queues, agent, queue):
    assert listed(agent, queue=queue) == pks(queues, *AGENT_QUEUES[queue])


def test_the_other_team_sees_the_sent_mention_as_escalated_to_it(queues, crisis_agent):
    assert listed(crisis_agent, queue="escalated") == pks(queues, "sent")
    assert listed(crisis_agent, queue="sent") == pks(queues, "escalated_in")
    assert listed(crisis_agent, queue="team") == pks(queues, "sent", "sent_accepted", "crisis")
    assert listed(crisis_agent, queue="snoozed") == pks(queues, "crisis_snoozed")
    assert listed(crisis_agent, queue="mine") == set()


ADMIN_QUEUES = {
    "mine": ("admins",),
    "team": ("new", "open", "escalated_in", "sent", "sent_accepted", "crisis", "unrouted"),
    "escalated": ("escalated_in", "sent"),
    "sent": ("escalated_in", "sent"),
    "snoozed": ("mine_snoozed", "crisis_snoozed"),
    "closed": ("mine_closed", "closed"),
    "spam": ("spam", "mine_spam", "closed_spam", "crisis_spam"),
}


@pytest.mark.parametrize("queue", list(ADMIN_QUEUES))
def test_each_queue_holds_exactly_its_mentions_for_an_admin(queues, admin, queue):
    assert listed(admin, queue=queue) == pks(queues, *ADMIN_QUEUES[queue])


def test_the_all_queue_of_an_admin_is_every_mention(queues, admin):
    assert listed(admin, queue="all") == set(Mention.objects.values_list("pk", flat=True))


def test_queue_counts_count_each_queue_but_all_closed_and_spam(queues, agent):
    assert queue_counts(user=agent) == {"mine": 2, "team": 3, "escalated": 1, "sent": 1, "snoozed": 1}


def test_queue_counts_stop_at_the_cap(queues, agent, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)

    assert queue_counts(user=agent) == {"mine": 2, "team": 2, "escalated": 1, "sent": 1, "snoozed": 1}


# --- Filters ------------------------------------------------------------------------------------------------


@pytest.fixture
def varied(agent, teammate, care, crisis, care_channel, crisis_channel):
    """Three care mentions that differ in every filtered field, and a crisis one the agent may not see."""
    shop = ChannelFactory(slug="northwind-shop", segment=segment("customer-relations"))
    a = MentionFactory(
        team=care,
        on_channels=[care_channel],
        network="simulated",
        kind=Mention.Kind.MENTION,
        status=Mention.Status.NEW,
        intent="support_question",
        sentiment_label="negative",
        priority=Mention.Priority.HIGH,
        labels=["vip", "refund"],
        is_misdirected=False,
        created_at=datetime(2026, 3, 1, 0, 0, tzinfo=UTC),
        assignee=agent,
    )
    b = MentionFactory(
        team=care,
        on_channels=[crisis_channel],
        network="x",
        kind=Mention.Kind.DM,
        status=Mention.Status.OPEN,
        intent="complaint",
        sentiment_label="positive",
        priority=Mention.Priority.LOW,
        labels=["refund"],
        is_misdirected=True,
        created_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        assignee=teammate,
    )
    c = MentionFactory(
        team=crisis,
        on_channels=[shop],
        network="mastodon",
        kind=Mention.Kind.REPLY,
        status=Mention.Status.PENDING,
        intent="praise",
        sentiment_label="neutral",
        priority=Mention.Priority.NORMAL,
        labels=[],
        created_at=datetime(2026, 3, 3, 23, 59, 59, tzinfo=UTC),
    )
    escalate(c, to=care, from_=crisis)
    hidden = MentionFactory(
        team=crisis,
        on_channels=[crisis_channel],
        network="x",
        kind=Mention.Kind.DM,
        status=Mention.Status.OPEN,
        intent="complaint",
        sentiment_label="negative",
        priority=Mention.Priority.HIGH,
        labels=["vip", "refund"],
        is_misdirected=True,
        created_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
    )
    return SimpleNamespace(a=a, b=b, c=c, hidden=hidden, shop=shop, agent=agent, teammate=teammate)


FILTER_CASES = [
    ({"segment": "crisis-management"}, "b"),
    ({"segment": "customer-relations"}, "ac"),
    ({"segment": "event-coverage"}, ""),
    ({"channel": "northwind-help"}, "a"),
    ({"channel": "northwind-shop"}, "c"),
    ({"network": "x"}, "b"),
    ({"network": "mastodon"}, "c"),
    ({"kind": "reply"}, "c"),
    ({"kind": "dm"}, "b"),
    ({"status": "pending"}, "c"),
    ({"status": "new"}, "a"),
    ({"intent": "complaint"}, "b"),
    ({"sentiment": "negative"}, "a"),
    ({"sentiment": "neutral"}, "c"),
    ({"priority": Mention.Priority.HIGH}, "a"),
    ({"priority": Mention.Priority.URGENT}, ""),
    ({"assignee": "me"}, "a"),
    ({"assignee": "none"}, "c"),
    ({"label": "refund"}, "ab"),
    ({"label": "vip"}, "a"),
    ({"label": "ref"}, ""),  # a label, not a substring of one
    ({"misdirected": True}, "b"),
    ({"misdirected": False}, "ac"),
    ({"escalated": True}, "c"),
    ({"escalated": False}, "ab"),
    ({"since": date(2026, 3, 2)}, "bc"),
    ({"until": date(2026, 3, 2)}, "ab"),
    ({"since": date(2026, 3, 3), "until": date(2026, 3, 3)}, "c"),  # until takes in the whole day
    ({"since": date(2026, 3, 4)}, ""),
    ({"network": "x", "label": "refund", "misdirected": True}, "b"),
    ({}, "abc"),
]


@pytest.mark.parametrize(("given", "expected"), FILTER_CASES, ids=[str(c[0]) for c in FILTER_CASES])
def test_each_filter_narrows_the_list_to_what_it_names(varied, given, expected):
    assert listed(varied.agent, queue="all", **given) == {getattr(varied, name).pk for name in expected}


def test_the_assignee_filter_takes_a_user_id(varied):
    assert listed(varied.agent, queue="all", assignee=str(varied.teammate.pk)) == {varied.b.pk}


def test_the_team_filter_narrows_an_admins_list(varied, admin, crisis):
    assert listed(admin, queue="all", team=crisis.pk) == {varied.hidden.pk}


def test_the_team_filter_never_widens_an_agents_list(varied, crisis):
    assert listed(varied.agent, queue="all", team=crisis.pk) == set()


def test_filters_apply_on_top_of_the_queue(varied):
    assert listed(varied.agent, queue="mine", label="refund") == {varied.a.pk}
    assert listed(varied.agent, queue="team", label="refund") == set()  # a is Ada's, b is Ben's
    assert listed(varied.agent, queue="escalated", network="mastodon") == {varied.c.pk}
    assert listed(varied.agent, queue="escalated", network="x") == set()


def test_filters_as_query_leave_out_the_empty_ones():
    filters = InboxFilters(
        queue="mine", priority=30, misdirected=False, escalated=True, since=date(2026, 3, 2)
    )

    assert filters.as_query() == {
        "queue": "mine",
        "priority": "30",
        "misdirected": "no",
        "escalated": "yes",
        "since": "2026-03-02",
    }


# --- Search -------------------------------------------------------------------------------------------------


@pytest.fixture
def searchable(care, crisis):
    jdoe = AuthorFactory(handle="jdoe_support")
    texts = {
        "refund": "I want a refund for my order",
        "late_refund": "The refund was late again",
        "plural": "What is your refunds policy?",
        "other": "Lovely tent, thanks",
    }
    m = {name: MentionFactory(team=care, text=text) for name, text in texts.items()}
    m["by_jdoe"] = MentionFactory(team=care, text="Any news on this?", author=jdoe)
    m["theirs"] = MentionFactory(team=crisis, text="Refund me now", author=jdoe)
    return SimpleNamespace(**m)


SEARCH_CASES = [
    ("refund", {"refund", "late_refund"}),  # 'simple' does not stem: "refunds" is another word
    ("REFUND", {"refund", "late_refund"}),
    ("refund -late", {"refund"}),
    ('"was late"', {"late_refund"}),
    ("refund or tent", {"refund", "late_refund", "other"}),
    ("refunds", {"plural"}),
    ("@jdoe_support", {"by_jdoe"}),  # the author's, whatever the text says
    ("jdoe", {"by_jdoe"}),
    ("  tent  ", {"other"}),
    ("nothing-like-this", set()),
]


@pytest.mark.parametrize(("q", "expected"), SEARCH_CASES, ids=[c[0] for c in SEARCH_CASES])
def test_search_matches_words_the_way_the_full_text_index_does_and_author_handles(
    agent, searchable, q, expected
):
    assert listed(agent, queue="all", q=q) == {getattr(searchable, name).pk for name in expected}


def test_search_never_reaches_past_what_the_user_may_see(agent, admin, searchable):
    assert searchable.theirs.pk not in listed(agent, queue="all", q="refund")
    assert listed(admin, queue="all", q="@jdoe_support") == {searchable.by_jdoe.pk, searchable.theirs.pk}


def test_search_is_served_by_the_gin_index_expression(agent, searchable):
    with CaptureQueriesContext(connection) as queries:
        listed(agent, queue="all", q="refund")

    assert any(
        "to_tsvector('simple'::regconfig, inbox_mention.text) @@ websearch_to_tsquery" in q["sql"]
        for q in queries.captured_queries
    )


# --- Keyset pages -------------------------------------------------------------------------------------------


def walk(user, *, limit: int, **filters) -> list[list[int]]:
    pages, after = [], ""
    while True:
        page = mentions_for_inbox(user=user, filters=InboxFilters(**filters), after=after, limit=limit)
        pages.append([m.pk for m in page.mentions])
        if not page.next_cursor:
            return pages
        after = page.next_cursor


def test_pages_over_mentions_posted_at_the_same_instant_have_no_duplicate_and_no_gap(agent, care):
    same = [MentionFactory(team=care, created_at=DAY) for _ in range(7)]
    older = [MentionFactory(team=care, created_at=DAY - timedelta(seconds=s)) for s in (1, 2)]
    newer = MentionFactory(team=care, created_at=DAY + timedelta(microseconds=1))

    pages = walk(agent, limit=3, queue="all")

    expected = [newer.pk, *sorted((m.pk for m in same), reverse=True), older[0].pk, older[1].pk]
    assert pages == [expected[0:3], expected[3:6], expected[6:9], expected[9:10]]


def test_a_page_that_ends_exactly_at_the_last_mention_has_no_next_cursor(agent, care):
    [MentionFactory(team=care, created_at=DAY) for _ in range(4)]

    assert [len(p) for p in walk(agent, limit=2, queue="all")] == [2, 2]


def test_pages_stay_stable_when_new_mentions_arrive_between_them(agent, care):
    same = sorted((MentionFactory(team=care, created_at=DAY).pk for _ in range(6)), reverse=True)
    first = mentions_for_inbox(user=agent, filters=InboxFilters(queue="all"), limit=3)
    arrived = MentionFactory(team=care, created_at=DAY + timedelta(minutes=1))

    second = mentions_for_inbox(
        user=agent, filters=InboxFilters(queue="all"), after=first.next_cursor, limit=3
    )

    assert [m.pk for m in first.mentions] == same[:3]
    assert [m.pk for m in second.mentions] == same[3:]
    assert second.next_cursor == ""
    assert arrived.pk not in [m.pk for m in second.mentions]


def test_a_cursor_is_the_last_mentions_instant_and_id():
    stamp = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)

    assert cursor_decode(cursor_encode(stamp, 42)) == (stamp, 42)
    assert "=" not in cursor_encode(stamp, 42)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        "é",
        b64(b"2026-03-02T12:00:00+00:00"),
        b64(b"yesterday|5"),
        b64(b"2026-03-02T12:00:00+00:00|five"),
        b64(b"2026-13-45T12:00:00+00:00|5"),
        b64(b"\xff\xfe|5"),
    ],
)
def test_a_cursor_that_is_not_ours_is_a_value_error_saying_what_to_do(agent, cursor):
    with pytest.raises(ValueError) as decoded:
        cursor_decode(cursor)
    with pytest.raises(ValueError) as paged:
        mentions_for_inbox(user=agent, after=cursor)

    assert str(decoded.value) == BAD_CURSOR
    assert str(paged.value) == BAD_CURSOR


def test_a_page_costs_the_same_queries_whatever_its_size(agent, care, care_channel):
    for n in range(12):
        MentionFactory(team=care, on_channels=[care_channel], created_at=DAY - timedelta(minutes=n))
    mentions_for_inbox(user=agent, limit=1)  # the roles are remembered on the user after the first call

    with CaptureQueriesContext(connection) as small:
        mentions_for_inbox(user=agent, filters=InboxFilters(queue="all"), limit=2)
    with CaptureQueriesContext(connection) as large:
        page = mentions_for_inbox(user=agent, filters=InboxFilters(queue="all"), limit=10)

    assert len(small.captured_queries) == len(large.captured_queries)
    assert [c.slug for c in page.mentions[0].channels.all()] == [care_channel.slug]


# --- Presence -----------------------------------------------------------------------------------------------


def test_viewers_are_those_whose_presence_has_not_run_out(agent, care):
    watched, alone = MentionFactory(team=care), MentionFactory(team=care)
    now = timezone.now().timestamp()
    cache.set(
        f"inbox:presence:{watched.pk}",
        {
            "1": {"user": 1, "name": "Zoe", "typing": False, "until": now + 20},
            "2": {"user": 2, "name": "Ada", "typing": True, "until": now + 20},
            "3": {"user": 3, "name": "Gone", "typing": False, "until": now - 1},
        },
    )

    page = mentions_for_inbox(user=agent, filters=InboxFilters(queue="all"))

    expected = [
        {"user": 2, "name": "Ada", "typing": True, "until": now + 20},
        {"user": 1, "name": "Zoe", "typing": False, "until": now + 20},
    ]
    assert viewers_of([watched.pk, alone.pk]) == {watched.pk: expected}
    assert page.viewers == {watched.pk: expected}
    assert {m.pk: m.viewers for m in page.mentions} == {watched.pk: expected, alone.pk: []}
    assert viewers_of([]) == {}


# --- Detail -------------------------------------------------------------------------------------------------


def test_the_detail_shows_what_the_agent_may_see_of_the_thread_and_the_author(
    agent, teammate, care, crisis, care_channel
):
    author = AuthorFactory(handle="camper")
    start = MentionFactory(
        team=care, author=author, conversation_key="c1", created_at=DAY, on_channels=[care_channel]
    )
    hidden_reply = MentionFactory(team=crisis, conversation_key="c1", created_at=DAY + timedelta(minutes=1))
    follow_up = MentionFactory(team=care, conversation_key="c1", created_at=DAY + timedelta(minutes=2))
    earlier = MentionFactory(team=care, author=author, created_at=DAY - timedelta(days=3))
    MentionFactory(team=crisis, author=author, created_at=DAY - timedelta(days=2))
    note = Note.objects.create(mention=start, author=teammate, body="Called them back")
    reply = Reply.objects.create(mention=start, channel=care_channel, author=teammate, text="On its way")
    ours = CannedResponse.objects.create(segment=segment("customer-relations"), title="Refund", body="...")
    everyone = CannedResponse.objects.create(segment=None, title="Thanks", body="...")
    venue = CannedResponse.objects.create(segment=segment("event-coverage"), title="Venue", body="...")
    mention_close(actor=agent, mention=start)

    detail = mention_detail(user=agent, mention_id=start.pk)

    assert detail.mention.pk == start.pk
    assert [m.pk for m in detail.thread] == [start.pk, follow_up.pk]
    assert hidden_reply.pk not in [m.pk for m in detail.thread]
    assert [m.pk for m in detail.author_history] == [earlier.pk]
    assert detail.notes == [note]
    assert detail.replies == [reply]
    assert [(e.verb, e.actor_id) for e in detail.audit] == [("mention.closed", agent.pk)]
    offered = {c.pk for c in detail.canned}
    assert {ours.pk, everyone.pk} <= offered
    assert venue.pk not in offered
    assert {c.segment_id for c in detail.canned} == {segment("customer-relations").pk, None}
    assert [u.username for u in detail.teammates] == ["ada", "ben"]
    assert [c.slug for c in detail.mention.receiving_channels] == [care_channel.slug]
    assert detail.can_work is True
    assert detail.escalations == []


def test_the_detail_of_a_mention_without_a_conversation_is_its_own_thread(agent, care):
    mention = MentionFactory(team=care, conversation_key="")
    MentionFactory(team=care, conversation_key="")

    assert [m.pk for m in mention_detail(user=agent, mention_id=mention.pk).thread] == [mention.pk]


def test_the_detail_of_a_sent_mention_shows_its_escalation_and_says_the_sender_cannot_act(
    agent, care, crisis
):
    mention = MentionFactory(team=care)
    escalation = escalate(mention, to=crisis, from_=care)

    detail = mention_detail(user=agent, mention_id=mention.pk)

    assert detail.escalations == [escalation]
    assert detail.can_work is False
    assert detail.teammates == []  # nobody joined the crisis team here


def test_the_detail_of_another_teams_mention_does_not_exist_for_the_agent(agent, crisis):
    theirs = MentionFactory(team=crisis)

    with pytest.raises(Mention.DoesNotExist):
        mention_detail(user=agent, mention_id=theirs.pk)


# --- Saved views and approvals ------------------------------------------------------------------------------


def test_saved_views_are_ones_own_and_those_shared_with_ones_teams(
    agent, teammate, crisis_agent, care, crisis
):
    mine = SavedView.objects.create(owner=agent, name="My urgent", filters={"priority": "40"})
    shared = SavedView.objects.create(
        owner=teammate, team=care, name="Care refunds", filters={"label": "refund"}
    )
    SavedView.objects.create(owner=teammate, name="Ben's private")
    SavedView.objects.create(owner=crisis_agent, team=crisis, name="Crisis shared")

    assert saved_views_for(user=agent) == [shared, mine]


def test_replies_awaiting_approval_are_those_of_the_teams_one_leads(
    lead, agent, admin, care, crisis, care_channel
):
    ours = MentionFactory(team=care, on_channels=[care_channel])
    theirs = MentionFactory(team=crisis, on_channels=[care_channel])
    held = Reply.objects.create(
        mention=ours, channel=care_channel, author=agent, text="a", state="awaiting_approval"
    )
    Reply.objects.create(mention=ours, channel=care_channel, author=agent, text="b", state="queued")
    held_elsewhere = Reply.objects.create(
        mention=theirs, channel=care_channel, author=agent, text="c", state="awaiting_approval"
    )

    assert list(replies_awaiting_approval(user=lead)) == [held]
    assert list(replies_awaiting_approval(user=agent)) == []
    assert set(replies_awaiting_approval(user=admin)) == {held, held_elsewhere}


def test_a_mention_is_fetched_for_update_only_when_visible(agent, care):
    ours = MentionFactory(team=care)

    assert mention_get(user=agent, mention_id=ours.pk, for_update=True) == ours


def test_the_detail_audit_includes_the_mentions_escalations(agent, care, crisis, crisis_agent):
    mention = MentionFactory(team=care)
    escalation = escalate(mention, to=crisis, from_=care)
    escalation_accept(actor=crisis_agent, escalation=escalation)

    detail = mention_detail(user=crisis_agent, mention_id=mention.pk)

    assert [(e.verb, e.actor_id) for e in detail.audit] == [("escalation.accepted", crisis_agent.pk)]
    assert detail.can_work is True


# --- What the REST API reads beside mentions ----------------------------------------------------------------


def test_a_reply_exists_for_a_user_only_on_a_mention_they_may_see(agent, admin, care, crisis, care_channel):
    ours = Reply.objects.create(
        mention=MentionFactory(team=care), channel=care_channel, author=agent, text="a"
    )
    theirs = Reply.objects.create(mention=MentionFactory(team=crisis), channel=care_channel, text="b")

    assert reply_get(user=agent, reply_id=ours.pk) == ours
    with pytest.raises(Reply.DoesNotExist):
        reply_get(user=agent, reply_id=theirs.pk)
    assert reply_get(user=admin, reply_id=theirs.pk) == theirs


def test_channels_are_those_the_users_teams_own(agent, admin, care, crisis, care_channel, crisis_channel):
    lent = ChannelFactory(slug="lent-to-care", segment=segment("crisis-management"), team_override=care)
    taken = ChannelFactory(
        slug="taken-from-care", segment=segment("customer-relations"), team_override=crisis
    )

    assert [c.slug for c in channels_visible_to(user=agent)] == [care_channel.slug, lent.slug]
    assert [c.slug for c in channels_visible_to(user=admin)] == [
        care_channel.slug,
        crisis_channel.slug,
        lent.slug,
        taken.slug,
    ]


def test_teams_are_the_users_own_or_all_for_an_admin(agent, admin, care):
    assert [t.pk for t in teams_visible_to(user=agent)] == [care.pk]
    assert teams_visible_to(user=admin).count() == 6  # the six segments' teams
