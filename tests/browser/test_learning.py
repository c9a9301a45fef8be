"""Routing learns from re-routes, in real Chromium: an agent re-routes three posts about a new product line
to the team that now owns it; after the training the worker runs, the next such post goes straight to that
team, and its explanation says what routing learned it from."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from channels.connectors.simulated import SimulatedConnector
from inbox.models import Mention
from inbox.pulls import channel_pull
from inbox.tasks import classifier_train_task
from routing.models import Correction, ModelVersion
from tests.browser.inbox_page import (
    arrive,
    events_channel_of_its_own,
    javascript_errors,
    new_context,
    open_inbox,
    post,
    sign_in,
)
from tests.factories import ChannelFactory, MembershipFactory, TeamFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

# The help desk's recent past: posts pulled from the simulated network, each closed by the team routing gave
# it (the teams' history the owner model learns from besides the corrections).
HISTORY_POSTS = 40
# Support questions about the new Voltra e-bike: customer care keeps them, as the intent map says.
VOLTRA = [
    "The Voltra e-bike battery only lasts 20 km, is that normal?",
    "My Voltra e-bike display keeps showing E07, what does it mean?",
    "How do I pair the Voltra e-bike app with my phone?",
]
NEXT_VOLTRA = "Is the Voltra e-bike frame covered by the warranty?"
UNRELATED = "Where is my order #4471? It has been two weeks"


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


def test_after_three_reroutes_and_a_training_the_next_such_post_goes_straight_to_that_team(
    live_server, browser, page
) -> None:
    errors = javascript_errors(page)
    care = segment("customer-relations")
    e_bikes = TeamFactory(name="E-bikes", slug="e-bikes")  # made for the new product line: no segment
    casey = MembershipFactory(team=care.team, user__username="casey", user__first_name="Casey").user
    eli = MembershipFactory(team=e_bikes, user__username="eli", user__first_name="Eli").user
    help_desk = ChannelFactory(
        slug="northwind-help",
        handle="@northwind_help",
        segment=care,
        credentials={"posts_per_pull": HISTORY_POSTS},
    )
    channel_pull(channel_id=help_desk.pk, connector=SimulatedConnector())
    assert Mention.objects.exclude(team=None).update(status=Mention.Status.CLOSED) == HISTORY_POSTS
    voltra = arrive(help_desk, *(post(text, handle=f"rider{n}") for n, text in enumerate(VOLTRA)))
    assert [m.team for m in voltra] == [care.team] * 3
    sign_in(page.context, live_server.url, casey)
    open_inbox(page, f"{live_server.url}/inbox/")
    rows = page.locator("li.mention")
    expect(rows).to_have_count(3)

    for mention in voltra:
        page.locator(f'li.mention[data-id="{mention.pk}"] .mention__open').click()
        expect(page.locator("#detail article")).to_have_attribute("data-mention-id", str(mention.pk))
        page.keyboard.press("m")  # the re-route control
        expect(page.get_by_label("Re-route")).to_be_focused()
        page.get_by_label("Re-route").select_option(label="E-bikes")
        page.locator("#reroute-form").get_by_label("Reason").fill("The e-bike team answers Voltra questions")
        page.locator("#reroute-form").get_by_role("button", name="Re-route").click()
        expect(page.locator("#detail")).to_contain_text("Re-routed to E-bikes.")
        expect(page.locator(f'li.mention[data-id="{mention.pk}"]')).to_have_count(0)
    expect(rows).to_have_count(0)
    assert list(Correction.objects.order_by("id").values_list("mention", "team_after")) == [
        (mention.pk, e_bikes.pk) for mention in voltra
    ]

    assert classifier_train_task() == 1  # what the worker runs after a correction, and nightly
    assert ModelVersion.objects.get().is_active

    following, unrelated = arrive(
        help_desk, post(NEXT_VOLTRA, handle="rider9"), post(UNRELATED, handle="cho_m", name="Cho Min")
    )

    following.refresh_from_db()
    unrelated.refresh_from_db()
    assert (following.team, following.decision["owner_source"]) == (e_bikes, "learned")
    assert (unrelated.team, unrelated.decision["owner_source"]) == (care.team, "intent")
    # Customer care's queue: the unrelated post, and not the Voltra one.
    expect(page.locator(f'li.mention[data-id="{unrelated.pk}"]')).to_have_count(1)
    expect(page.locator(f'li.mention[data-id="{following.pk}"]')).to_have_count(0)
    # The e-bike team's queue: the Voltra post, with why it is there.
    context = new_context(browser)
    try:
        eli_page = context.new_page()
        eli_errors = javascript_errors(eli_page)
        sign_in(context, live_server.url, eli)
        open_inbox(eli_page, f"{live_server.url}/inbox/")
        eli_rows = eli_page.locator("li.mention")
        expect(eli_rows).to_have_count(4)  # the three re-routed, and the one routing sent
        eli_page.locator(f'li.mention[data-id="{following.pk}"] .mention__open').click()
        explanation = eli_page.locator("#detail .routing")
        expect(explanation).to_contain_text(
            re.compile(r"Owner team E-bikes \(0\.\d\d\), learned from 3 corrections for that team")
        )
        expect(explanation).to_contain_text(
            "Team E-bikes owns posts like it, learned from what the teams did; received by team "
            f"{care.team.name}."
        )
        assert eli_errors == []
    finally:
        context.close()
    assert errors == []
