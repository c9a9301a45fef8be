"""The inbox page and its live-refreshed list, as an agent, a team-less user and an admin see them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

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


def mention_texts(html: str) -> list[str]:
    """The texts of the listed mentions, top to bottom, as the page renders them."""
    return re.findall(r'<p class="mention__text">(.*?)</p>', html, flags=re.S)


@pytest.fixture
def care_team():
    return segment("customer-relations").team


@pytest.fixture
def crisis_team():
    return segment("crisis-management").team


@pytest.fixture
def agent(care_team):
    return MembershipFactory(team=care_team, user__first_name="Ada", user__last_name="Agent").user


def minutes_ago(minutes: int):
    return timezone.now().replace(microsecond=0) - timedelta(minutes=minutes)


def test_urls_are_named():
    assert reverse("inbox:index") == INBOX_URL
    assert reverse("inbox:mention_list") == LIST_URL


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(INBOX_URL)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/inbox/"


def test_agent_sees_own_team_newest_first_and_not_other_teams(client, agent, care_team, crisis_team):
    MentionFactory(team=care_team, text="care oldest", created_at=minutes_ago(30))
    MentionFactory(team=care_team, text="care newest", created_at=minutes_ago(1))
    MentionFactory(team=care_team, text="care middle", created_at=minutes_ago(10))
    MentionFactory(team=crisis_team, text="crisis only", created_at=minutes_ago(2))
    MentionFactory(team=None, text="not routed", created_at=minutes_ago(3))
    client.force_login(agent)

    response = client.get(INBOX_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert mention_texts(html) == ["care newest", "care middle", "care oldest"]
    assert "crisis only" not in html
    assert "not routed" not in html
    assert '<p class="page-head__scope">\n      Customer Care\n    </p>' in html


def test_admin_sees_every_team(client, care_team, crisis_team):
    MentionFactory(team=care_team, text="care post", created_at=minutes_ago(5))
    MentionFactory(team=crisis_team, text="crisis post", created_at=minutes_ago(1))
    MentionFactory(team=None, text="not routed", created_at=minutes_ago(9))
    client.force_login(UserFactory(admin=True))

    html = client.get(INBOX_URL).content.decode()

    assert mention_texts(html) == ["crisis post", "care post", "not routed"]
    assert '<p class="page-head__scope">\n      All teams\n    </p>' in html


def test_page_names_the_user_and_their_teams_and_logs_out_by_post(client, agent, crisis_team):
    MembershipFactory(user=agent, team=crisis_team)
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert '<span class="account__name">Ada Agent</span>' in html
    assert '<span class="account__teams">Crisis Response, Customer Care</span>' in html
    assert '<form method="post" action="/accounts/logout/" class="account__logout">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'href="/accounts/logout/"' not in html


def test_mention_text_and_author_name_are_escaped(client, agent, care_team):
    author = AuthorFactory(display_name="<img src=x onerror=alert(2)>Eve", handle="eve")
    MentionFactory(team=care_team, author=author, text='<script>alert(1)</script> & "quotes"\nsecond line')
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert mention_texts(html) == [
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;<br>second line"
    ]
    assert "&lt;img src=x onerror=alert(2)&gt;Eve" in html
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html


def test_only_web_links_to_the_post_become_links(client, agent, care_team):
    MentionFactory(team=care_team, url="https://social.example/@eve/1", created_at=minutes_ago(1))
    MentionFactory(team=care_team, url="javascript:alert(3)", created_at=minutes_ago(2))
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert 'href="https://social.example/@eve/1"' in html
    assert html.count("View post") == 1
    assert "javascript:" not in html


def test_mention_shows_author_facts_time_and_status(client, agent, care_team):
    author = AuthorFactory(display_name="Grace", handle="grace", follower_count=12345, is_verified=True)
    posted = minutes_ago(5)
    MentionFactory(team=care_team, author=author, created_at=posted, kind="dm", status="open")
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert '<span class="author__handle">@grace</span>' in html
    assert "12,345 followers" in html
    assert '<span class="visually-hidden">(verified)</span>' in html
    assert f'<time datetime="{posted.isoformat()}"' in html
    assert ">5\xa0minutes ago</time>" in html
    assert "Direct message" in html
    assert '<span class="badge badge--status status-open">Open</span>' in html
    assert "Simulated" in html


def test_misdirected_mention_is_flagged_and_others_are_not(client, agent, care_team):
    MentionFactory(team=care_team, text="where is my order", is_misdirected=True)
    MentionFactory(team=care_team, text="love the product", is_misdirected=False)
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert html.count('<span class="badge badge--misdirected">Misdirected</span>') == 1
    assert html.count('class="mention mention--misdirected"') == 1


def test_channel_handle_and_segment_are_shown(client, agent, care_team):
    channel = ChannelFactory(handle="@acme_help", segment=segment("customer-relations"))
    MentionFactory(team=care_team, on_channels=[channel])
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert '<span class="receipt__handle">@acme_help</span>' in html
    assert '<span class="badge segment-customer-relations">Customer relations</span>' in html
    assert "Generic source" not in html


def test_mention_on_two_channels_shows_both(client, agent, care_team):
    help_desk = ChannelFactory(handle="@acme_help", segment=segment("customer-relations"))
    deals = ChannelFactory(handle="@acme_deals", segment=segment("product-promotion"))
    MentionFactory(team=care_team, on_channels=[help_desk, deals])
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert re.findall(r'<span class="receipt__handle">(.*?)</span>', html) == ["@acme_help", "@acme_deals"]
    assert '<span class="badge segment-product-promotion">Product promotion / sales</span>' in html


def test_page_refreshes_the_list_from_the_partial_with_bundled_htmx(client, agent):
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert 'hx-get="/inbox/mentions/"' in html
    assert 'hx-trigger="every 5s"' in html
    assert 'hx-swap="innerHTML"' in html
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert """hx-headers='{"X-CSRFToken": \"""" in html
    assert '<script src="http' not in html
    assert '<link rel="stylesheet" href="/static/css/socialops.css">' in html


def test_partial_is_only_the_list_and_includes_a_mention_added_after_the_page_loaded(
    client, agent, care_team
):
    MentionFactory(team=care_team, text="already there", created_at=minutes_ago(3))
    client.force_login(agent)
    page = client.get(INBOX_URL)
    MentionFactory(team=care_team, text="arrived later", created_at=minutes_ago(0))

    response = client.get(LIST_URL, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "arrived later" not in page.content.decode()
    assert mention_texts(html) == ["arrived later", "already there"]
    assert "<html" not in html
    assert [t.name for t in response.templates] == ["inbox/_mention_list.html"]


def test_refresh_marks_and_announces_only_what_is_new(client, agent, care_team):
    seen = MentionFactory(team=care_team, text="seen", created_at=minutes_ago(3))
    client.force_login(agent)
    MentionFactory(team=care_team, text="new one", created_at=minutes_ago(1))

    response = client.get(LIST_URL, {"since": seen.id}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert '<p id="inbox-announcer" hx-swap-oob="innerHTML">1 new mention</p>' in html
    assert html.count("mention--new") == 1


def test_refresh_with_nothing_new_announces_nothing(client, agent, care_team):
    seen = MentionFactory(team=care_team, text="seen", created_at=minutes_ago(3))
    client.force_login(agent)

    response = client.get(LIST_URL, {"since": seen.id}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert mention_texts(html) == ["seen"]
    assert f'<input type="hidden" id="mention-list-since" name="since" value="{seen.id}">' in html
    assert "hx-swap-oob" not in html
    assert "mention--new" not in html


def test_refresh_after_the_session_ended_sends_the_whole_page_to_login(client):
    response = client.get(LIST_URL, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/inbox/"
    assert response.content == b""


def test_partial_without_htmx_redirects_anonymous_visitors(client):
    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/inbox/mentions/"


def test_team_member_with_no_mentions_sees_how_mentions_arrive(client, agent):
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert '<p class="empty-state__title">No mentions yet.</p>' in html
    assert "in the demo, simulated mentions arrive within a minute" in html
    assert "You are not on a team yet" not in html


def test_user_without_a_team_is_told_to_ask_for_one(client):
    MentionFactory(team=None, text="not routed")
    client.force_login(UserFactory())

    html = client.get(INBOX_URL).content.decode()

    assert "You are not on a team yet — ask a team lead or admin to add you." in html
    assert '<p class="page-head__scope">\n      No team\n    </p>' in html
    assert "No mentions yet." not in html
    assert "not routed" not in html


def _inbox_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(INBOX_URL)
    assert response.status_code == 200
    return len(queries)


def test_inbox_query_count_does_not_grow_with_mentions(
    client, agent, care_team, django_assert_max_num_queries
):
    channels = [
        ChannelFactory(segment=segment("customer-relations")),
        ChannelFactory(segment=segment("product-promotion")),
        ChannelFactory(segment=segment("event-coverage")),
    ]
    MentionFactory(team=care_team, on_channels=channels[:1], created_at=minutes_ago(100))
    client.force_login(agent)
    with_one_mention = _inbox_queries(client)
    for n in range(29):
        MentionFactory(team=care_team, on_channels=[channels[n % 3], channels[(n + 1) % 3]])

    with django_assert_max_num_queries(10):
        response = client.get(INBOX_URL)

    assert len(mention_texts(response.content.decode())) == 30
    assert _inbox_queries(client) == with_one_mention


def test_each_mention_shows_when_it_was_received(client, agent, care_team):
    received = timezone.now().replace(hour=9, minute=31, second=7, microsecond=0)
    MentionFactory(team=care_team, received_at=received, created_at=received - timedelta(seconds=40))
    client.force_login(agent)

    html = client.get(INBOX_URL).content.decode()

    assert f'Received <time datetime="{received.isoformat()}">09:31:07</time>' in html
