"""An agent's day in the inbox, in real Chromium: logging in, a mention arriving live, assigning it,
replying, and re-routing a misdirected one to the team that owns it."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from playwright.sync_api import expect

from channels.connectors.simulated import SimulatedConnector
from inbox.actions.triage import note_add
from inbox.models import Mention, Reply, SavedView
from inbox.pulls import channel_pull
from routing.models import Correction
from tests.browser.inbox_page import (
    arrive,
    events_channel_of_its_own,
    javascript_errors,
    open_inbox,
    post,
    sign_in,
)
from tests.factories import DEFAULT_PASSWORD, ChannelFactory, MembershipFactory, MentionFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


LIVE_SECONDS = 5  # the issue asks for 2 s from event to screen; the margin keeps a busy CI machine green


def test_an_agent_logs_in_watches_a_mention_arrive_live_assigns_it_and_replies(
    live_server, page, screenshot
) -> None:
    errors = javascript_errors(page)
    care = segment("customer-relations")
    agent = MembershipFactory(
        team=care.team, user__username="casey", user__first_name="Casey", user__last_name="Reyes"
    ).user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care, credentials={"posts_per_pull": 8})
    shop = ChannelFactory(handle="@northwind_shop", segment=segment("product-promotion"))
    channel_pull(channel_id=help_desk.pk, connector=SimulatedConnector())
    # Routing sends the help desk's strays to the teams that own them; Casey's queue holds her team's
    # (but not spam).
    waiting = (
        Mention.objects.filter(team=care.team, assignee=None, status__in=["new", "open"])
        .exclude(intent="spam")
        .count()
    )
    assert 0 < waiting <= 8
    MentionFactory(team=shop.segment.team, text="Only the sales team may read this", on_channels=[shop])

    page.goto(f"{live_server.url}/inbox/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/inbox/")
    page.get_by_label("Username").fill(agent.username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    with page.expect_response(lambda response: "/inbox/events/" in response.url):
        page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/inbox/")
    rows = page.locator("li.mention")
    expect(rows).to_have_count(waiting)
    expect(page.get_by_text("Only the sales team may read this")).to_have_count(0)
    expect(page.locator("#queue-counts .queue--current")).to_contain_text(f"Team queue {waiting}")
    page.evaluate("window.sameDocument = true")

    (arrived,) = arrive(
        help_desk,
        post(
            "<b>Tent pole snapped</b> on day one & I'm stuck <script>window.pwned = 1</script>",
            handle="tentless",
            name="Tess <i>Tentless</i>",
        ),
    )

    # No reload: the stream's event makes the list fetch itself again, newest first.
    new_row = rows.first
    expect(new_row).to_contain_text(
        "<b>Tent pole snapped</b> on day one & I'm stuck <script>window.pwned = 1</script>",
        timeout=LIVE_SECONDS * 1000,
    )
    expect(new_row).to_contain_text("Tess <i>Tentless</i>")
    expect(rows).to_have_count(waiting + 1)
    expect(new_row).to_contain_class("mention--new")
    expect(page.locator("#queue-counts .queue--current")).to_contain_text(f"Team queue {waiting + 1}")
    assert page.evaluate("window.sameDocument") is True
    # The network's text is shown, never interpreted.
    expect(page.locator("li.mention b, li.mention i, li.mention script")).to_have_count(0)
    assert page.evaluate("window.pwned") is None

    new_row.locator(".mention__open").click()
    detail = page.locator("#detail article")
    expect(detail).to_have_attribute("data-mention-id", str(arrived.pk))
    expect(page.locator("#detail-title")).to_contain_text("Tess <i>Tentless</i> @tentless")
    expect(page.locator("#detail .thread__post--current")).to_contain_text("<b>Tent pole snapped</b>")
    expect(page.locator("#detail b, #detail i, #detail script")).to_have_count(0)
    expect(page).to_have_url(f"{live_server.url}/inbox/?queue=team&open={arrived.pk}")
    expect(new_row).to_contain_class("is-current is-open")
    expect(page.locator("[data-collision]")).to_be_hidden()
    screenshot("inbox")

    page.get_by_role("button", name="Assign to me").click()
    expect(page.locator("#detail .alert--success")).to_have_text("Assigned to Casey Reyes.")
    expect(page.locator("#detail .detail__badges")).to_contain_text("Assigned to Casey Reyes")
    expect(page.get_by_role("button", name="Assign to me")).to_have_count(0)
    # The team queue holds the unassigned: the row leaves it, the detail stays open.
    expect(page.locator(f'li.mention[data-id="{arrived.pk}"]')).to_have_count(0)
    expect(rows).to_have_count(waiting)
    expect(page.locator("[data-collision]")).to_be_hidden()

    reply = page.get_by_label("Reply text")
    counter = page.locator("#reply-count")
    expect(counter).to_have_text("0 / 280")
    reply.fill("Sorry to hear that, Tess! A new pole is on its way: https://northwind.example/poles")
    # 52 characters of text, and the link counts as 23 whatever its length.
    expect(counter).to_have_text("75 / 280")
    expect(counter).not_to_contain_class("composer__count--over")
    page.get_by_role("button", name="Send reply").click()

    expect(page.locator("#detail .alert--success")).to_have_text("Reply queued for sending.")
    ours = page.locator("#detail .thread__post--ours")
    expect(ours).to_have_count(1)
    expect(ours).to_contain_text("Casey Reyes replied from @northwind_help")
    expect(ours).to_contain_text("Sorry to hear that, Tess! A new pole is on its way")
    expect(page.get_by_label("Reply text")).to_have_value("")
    arrived.refresh_from_db()
    assert (arrived.assignee, arrived.status) == (agent, Mention.Status.OPEN)
    assert list(Reply.objects.values_list("mention", "author", "text", "state")) == [
        (
            arrived.pk,
            agent.pk,
            "Sorry to hear that, Tess! A new pole is on its way: https://northwind.example/poles",
            Reply.State.QUEUED,
        )
    ]
    assert errors == []


def test_a_new_mention_shows_while_the_team_keeps_changing_others(live_server, page) -> None:
    """A busy team sends events faster than the list waits for before it refreshes: the list refreshes all
    the same, and the queue counts do not cost a request per event."""
    errors = javascript_errors(page)
    care = segment("customer-relations")
    agent, teammate = MembershipFactory(team=care.team).user, MembershipFactory(team=care.team).user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    (busy,) = arrive(help_desk, post("Where is my order #4471? It has been two weeks"))
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/")
    expect(page.locator("li.mention")).to_have_count(1)
    counts_requests: list[str] = []
    page.on(
        "request", lambda request: counts_requests.append(request.url) if "/counts/" in request.url else None
    )

    started = time.monotonic()
    (arrived,) = arrive(help_desk, post("My Tundra 2 tent pole snapped. How do I get a replacement?"))
    for step in range(20):  # a teammate's note every tenth of a second, for two seconds
        note_add(actor=teammate, mention=busy, body=f"Asked the warehouse again ({step})")
        time.sleep(0.1)
    busy_seconds = time.monotonic() - started

    # Checked as the notes stop: a list that waited for a quiet moment would not show it yet.
    expect(page.locator(f'li.mention[data-id="{arrived.pk}"]')).to_have_count(1, timeout=100)
    assert len(counts_requests) <= busy_seconds / 0.25 + 2  # one per quarter second, not one per event
    assert errors == []


def test_the_reply_counter_counts_as_the_network_does_and_warns_past_the_limit(live_server, page) -> None:
    errors = javascript_errors(page)
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team).user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    (mention,) = arrive(help_desk, post("Where is my order #4471? It has been two weeks"))
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/?open={mention.pk}")

    counter = page.locator("#reply-count")
    reply = page.get_by_label("Reply text")
    reply.fill("Hi 👋 日本")  # an emoji and CJK characters weigh two each on X
    expect(counter).to_have_text("10 / 280")
    reply.fill("x" * 281)
    expect(counter).to_have_text("281 / 280")
    expect(counter).to_contain_class("composer__count--over")
    page.get_by_label("Direct message").check()
    expect(counter).to_have_text("281 / 10000")
    expect(counter).not_to_contain_class("composer__count--over")
    page.get_by_label("Public reply").check()
    page.get_by_role("button", name="Send reply").click()

    # The server counts again, and refuses; what was typed stays in the composer.
    expect(page.locator("#detail [role=alert]")).to_have_text(
        "The reply is 281 characters as Simulated counts them; the limit is 280."
    )
    expect(page.get_by_label("Reply text")).to_have_value("x" * 281)
    assert Reply.objects.count() == 0
    assert errors == []


def test_an_agent_re_routes_a_misdirected_mention_to_the_team_that_owns_it(live_server, page) -> None:
    errors = javascript_errors(page)
    care = segment("customer-relations")
    events_team = segment("event-coverage").team
    agent = MembershipFactory(team=care.team, user__first_name="Casey").user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    stray, own = arrive(
        help_desk,
        # Routing keeps this one (a complaint, confidently) though the events team runs Trailfest.
        post("The line for the Trailfest night hike is two hours long, this is chaos", handle="queuer"),
        post("My Tundra 2 tent pole snapped on the first night. How do I get a replacement?"),
    )
    assert (stray.team, stray.is_misdirected) == (care.team, False)
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/")
    rows = page.locator("li.mention")
    expect(rows).to_have_count(2)

    page.locator(f'li.mention[data-id="{stray.pk}"] .mention__open').click()
    expect(page.locator("#detail article")).to_have_attribute("data-mention-id", str(stray.pk))
    expect(page.locator("#detail .routing")).to_contain_text("Intent complaint")
    page.keyboard.press("m")
    expect(page.get_by_label("Re-route")).to_be_focused()
    page.get_by_label("Re-route").select_option(label=events_team.name)
    page.locator("#reroute-form").get_by_label("Reason").fill("Trailfest queues are the events team's")
    page.locator("#reroute-form").get_by_role("button", name="Re-route").click()

    expect(page.locator("#detail")).to_contain_text(f"Re-routed to {events_team.name}.")
    expect(page.locator("#detail")).to_contain_text("It has left your team's queues.")
    expect(page.locator(f'li.mention[data-id="{stray.pk}"]')).to_have_count(0)
    expect(rows).to_have_count(1)
    expect(page.locator("#queue-counts .queue--current")).to_contain_text("Team queue 1")
    stray.refresh_from_db()
    assert stray.team == events_team
    assert stray.decision["correction_reason"] == "Trailfest queues are the events team's"
    assert list(Correction.objects.values_list("mention", "team_before", "team_after")) == [
        (stray.pk, care.team.pk, events_team.pk)
    ]
    own.refresh_from_db()
    assert own.team == care.team
    assert errors == []


def test_back_and_forward_step_through_the_mentions_opened_without_leaving_the_inbox(
    live_server, page
) -> None:
    errors = javascript_errors(page)
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team).user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    first, second = arrive(
        help_desk,
        post("Where is my order #4471? It has been two weeks", handle="cho_m", name="Cho Min"),
        post("Is the Cirrus bag warm enough for a night at -10 °C?", handle="sven_k", name="Sven Kowalski"),
    )
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/")
    pane = page.locator("#detail article")

    page.locator(f'li.mention[data-id="{first.pk}"] .mention__open').click()
    expect(pane).to_have_attribute("data-mention-id", str(first.pk))
    page.locator(f'li.mention[data-id="{second.pk}"] .mention__open').click()
    expect(pane).to_have_attribute("data-mention-id", str(second.pk))
    expect(page).to_have_url(f"{live_server.url}/inbox/?queue=team&open={second.pk}")

    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/inbox/?queue=team&open={first.pk}")
    expect(pane).to_have_attribute("data-mention-id", str(first.pk))
    expect(page.locator(f'li.mention[data-id="{first.pk}"]')).to_contain_class("is-open")

    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/inbox/")
    expect(pane).to_have_count(0)
    expect(page.locator("#detail")).to_contain_text("Open a mention to see its thread, author and routing.")

    page.go_forward()
    expect(pane).to_have_attribute("data-mention-id", str(first.pk))
    page.go_forward()
    expect(pane).to_have_attribute("data-mention-id", str(second.pk))
    expect(page).to_have_url(f"{live_server.url}/inbox/?queue=team&open={second.pk}")
    assert errors == []


def test_saving_a_view_keeps_the_filters_applied_since_the_page_loaded(live_server, page) -> None:
    errors = javascript_errors(page)
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team).user
    calm, angry = (
        MentionFactory(team=care.team, text="Thanks for the quick help", sentiment_label="positive"),
        MentionFactory(
            team=care.team, text="Third broken zip, awful", sentiment_label="negative", priority=40
        ),
    )
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/")
    expect(page.locator("li.mention")).to_have_count(2)

    page.get_by_text("Filters", exact=True).click()
    page.locator("#filters").get_by_label("Sentiment").select_option("negative")
    page.locator("#filters").get_by_label("Priority").select_option("40")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("li.mention")).to_have_count(1)
    expect(page.locator(f'li.mention[data-id="{angry.pk}"]')).to_be_visible()
    page.get_by_text("Save these filters").click()
    page.get_by_label("Name", exact=True).fill("Angry and urgent")
    page.get_by_role("button", name="Save view").click()

    expect(page.get_by_role("link", name="Angry and urgent")).to_be_visible()
    assert SavedView.objects.get(name="Angry and urgent").filters == {
        "queue": "team",
        "sentiment": "negative",
        "priority": "40",
    }
    expect(page.locator("li.mention")).to_have_count(1)
    expect(page.locator(f'li.mention[data-id="{calm.pk}"]')).to_have_count(0)
    assert errors == []


def test_a_filter_day_no_post_can_have_is_named_in_the_list_and_nothing_is_listed(live_server, page) -> None:
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team).user
    MentionFactory(team=care.team, text="Where is my order?")
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/?queue=all")
    expect(page.locator("li.mention")).to_have_count(1)

    page.get_by_text("Filters", exact=True).click()
    page.locator("#id_until").fill("9999-12-31")
    page.get_by_role("button", name="Apply filters").click()

    # The list answers 400; the page shows its message in place of the rows instead of keeping stale ones.
    expect(page.locator("#filter-error")).to_contain_text(
        "These filters are not valid, so nothing is listed. Until: Choose a day up to "
    )
    expect(page.locator("li.mention")).to_have_count(0)


def test_the_reply_counter_counts_graphemes_for_bluesky_as_its_connector_declares(live_server, page) -> None:
    errors = javascript_errors(page)
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team).user
    channel = ChannelFactory(network="bluesky", handle="@northwind.bsky.social", segment=care)
    (mention,) = arrive(
        channel,
        replace(
            post("Where is my order? It has been two weeks"),
            network="bluesky",
            external_id="at://did:plc:ann2q7vx4lk3m5n6p7r8s9t0/app.bsky.feed.post/3kbrowser0001",
        ),
    )
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/?open={mention.pk}")

    counter = page.locator("#reply-count")
    reply = page.get_by_label("Reply text")
    reply.fill("Hi 👋 日本 👨‍👩‍👧 🇫🇷")  # one each: an emoji, a CJK character, a family, a flag
    expect(counter).to_have_text("11 / 300")
    reply.fill("🇫🇷" * 301)
    expect(counter).to_have_text("301 / 300")
    expect(counter).to_contain_class("composer__count--over")
    page.get_by_label("Direct message").check()
    expect(counter).to_have_text("301 / 1000")
    expect(counter).not_to_contain_class("composer__count--over")
    assert errors == []
