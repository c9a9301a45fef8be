"""The inbox pages as agents, leads and admins use them: queues, list, detail pane, actions, live stream."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from foundation.live import EVENTS_CHANNEL, event_publish
from foundation.models import DomainEvent
from inbox.models import Mention, Note, Reply, SavedView
from routing.models import Correction, Escalation, SentimentCorrection
from teams.models import Membership
from tests.factories import (
    AuthorFactory,
    ChannelFactory,
    MembershipFactory,
    MentionFactory,
    UserFactory,
    segment,
)

pytestmark = pytest.mark.django_db

INBOX_URL = "/inbox/"
LIST_URL = "/inbox/mentions/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def mention_texts(html: str) -> list[str]:
    """The texts of the listed mentions, top to bottom, as the page renders them."""
    return re.findall(r'<span class="mention__text">(.*?)</span>', html, flags=re.S)


@pytest.fixture
def care_team():
    return segment("customer-relations").team


@pytest.fixture
def crisis_team():
    return segment("crisis-management").team


@pytest.fixture
def agent(care_team):
    return MembershipFactory(team=care_team, user__first_name="Ada", user__last_name="Agent").user


@pytest.fixture
def teammate(care_team):
    return MembershipFactory(team=care_team, user__first_name="Bea", user__last_name="Mate").user


@pytest.fixture
def outsider(crisis_team):
    return MembershipFactory(team=crisis_team, user__first_name="Otto", user__last_name="Other").user


@pytest.fixture
def care_channel():
    return ChannelFactory(segment=segment("customer-relations"), handle="@acme_help")


def minutes_ago(minutes: int):
    return timezone.now().replace(microsecond=0) - timedelta(minutes=minutes)


def action_url(mention: Mention, action: str) -> str:
    return reverse(f"inbox:{action}", args=[mention.pk])


# --- Pages and the list -------------------------------------------------------------------------------------


def test_urls_are_named():
    assert reverse("inbox:index") == INBOX_URL
    assert reverse("inbox:mention_list") == LIST_URL
    assert reverse("inbox:detail", args=[7]) == "/inbox/mentions/7/"
    assert reverse("inbox:events") == "/inbox/events/"


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(INBOX_URL)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/inbox/"


def test_background_request_after_the_session_ended_sends_the_whole_page_to_login(client):
    response = client.get(LIST_URL, **HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/inbox/"


def test_agent_sees_own_team_queue_newest_first_and_not_other_teams(client, agent, care_team, crisis_team):
    MentionFactory(team=care_team, text="care oldest", created_at=minutes_ago(30))
    MentionFactory(team=care_team, text="care newest", created_at=minutes_ago(1))
    MentionFactory(team=care_team, text="care middle", created_at=minutes_ago(10))
    MentionFactory(team=crisis_team, text="crisis only", created_at=minutes_ago(2))
    MentionFactory(team=None, text="not routed", created_at=minutes_ago(3))
    client.force_login(agent)

    response = client.get(INBOX_URL)

    assert response.status_code == 200
    assert mention_texts(response.content.decode()) == ["care newest", "care middle", "care oldest"]


def test_admin_sees_every_team_in_all(client, care_team, crisis_team):
    MentionFactory(team=care_team, text="care", created_at=minutes_ago(2))
    MentionFactory(team=crisis_team, text="crisis", created_at=minutes_ago(1))
    client.force_login(UserFactory(admin=True))

    html = client.get(INBOX_URL, {"queue": "all"}).content.decode()

    assert mention_texts(html) == ["crisis", "care"]
    assert "All teams" in html


def test_queues_split_mine_team_snoozed_and_closed(client, agent, teammate, care_team):
    MentionFactory(team=care_team, text="unassigned")
    MentionFactory(team=care_team, text="mine", assignee=agent, status=Mention.Status.OPEN)
    MentionFactory(team=care_team, text="hers", assignee=teammate, status=Mention.Status.OPEN)
    MentionFactory(team=care_team, text="later", status=Mention.Status.SNOOZED)
    MentionFactory(team=care_team, text="done", status=Mention.Status.CLOSED)
    client.force_login(agent)

    def texts(queue: str) -> list[str]:
        return mention_texts(client.get(LIST_URL, {"queue": queue}, **HTMX).content.decode())

    assert texts("team") == ["unassigned"]
    assert texts("mine") == ["mine"]
    assert texts("snoozed") == ["later"]
    assert texts("closed") == ["done"]
    assert sorted(texts("all")) == ["done", "hers", "later", "mine", "unassigned"]


def test_escalated_and_sent_away_queues(client, agent, outsider, care_team, crisis_team):
    incoming = MentionFactory(team=care_team, text="came to us")
    Escalation.objects.create(mention=incoming, from_team=crisis_team, to_team=care_team, reason="ours")
    outgoing = MentionFactory(team=crisis_team, text="went to them")
    Escalation.objects.create(mention=outgoing, from_team=care_team, to_team=crisis_team, reason="theirs")
    client.force_login(agent)

    escalated = client.get(LIST_URL, {"queue": "escalated"}, **HTMX).content.decode()
    sent = client.get(LIST_URL, {"queue": "sent"}, **HTMX).content.decode()

    assert mention_texts(escalated) == ["came to us"]
    assert "Escalated Crisis Response → Customer Care" in escalated
    assert mention_texts(sent) == ["went to them"]


def test_mention_text_and_author_name_are_escaped_in_list_and_detail(client, agent, care_team):
    author = AuthorFactory(display_name="<img src=x onerror=alert(2)>Eve", handle="eve")
    mention = MentionFactory(team=care_team, author=author, text='<script>alert(1)</script> & "quotes"')
    client.force_login(agent)

    listed = client.get(INBOX_URL).content.decode()
    detail = client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).content.decode()

    for html in (listed, detail):
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in html
        assert "&lt;img src=x onerror=alert(2)&gt;Eve" in html
        assert "<script>alert(1)" not in html
        assert "<img src=x" not in html


def test_only_web_links_to_the_post_become_links(client, agent, care_team):
    good = MentionFactory(team=care_team, url="https://social.example/@eve/1")
    bad = MentionFactory(team=care_team, url="javascript:alert(3)")
    client.force_login(agent)

    good_html = client.get(reverse("inbox:detail", args=[good.pk]), **HTMX).content.decode()
    bad_html = client.get(reverse("inbox:detail", args=[bad.pk]), **HTMX).content.decode()

    assert 'href="https://social.example/@eve/1"' in good_html
    assert "View post" not in bad_html
    assert "javascript:" not in bad_html


def test_list_shows_channel_segment_network_intent_sentiment_and_misdirected(
    client, agent, care_team, care_channel
):
    deals = ChannelFactory(segment=segment("product-promotion"), handle="@acme_deals")
    MentionFactory(
        team=care_team,
        on_channels=[care_channel, deals],
        intent="support_question",
        sentiment_label="negative",
        is_misdirected=True,
        priority=Mention.Priority.URGENT,
    )
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert ">@acme_help</span>" in html and ">@acme_deals</span>" in html
    assert "Customer Relations" in html or "Customer relations" in html
    assert '<span class="badge badge--intent">support question</span>' in html
    assert '<span class="badge sentiment-negative">Negative</span>' in html
    assert '<span class="badge badge--misdirected">Misdirected</span>' in html
    assert '<span class="badge priority-40">Urgent</span>' in html


def test_filters_narrow_the_list_and_bad_values_are_named(client, agent, care_team):
    MentionFactory(team=care_team, text="angry", sentiment_label="negative", intent="complaint")
    MentionFactory(team=care_team, text="happy", sentiment_label="positive", intent="praise")
    client.force_login(agent)

    narrowed = client.get(LIST_URL, {"sentiment": "negative"}, **HTMX).content.decode()
    bad = client.get(LIST_URL, {"sentiment": "furious", "since": "yesterday-ish"}, **HTMX)

    assert mention_texts(narrowed) == ["angry"]
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "These filters are not valid, so nothing is listed." in html
    assert "Sentiment: Select a valid choice. furious is not one of the available choices." in html
    assert "Since: Enter a valid date." in html
    assert mention_texts(html) == []


def _latest_filter_day() -> str:
    return str(timezone.localdate() + timedelta(days=366))


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"assignee": "²"}, "assignee", "Choose me, none or a person (by user id, in digits 0-9)."),
        ({"assignee": "\u0663"}, "assignee", "Choose me, none or a person (by user id, in digits 0-9)."),
        ({"assignee": "9" * 20}, "assignee", "Choose me, none or a person (by user id, in digits 0-9)."),
        (
            {"team": "\u0661"},
            "team",
            "Select a valid choice. That choice is not one of the available choices.",
        ),
        ({"until": "9999-12-31"}, "until", "LATEST"),
        ({"since": "0001-01-01"}, "since", "Choose a day from 2006-01-01 on: no post is older."),
    ],
)
def test_a_filter_that_cannot_be_read_is_a_400_naming_it_on_the_page_the_list_and_the_api(
    client, agent, care_team, query, field, message
):
    message = message.replace("LATEST", f"Choose a day up to {_latest_filter_day()}: no post is dated later.")
    MentionFactory(team=care_team, text="waiting", assignee=agent)
    client.force_login(agent)

    page = client.get(INBOX_URL, {**query, "queue": "all"})
    fragment = client.get(LIST_URL, {**query, "queue": "all"}, **HTMX)
    api = client.get("/api/v1/mentions/", query)

    assert [page.status_code, fragment.status_code, api.status_code] == [400, 400, 400]
    label = page.context["form"][field].label
    assert f"These filters are not valid, so nothing is listed. {label}: {message}" in page.content.decode()
    assert f'<p class="field__error">{message}</p>' in page.content.decode()  # beside the field
    assert mention_texts(page.content.decode()) == []
    assert f"{label}: {message}" in fragment.content.decode()
    assert api.json() == {field: [message]}


def test_a_filter_date_a_year_ahead_is_still_read(client, agent, care_team):
    MentionFactory(team=care_team, text="waiting")
    client.force_login(agent)

    response = client.get(INBOX_URL, {"until": _latest_filter_day(), "queue": "all"})

    assert response.status_code == 200
    assert mention_texts(response.content.decode()) == ["waiting"]


def test_search_finds_words_and_authors(client, agent, care_team):
    MentionFactory(team=care_team, text="my refund never arrived")
    MentionFactory(team=care_team, text="love the new colours", author=AuthorFactory(handle="colourfan"))
    MentionFactory(team=care_team, text="shipping question")
    client.force_login(agent)

    by_word = client.get(LIST_URL, {"q": "refund"}, **HTMX).content.decode()
    by_author = client.get(LIST_URL, {"q": "@colourfan"}, **HTMX).content.decode()

    assert mention_texts(by_word) == ["my refund never arrived"]
    assert mention_texts(by_author) == ["love the new colours"]


def test_load_more_pages_by_keyset_without_gaps_or_repeats(client, agent, care_team):
    stamp = minutes_ago(5)
    for n in range(7):
        MentionFactory(team=care_team, text=f"post {n}", created_at=stamp)  # one timestamp: ids break ties
    client.force_login(agent)

    seen = []
    response = client.get(LIST_URL, {"limit": 3}, **HTMX)
    while True:
        html = response.content.decode()
        seen += mention_texts(html)
        more = re.search(r'hx-get="([^"]+)" hx-target="#load-more"', html)
        if not more:
            break
        response = client.get(more.group(1).replace("&amp;", "&") + "&limit=3", **HTMX)

    assert sorted(seen) == sorted(f"post {n}" for n in range(7))
    assert len(seen) == 7


def test_a_tampered_cursor_says_so_and_shows_the_first_page(client, agent, care_team):
    MentionFactory(team=care_team, text="first")
    client.force_login(agent)

    html = client.get(LIST_URL, {"after": "not-a-cursor"}, **HTMX).content.decode()

    assert "The page cursor is not valid" in html
    assert mention_texts(html) == ["first"]


def test_list_query_count_is_the_same_for_any_page_size(client, agent, care_team, care_channel):
    for _ in range(30):
        MentionFactory(team=care_team, on_channels=[care_channel], assignee=None)
    client.force_login(agent)

    counts = []
    for limit in (5, 30):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(LIST_URL, {"limit": limit}, **HTMX)
        assert len(mention_texts(response.content.decode())) == limit
        counts.append(len(queries))

    assert counts[0] == counts[1]


def test_empty_states_say_what_to_do(client, agent):
    client.force_login(agent)
    assert "No mentions here." in client.get(INBOX_URL).content.decode()
    assert "Nothing is assigned to you." in client.get(INBOX_URL, {"queue": "mine"}).content.decode()
    assert "Nothing matches these filters." in client.get(INBOX_URL, {"q": "zebra"}).content.decode()


def test_user_without_a_team_is_told_to_ask_for_one(client):
    client.force_login(UserFactory())

    html = client.get(INBOX_URL).content.decode()

    assert "You are not on a team yet" in html


def test_counts_are_capped(client, agent, care_team, monkeypatch):
    monkeypatch.setattr("inbox.selectors.COUNT_CAP", 3)
    monkeypatch.setattr("inbox.views.COUNT_CAP", 3)
    for _ in range(4):
        MentionFactory(team=care_team)
    MentionFactory(team=care_team, assignee=agent, status=Mention.Status.OPEN)
    client.force_login(agent)

    html = client.get(reverse("inbox:counts"), **HTMX).content.decode()

    assert re.search(r"Team queue <span class=\"queue__count\">999\+", html)
    assert re.search(r"My mentions <span class=\"queue__count\">1</span>", html)


# --- The detail pane and access -----------------------------------------------------------------------------


def test_detail_shows_thread_decision_escalation_author_history_and_audit(
    client, agent, care_team, crisis_team
):
    author = AuthorFactory(handle="carla", follower_count=12345, is_verified=True)
    parent = MentionFactory(
        team=care_team, author=author, text="first post", conversation_key="c1", created_at=minutes_ago(9)
    )
    mention = MentionFactory(
        team=care_team,
        author=author,
        text="second post",
        conversation_key="c1",
        intent="support_question",
        intent_confidence=0.91,
        decision={
            "explanation": ["The words 'broken' and 'help' point to a support question."],
            "segment": "x",
        },
    )
    Escalation.objects.create(
        mention=mention, from_team=crisis_team, to_team=care_team, reason="Support, not crisis"
    )
    client.force_login(agent)

    html = client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).content.decode()

    assert html.index("first post") < html.index("second post")
    assert "The words &#x27;broken&#x27; and &#x27;help&#x27; point to a support question." in html
    assert "Escalated from Crisis Response to Customer Care" in html
    assert "Support, not crisis" in html
    assert "12,345 followers" in html
    assert parent.text in html  # in the thread, and among the author's earlier mentions


def test_detail_without_htmx_renders_the_whole_page(client, agent, care_team):
    mention = MentionFactory(team=care_team, text="open me")
    client.force_login(agent)

    response = client.get(reverse("inbox:detail", args=[mention.pk]))

    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert f'data-mention-id="{mention.pk}"' in page


ACTIONS = [
    ("assign", {"assignee": "me"}),
    ("reroute", {"intent": "complaint"}),
    ("sentiment", {"sentiment": "positive"}),
    ("label", {"add": "vip"}),
    ("priority", {"priority": "30"}),
    ("snooze", {"until": "2099-01-01T09:00"}),
    ("close", {}),
    ("reopen", {}),
    ("spam", {}),
    ("not_spam", {}),
    ("note", {"body": "hi"}),
    ("reply", {"text": "hello"}),
    ("escalation_accept", {}),
    ("escalation_bounce", {"reason": "no"}),
    ("presence", {"state": "viewing"}),
]


@pytest.mark.parametrize(("action", "data"), ACTIONS, ids=[a for a, _ in ACTIONS])
def test_an_agent_of_another_team_gets_404_for_every_action(client, outsider, care_team, action, data):
    mention = MentionFactory(team=care_team)
    before = DomainEvent.objects.count()
    client.force_login(outsider)

    response = client.post(action_url(mention, action), data, **HTMX)

    assert response.status_code == 404
    assert DomainEvent.objects.count() == before
    assert Mention.objects.get(pk=mention.pk).status == Mention.Status.NEW


def test_an_agent_of_another_team_gets_404_for_the_detail_page(client, outsider, care_team):
    mention = MentionFactory(team=care_team)
    client.force_login(outsider)

    assert client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).status_code == 404
    assert client.get(INBOX_URL, {"open": mention.pk}).status_code == 404


def test_actions_are_post_only(client, agent, care_team):
    mention = MentionFactory(team=care_team)
    client.force_login(agent)

    assert client.get(action_url(mention, "close")).status_code == 405


# --- Actions ------------------------------------------------------------------------------------------------


def test_assign_to_me_then_a_teammate_who_saw_it_unassigned_is_told_who_won(
    client, agent, teammate, care_team
):
    mention = MentionFactory(team=care_team)
    client.force_login(agent)
    first = client.post(action_url(mention, "assign"), {"assignee": "me"}, **HTMX)
    client.force_login(teammate)

    second = client.post(action_url(mention, "assign"), {"assignee": "me"}, **HTMX)

    assert "Assigned to Ada Agent." in first.content.decode()
    assert first["HX-Trigger"].startswith('{"inbox:changed"')
    assert "Ada Agent took this mention first." in second.content.decode()
    assert Mention.objects.get(pk=mention.pk).assignee == agent


def test_reassigning_with_the_assignee_one_saw_works_and_a_stale_one_does_not(
    client, agent, teammate, care_team
):
    mention = MentionFactory(team=care_team, assignee=agent, status=Mention.Status.OPEN)
    client.force_login(agent)

    stale = client.post(
        action_url(mention, "assign"), {"assignee": teammate.pk, "expected_assignee": ""}, **HTMX
    )
    fresh = client.post(
        action_url(mention, "assign"), {"assignee": teammate.pk, "expected_assignee": agent.pk}, **HTMX
    )

    assert "took this mention first" in stale.content.decode()
    assert "Assigned to Bea Mate." in fresh.content.decode()
    assert Mention.objects.get(pk=mention.pk).assignee == teammate


def test_reroute_moves_the_mention_and_stores_a_correction(client, agent, care_team, crisis_team):
    mention = MentionFactory(team=care_team, intent="support_question")
    client.force_login(agent)

    response = client.post(
        action_url(mention, "reroute"), {"team": crisis_team.pk, "reason": "a safety issue"}, **HTMX
    )

    assert "Re-routed to Crisis Response." in response.content.decode()
    assert "It has left your team" in response.content.decode()
    assert Mention.objects.get(pk=mention.pk).team == crisis_team
    correction = Correction.objects.get(mention=mention)
    assert (correction.team_before_id, correction.team_after_id) == (care_team.pk, crisis_team.pk)


def test_reroute_without_a_team_or_intent_says_what_is_missing(client, agent, care_team):
    mention = MentionFactory(team=care_team)
    client.force_login(agent)

    response = client.post(action_url(mention, "reroute"), {"reason": "hm"}, **HTMX)

    assert "Choose the team or the intent it should have." in response.content.decode()
    assert not Correction.objects.exists()


def test_the_pane_corrects_the_sentiment_and_stores_the_correction(client, agent, care_team):
    mention = MentionFactory(
        team=care_team, text="that jacket is sick", sentiment_label="negative", decision={"segment": "x"}
    )
    client.force_login(agent)

    pane = client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).content.decode()
    response = client.post(action_url(mention, "sentiment"), {"sentiment": "positive"}, **HTMX)
    wrong = client.post(action_url(mention, "sentiment"), {"sentiment": "ecstatic"}, **HTMX)

    assert 'id="sentiment-form"' in pane
    assert "Sentiment corrected to positive." in response.content.decode()
    assert f"Sentiment (corrected by {agent.username})" in response.content.decode()
    assert "Choose negative, neutral or positive." in wrong.content.decode()
    assert Mention.objects.get(pk=mention.pk).sentiment_label == "positive"
    correction = SentimentCorrection.objects.get()
    assert (correction.mention_id, correction.label_before, correction.label_after) == (
        mention.pk,
        "negative",
        "positive",
    )


def test_snooze_in_the_past_is_refused_and_a_future_time_snoozes(client, agent, care_team):
    mention = MentionFactory(team=care_team)
    client.force_login(agent)

    past = client.post(action_url(mention, "snooze"), {"until": "2001-01-01T09:00"}, **HTMX)
    garbage = client.post(action_url(mention, "snooze"), {"until": "soon"}, **HTMX)
    assert Mention.objects.get(pk=mention.pk).status == Mention.Status.NEW
    soon = timezone.localtime() + timedelta(days=2)
    future = client.post(action_url(mention, "snooze"), {"until": soon.strftime("%Y-%m-%dT%H:%M")}, **HTMX)

    assert "Choose a time in the future" in past.content.decode()
    assert "That is not a date and time." in garbage.content.decode()
    assert "Snoozed until" in future.content.decode()
    assert Mention.objects.get(pk=mention.pk).status == Mention.Status.SNOOZED


def test_close_reopen_label_priority_spam_and_note(client, agent, care_team):
    mention = MentionFactory(team=care_team, intent="complaint")
    client.force_login(agent)

    client.post(action_url(mention, "close"), **HTMX)
    assert Mention.objects.get(pk=mention.pk).status == Mention.Status.CLOSED
    client.post(action_url(mention, "reopen"), **HTMX)
    assert Mention.objects.get(pk=mention.pk).status == Mention.Status.OPEN
    client.post(action_url(mention, "label"), {"add": "VIP, refund"}, **HTMX)
    assert Mention.objects.get(pk=mention.pk).labels == ["vip", "refund"]
    bad_label = client.post(action_url(mention, "label"), {"add": "<b>"}, **HTMX).content.decode()
    assert "is not a label" in bad_label
    client.post(action_url(mention, "priority"), {"priority": "40"}, **HTMX)
    assert Mention.objects.get(pk=mention.pk).priority == Mention.Priority.URGENT
    client.post(action_url(mention, "note"), {"body": "Customer called too"}, **HTMX)
    assert Note.objects.get(mention=mention).body == "Customer called too"
    client.post(action_url(mention, "spam"), **HTMX)
    spam = Mention.objects.get(pk=mention.pk)
    assert (spam.status, spam.intent) == (Mention.Status.CLOSED, "spam")
    assert Correction.objects.get(mention=mention).intent_after == "spam"
    verbs = list(
        DomainEvent.objects.filter(object_id=str(mention.pk)).order_by("id").values_list("verb", flat=True)
    )
    assert verbs == [
        "mention.closed",
        "mention.reopened",
        "mention.labelled",
        "mention.prioritized",
        "mention.noted",
        "mention.spam",
    ]


def test_spam_leaves_the_team_queue_for_the_spam_view_and_not_spam_brings_it_back(client, agent, care_team):
    MentionFactory(team=care_team, text="a real question")
    spam = MentionFactory(team=care_team, text="Free followers at moonyield", intent="spam", labels=["spam"])
    client.force_login(agent)

    team_queue = client.get(INBOX_URL).content.decode()
    spam_view = client.get(INBOX_URL, {"queue": "spam", "open": spam.pk}).content.decode()
    done = client.post(action_url(spam, "not_spam"), {"intent": "praise"}, **HTMX).content.decode()

    assert mention_texts(team_queue) == ["a real question"]
    assert '<a href="?queue=spam" class="queue">Spam</a>' in team_queue
    assert mention_texts(spam_view) == ["Free followers at moonyield"]
    assert f'action="{action_url(spam, "not_spam")}"' in spam_view
    assert f'action="{action_url(spam, "spam")}"' not in spam_view
    assert "Not spam: back in the queue as praise; routing learns from it." in done
    assert mention_texts(client.get(INBOX_URL).content.decode()) == [
        "Free followers at moonyield",
        "a real question",
    ]
    assert list(Correction.objects.values_list("intent_before", "intent_after")) == [("spam", "praise")]


def test_bulk_not_spam_from_the_bar(client, agent, care_team):
    spam = [MentionFactory(team=care_team, intent="spam") for _ in range(2)]
    client.force_login(agent)

    html = client.post(
        reverse("inbox:bulk"), {"ids": [m.pk for m in spam], "action": "not_spam", "intent": ""}, **HTMX
    ).content.decode()

    assert "2 mentions updated" in html
    assert list(Mention.objects.order_by("pk").values_list("intent", flat=True)) == ["other", "other"]


def test_reply_is_queued_and_someone_elses_newer_reply_asks_for_confirmation(
    client, agent, teammate, care_team, care_channel, django_capture_on_commit_callbacks
):
    mention = MentionFactory(team=care_team, on_channels=[care_channel])
    client.force_login(teammate)
    with django_capture_on_commit_callbacks():
        client.post(action_url(mention, "reply"), {"text": "On it!", "seen_reply_id": 0}, **HTMX)
    client.force_login(agent)

    with django_capture_on_commit_callbacks():
        warned = client.post(action_url(mention, "reply"), {"text": "Me too", "seen_reply_id": 0}, **HTMX)
    assert Reply.objects.count() == 1
    with django_capture_on_commit_callbacks():
        sent = client.post(
            action_url(mention, "reply"), {"text": "Me too", "seen_reply_id": 0, "confirm": "on"}, **HTMX
        )

    assert "Bea Mate already replied" in warned.content.decode()
    assert "Send anyway" in warned.content.decode()
    assert "Reply queued for sending." in sent.content.decode()
    assert list(Reply.objects.order_by("id").values_list("text", "state")) == [
        ("On it!", "queued"),
        ("Me too", "queued"),
    ]


def test_a_reply_a_rule_holds_waits_for_a_lead(
    client, agent, care_team, care_channel, django_capture_on_commit_callbacks
):
    lead = MembershipFactory(team=care_team, role=Membership.Role.LEAD).user
    mention = MentionFactory(team=care_team, on_channels=[care_channel], requires_approval=True)
    client.force_login(agent)
    response = client.post(action_url(mention, "reply"), {"text": "Sorry!"}, **HTMX)
    reply = Reply.objects.get()
    denied = client.post(reverse("inbox:reply_approve", args=[reply.pk]), **HTMX)
    client.force_login(lead)

    listed = client.get(reverse("inbox:approvals")).content.decode()
    with django_capture_on_commit_callbacks():
        client.post(reverse("inbox:reply_approve", args=[reply.pk]), **HTMX)

    assert "a rule asks a team lead to approve it" in response.content.decode()
    assert "Only a lead of the mention" in denied.content.decode()
    assert "Sorry!" in listed
    assert Reply.objects.get(pk=reply.pk).state == Reply.State.QUEUED


def test_escalation_accept_and_bounce(client, agent, outsider, care_team, crisis_team):
    accepted = MentionFactory(team=care_team)
    Escalation.objects.create(mention=accepted, from_team=crisis_team, to_team=care_team, reason="ours")
    bounced = MentionFactory(team=care_team)
    Escalation.objects.create(mention=bounced, from_team=crisis_team, to_team=care_team, reason="ours?")
    client.force_login(agent)

    client.post(action_url(accepted, "escalation_accept"), **HTMX)
    no_reason = client.post(action_url(bounced, "escalation_bounce"), {"reason": " "}, **HTMX)
    client.post(action_url(bounced, "escalation_bounce"), {"reason": "It is a safety issue"}, **HTMX)

    assert Escalation.objects.get(mention=accepted).state == Escalation.State.ACCEPTED
    assert "Say why the post is bounced back" in no_reason.content.decode()
    assert Escalation.objects.get(mention=bounced).state == Escalation.State.BOUNCED
    assert Mention.objects.get(pk=bounced.pk).team == crisis_team


def test_a_lead_accepts_or_bounces_an_escalation_that_timed_out_to_the_lead(client, care_team, crisis_team):
    lead = MembershipFactory(team=care_team, role=Membership.Role.LEAD).user
    accepted = MentionFactory(team=care_team)
    Escalation.objects.create(
        mention=accepted, from_team=crisis_team, to_team=care_team, reason="ours", state="to_lead"
    )
    bounced = MentionFactory(team=care_team)
    Escalation.objects.create(
        mention=bounced, from_team=crisis_team, to_team=care_team, reason="ours?", state="to_lead"
    )
    client.force_login(lead)

    pane = client.get(reverse("inbox:detail", args=[accepted.pk]), **HTMX).content.decode()
    page = client.get(INBOX_URL, {"open": bounced.pk}).content.decode()
    client.post(action_url(accepted, "escalation_accept"), **HTMX)
    client.post(action_url(bounced, "escalation_bounce"), {"reason": "Not a support question"}, **HTMX)

    assert "Escalated from Crisis Response to Customer Care" in pane
    assert "Accept for Customer Care" in pane
    assert "Bounce back to Crisis Response because" in page
    assert Escalation.objects.get(mention=accepted).state == Escalation.State.ACCEPTED
    assert Escalation.objects.get(mention=bounced).state == Escalation.State.BOUNCED
    assert Mention.objects.get(pk=bounced.pk).team == crisis_team


def test_the_whole_page_and_the_pane_offer_a_lead_the_same_actions(client, agent, care_team, care_channel):
    lead = MembershipFactory(team=care_team, role=Membership.Role.LEAD).user
    mention = MentionFactory(team=care_team, on_channels=[care_channel], requires_approval=True)
    held = Reply.objects.create(
        mention=mention, channel=care_channel, author=agent, text="Sorry!", state="awaiting_approval"
    )
    client.force_login(lead)
    approvals = client.get(reverse("inbox:approvals")).content.decode()

    page = client.get(INBOX_URL, {"open": mention.pk}).content.decode()
    pane = client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).content.decode()

    assert f'href="/inbox/?open={mention.pk}"' in approvals
    approve = f'action="{reverse("inbox:reply_approve", args=[held.pk])}"'
    reject = f'action="{reverse("inbox:reply_reject", args=[held.pk])}"'
    assert approve in pane
    assert reject in pane
    assert form_actions(page) == form_actions(pane)


def form_actions(html: str) -> list[str]:
    """Where the detail pane's forms post to, in order (the pane's article only, not the page around it)."""
    article = html[html.index('<article class="detail"') : html.index("</article>")]
    return re.findall(r'action="([^"]+)"', article)


def test_a_plain_form_post_without_javascript_returns_to_the_page(client, agent, care_team):
    mention = MentionFactory(team=care_team)
    client.force_login(agent)

    response = client.post(action_url(mention, "close"))

    assert response.status_code == 302
    assert response["Location"] == f"/inbox/?open={mention.pk}"


# --- Bulk ---------------------------------------------------------------------------------------------------


def test_bulk_close_skips_what_the_agent_may_not_touch(client, agent, care_team, crisis_team):
    ours = [MentionFactory(team=care_team) for _ in range(3)]
    theirs = MentionFactory(team=crisis_team)
    client.force_login(agent)

    response = client.post(
        reverse("inbox:bulk"), {"ids": [m.pk for m in ours] + [theirs.pk], "action": "close"}, **HTMX
    )

    html = response.content.decode()
    assert "3 mentions updated" in html
    assert "1 not found" in html
    assert Mention.objects.filter(status=Mention.Status.CLOSED).count() == 3
    assert Mention.objects.get(pk=theirs.pk).status == Mention.Status.NEW
    assert DomainEvent.objects.filter(verb="mention.closed").count() == 3


def test_bulk_reroute_without_javascript_keeps_its_reason_beside_the_bounce_box(
    client, agent, care_team, crisis_team
):
    mentions = [MentionFactory(team=care_team) for _ in range(2)]
    client.force_login(agent)
    page = client.get(INBOX_URL).content.decode()
    assert 'name="bounce_reason"' in page  # the bar's bounce box does not share the re-route's name

    # Without JavaScript the bar sends every parameter, the empty bounce box too.
    html = client.post(
        reverse("inbox:bulk"),
        {
            "ids": [m.pk for m in mentions],
            "action": "reroute",
            "team": crisis_team.pk,
            "reason": "Safety issue",
            "bounce_reason": "",
        },
        **HTMX,
    ).content.decode()

    assert "2 mentions updated" in html
    for mention in mentions:
        mention.refresh_from_db()
        assert (mention.team, mention.decision["correction_reason"]) == (crisis_team, "Safety issue")


def test_bulk_without_a_selection_says_so(client, agent):
    client.force_login(agent)

    html = client.post(reverse("inbox:bulk"), {"action": "close"}, **HTMX).content.decode()

    assert "Select mentions first." in html


# --- Saved views --------------------------------------------------------------------------------------------


def test_saved_view_private_or_shared_with_the_team(client, agent, teammate, care_team):
    client.force_login(agent)
    client.post(reverse("inbox:saved_view_save"), {"name": "Angry", "sentiment": "negative", "queue": "team"})
    client.post(
        reverse("inbox:saved_view_save"),
        {"name": "Team urgent", "priority": "40", "share_with": care_team.pk},
    )
    client.force_login(teammate)

    html = client.get(INBOX_URL).content.decode()

    assert SavedView.objects.get(name="Angry").filters == {"queue": "team", "sentiment": "negative"}
    assert "Team urgent" in html
    assert "Angry" not in html


def test_saving_a_view_stores_the_filters_posted_and_shows_their_list(client, agent, care_team):
    MentionFactory(team=care_team, text="calm", sentiment_label="positive")
    MentionFactory(team=care_team, text="angry", sentiment_label="negative", priority=40)
    client.force_login(agent)
    page = client.get(INBOX_URL).content.decode()

    response = client.post(
        reverse("inbox:saved_view_save"),
        {"name": "Angry and urgent", "queue": "team", "sentiment": "negative", "priority": "40"},
    )

    assert '<input type="hidden" name="queue" value="team" data-filter>' in page
    assert SavedView.objects.get().filters == {"queue": "team", "sentiment": "negative", "priority": "40"}
    assert response["Location"] == "/inbox/?queue=team&sentiment=negative&priority=40"
    assert mention_texts(client.get(response["Location"]).content.decode()) == ["angry"]


def test_a_view_with_filters_that_cannot_be_read_is_not_saved(client, agent, care_team):
    client.force_login(agent)

    response = client.post(
        reverse("inbox:saved_view_save"),
        {"name": "Someday", "until": "9999-12-31", "share_with": care_team.pk},
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "The view was not saved: these filters are not valid. Until: Choose a day up to " in html
    assert not SavedView.objects.exists()


def test_a_view_saved_before_filters_were_checked_opens_with_the_error_not_a_500(client, agent, care_team):
    SavedView.objects.create(owner=agent, team=care_team, name="Broken", filters={"assignee": "²"})
    MentionFactory(team=care_team, text="waiting")
    client.force_login(agent)

    response = client.get(INBOX_URL, {"assignee": "²"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Broken" in html
    assert "Assignee: Choose me, none or a person (by user id, in digits 0-9)." in html
    assert mention_texts(html) == []


def test_saved_view_cannot_be_shared_with_a_team_one_is_not_in(client, agent, crisis_team):
    client.force_login(agent)

    response = client.post(reverse("inbox:saved_view_save"), {"name": "x", "share_with": crisis_team.pk})

    assert response.status_code == 404
    assert not SavedView.objects.exists()


# --- Presence and the live stream ---------------------------------------------------------------------------


def test_presence_shows_who_else_is_viewing_and_typing(client, agent, teammate, care_team):
    mention = MentionFactory(team=care_team)
    client.force_login(teammate)
    client.post(action_url(mention, "presence"), {"state": "typing"})
    client.force_login(agent)

    answer = client.post(action_url(mention, "presence"), {"state": "viewing"}).json()
    listed = client.get(LIST_URL, **HTMX).content.decode()
    detail = client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).content.decode()

    assert answer == {"viewers": [{"user": teammate.pk, "name": "Bea Mate", "typing": True}]}
    assert "Bea Mate is replying" in listed
    assert "Bea Mate is writing a reply" in detail


def _read_events(response, want: int, timeout: float = 10.0) -> list[dict]:
    events = []
    deadline = time.monotonic() + timeout
    buffer = b""
    for chunk in response.streaming_content:
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    events.append(json.loads(line[6:]))
        if len(events) >= want or time.monotonic() > deadline:
            break
    return events


def test_event_stream_sends_my_teams_events_and_not_others(client, agent, care_team, crisis_team):
    client.force_login(agent)
    response = client.get(reverse("inbox:events"))
    assert response["Content-Type"] == "text/event-stream"
    stream = iter(response.streaming_content)
    assert next(stream) == b"retry: 2000\n\n"
    subscriber = redis.Redis.from_url(settings.REDIS_URL)

    def publish() -> None:
        # Wait until the stream has subscribed, then publish one event for each team.
        deadline = time.monotonic() + 5
        while subscriber.pubsub_numsub(EVENTS_CHANNEL)[0][1] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        event_publish("mention.closed", {"ids": [1], "teams": [crisis_team.pk], "actor": "x"})
        event_publish("mention.closed", {"ids": [2], "teams": [care_team.pk], "actor": agent.username})

    threading.Thread(target=publish).start()
    events = []
    buffer = b""
    deadline = time.monotonic() + 10
    for chunk in stream:
        buffer += chunk
        if b"event: change" in buffer or time.monotonic() > deadline:
            break
    for line in buffer.split(b"\n"):
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
    response.close()
    events = [e for e in events if not e["kind"].startswith("live.")]  # the stream's own news

    assert [e["ids"] for e in events] == [[2]]
    assert events[0]["mine"] is True


def test_the_history_in_the_pane_says_what_changed_in_words(client, agent, care_team):
    mention = MentionFactory(team=care_team, priority=Mention.Priority.NORMAL)
    client.force_login(agent)
    client.post(action_url(mention, "assign"), {"assignee": agent.pk}, **HTMX)
    client.post(action_url(mention, "priority"), {"priority": "40"}, **HTMX)

    html = client.get(f"{INBOX_URL}?open={mention.pk}").content.decode()

    history = html[html.index('<h3 id="history-title">History</h3>') :]
    name = agent.get_full_name() or agent.username
    assert (
        '<span class="audit__field">priority:</span> <span class="audit__before">Normal</span> '
        '<span aria-hidden="true">→</span><span class="visually-hidden">, changed to</span> '
        '<span class="audit__after">Urgent</span>'
    ) in history
    assert (
        '<span class="audit__field">assignee:</span> <span class="audit__before">(none)</span> '
        '<span aria-hidden="true">→</span><span class="visually-hidden">, changed to</span> '
        f'<span class="audit__after">{name}</span>'
    ) in history
    assert ">20<" not in history
    assert ">40<" not in history
    assert "removed" not in history
