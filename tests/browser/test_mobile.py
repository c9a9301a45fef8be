"""The inbox on a phone, in real Chromium at 390 x 844: the queues are a menu, the list and the detail are
two screens (open a mention, reply, go back), nothing is wider than the screen; and authors' avatars, whose
missing or failing images leave the initials."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect

from inbox.models import Reply
from tests.browser.inbox_page import (
    arrive,
    events_channel_of_its_own,
    javascript_errors,
    new_context,
    open_inbox,
    post,
    sign_in,
)
from tests.factories import ChannelFactory, MembershipFactory, segment
from users.models import Preferences

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

PHONE = {"width": 390, "height": 844}
PAGE_WIDTH = "document.documentElement.scrollWidth"
AVATAR_HOST = "avatars.example"  # served by the test itself (page.route): no request leaves the machine
# A 2 x 2 PNG, opaque blue: the image an avatar shows when its address answers.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR4nGNgYPgPRgwMDAwMAB3mA/1kXDbCAAAAAElFTkSuQmCC"
)


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


@pytest.fixture
def casey():
    care = segment("customer-relations")
    agent = MembershipFactory(
        team=care.team, user__username="casey", user__first_name="Casey", user__last_name="Reyes"
    ).user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    arrive(
        help_desk,
        post(
            "@northwind_help my order #4411 never arrived, can you check where it is?",
            handle="tess_k",
            name="Tess K",
        ),
        post(
            "@northwind_help where do I find the size chart for the Alpine jacket?",
            handle="omar_b",
            name="Omar B",
        ),
        post(
            "@northwind_help the zip on my new tent broke on the first night", handle="lee_c", name="Lee Chen"
        ),
    )
    return agent


@pytest.fixture
def phone(browser) -> Page:
    context = new_context(browser, viewport=PHONE)
    yield context.new_page()
    context.close()


def _no_wider_than_the_phone(page: Page) -> None:
    assert page.evaluate(PAGE_WIDTH) <= PHONE["width"]


def test_on_a_phone_an_agent_opens_a_mention_replies_and_goes_back_to_the_list(
    live_server, phone, casey, screenshot
) -> None:
    errors = javascript_errors(phone)
    sign_in(phone.context, live_server.url, casey)
    open_inbox(phone, f"{live_server.url}/inbox/")
    rows = phone.locator("li.mention")
    expect(rows).to_have_count(3)
    detail = phone.locator("#detail")
    expect(detail).to_be_hidden()
    _no_wider_than_the_phone(phone)

    # The queues are a menu, folded; the keyboard opens and folds it.
    toggle = phone.locator(".queues__toggle")
    team_queue = phone.locator("#queue-counts a.queue").first
    expect(toggle).to_be_visible()
    expect(team_queue).to_be_hidden()
    toggle.focus()
    phone.keyboard.press("Enter")
    expect(team_queue).to_be_visible()
    _no_wider_than_the_phone(phone)
    phone.keyboard.press("Enter")
    expect(team_queue).to_be_hidden()
    screenshot("inbox-390", of=phone)

    # The list gives way to the mention.
    rows.filter(has_text="never arrived").locator(".mention__open").click()
    article = detail.locator("article")
    expect(article).to_be_visible()
    expect(phone.locator(".listpane")).to_be_hidden()
    expect(toggle).to_be_hidden()
    assert detail.bounding_box()["width"] >= 300
    _no_wider_than_the_phone(phone)
    # Every action is within reach: assign, close, spam, and behind the fold re-route (the escalation to
    # another team), label, priority, snooze.
    for name in ("Assign to me", "Close", "Spam"):
        button = article.get_by_role("button", name=name)
        button.scroll_into_view_if_needed()
        expect(button).to_be_in_viewport()
    article.locator(".action-forms > summary").click()
    for label in ("Re-route", "Labels", "Priority", "Snooze until"):
        field = article.get_by_label(label, exact=False).first
        field.scroll_into_view_if_needed()
        expect(field).to_be_in_viewport()
        assert field.bounding_box()["x"] + field.bounding_box()["width"] <= PHONE["width"]
    _no_wider_than_the_phone(phone)

    reply = article.get_by_label("Reply text")
    reply.fill("Sorry, Tess! It left our warehouse today; the tracking link follows by DM.")
    article.get_by_role("button", name="Send reply").click()
    expect(phone.locator("#detail .alert--success")).to_have_text("Reply queued for sending.")
    assert list(Reply.objects.values_list("text", "author__username")) == [
        ("Sorry, Tess! It left our warehouse today; the tracking link follows by DM.", "casey")
    ]
    _no_wider_than_the_phone(phone)
    assert phone.locator("#detail").bounding_box()["width"] >= 300
    phone.evaluate("window.scrollTo(0, 0)")
    screenshot("inbox-390-detail", of=phone)

    # Replying assigned it to Casey: it left the team queue, live, behind the detail.
    expect(rows).to_have_count(2)
    phone.get_by_role("link", name="Back to the list").click()
    expect(rows.first).to_be_visible()
    expect(detail).to_be_hidden()
    assert "open=" not in phone.url
    expect(rows.first).to_be_focused()
    _no_wider_than_the_phone(phone)
    # The browser's Forward comes back to the mention, its Back to the list again.
    phone.go_forward()
    expect(article).to_be_visible()
    expect(phone.locator(".listpane")).to_be_hidden()
    phone.go_back()
    expect(detail).to_be_hidden()
    assert errors == []


def test_without_javascript_the_phone_layout_still_lists_opens_and_leads_back(
    live_server, browser, casey
) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    phone = context.new_page()
    sign_in(context, live_server.url, casey)
    phone.goto(f"{live_server.url}/inbox/")
    # Served open: the queues are there to follow without the script.
    expect(phone.locator("#queue-counts a.queue").first).to_be_visible()
    phone.locator("li.mention .mention__open").first.click()
    expect(phone.locator("#detail article")).to_be_visible()
    expect(phone.locator(".listpane")).to_be_hidden()
    assert phone.evaluate(PAGE_WIDTH) <= PHONE["width"]
    phone.get_by_role("link", name="Back to the list").click()
    expect(phone.locator("li.mention")).to_have_count(3)
    expect(phone.locator("#detail")).to_be_hidden()
    context.close()


def test_the_compact_list_in_the_dark_theme_fits_the_phone_too(
    live_server, browser, casey, screenshot
) -> None:
    Preferences.objects.update_or_create(user=casey, defaults={"density": "compact", "theme": "dark"})
    context = new_context(browser, viewport=PHONE)
    phone = context.new_page()
    sign_in(context, live_server.url, casey)
    open_inbox(phone, f"{live_server.url}/inbox/")
    expect(phone.locator("html")).to_have_attribute("data-density", "compact")
    rows = phone.locator("li.mention")
    expect(rows).to_have_count(3)
    assert phone.evaluate(PAGE_WIDTH) <= PHONE["width"]
    assert phone.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 19, 27)"
    # One line a mention still, each inside the screen.
    for box in (rows.nth(n).bounding_box() for n in range(3)):
        assert box["height"] <= 44
        assert box["x"] + box["width"] <= PHONE["width"]
    screenshot("inbox-390-dark", of=phone)
    rows.first.locator(".mention__open").click()
    expect(phone.locator("#detail article")).to_be_visible()
    assert phone.locator("#detail").bounding_box()["width"] >= 300
    assert phone.evaluate(PAGE_WIDTH) <= PHONE["width"]
    context.close()


def test_avatars_show_the_network_s_image_and_initials_when_it_is_missing_or_fails(
    live_server, page, settings
) -> None:
    settings.AVATAR_HOSTS = [*settings.AVATAR_HOSTS, AVATAR_HOST]
    settings.CONTENT_SECURITY_POLICY = settings.CONTENT_SECURITY_POLICY.replace(
        "img-src 'self' data:", f"img-src 'self' data: https://{AVATAR_HOST}"
    )
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team, user__username="casey").user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    pictured, gone, plain = (
        post("@northwind_help the jacket fits!", handle="ana_p", name="Ana Pires"),
        post("@northwind_help still waiting", handle="bo_r", name="Bo Ray"),
        post("@northwind_help hello", handle="cy_d", name="Cy Dunn"),
    )
    arrive(
        help_desk,
        replace(pictured, author=replace(pictured.author, avatar_url=f"https://{AVATAR_HOST}/ok.png")),
        replace(gone, author=replace(gone.author, avatar_url=f"https://{AVATAR_HOST}/gone.png")),
        plain,
    )
    served: list[str] = []

    def avatars(route) -> None:
        served.append(route.request.url)
        if route.request.url.endswith("/ok.png"):
            route.fulfill(status=200, content_type="image/png", body=PNG)
        else:
            route.fulfill(status=404, content_type="text/plain", body="gone")

    page.route(f"https://{AVATAR_HOST}/**", avatars)
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/")

    row = {name: page.locator("li.mention", has_text=name) for name in ("Ana Pires", "Bo Ray", "Cy Dunn")}
    image = row["Ana Pires"].locator("img.avatar__img")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("loading", "lazy")
    expect(image).to_have_attribute("referrerpolicy", "no-referrer")
    expect(image).to_have_attribute("alt", "")
    page.wait_for_function("(img) => img.complete && img.naturalWidth === 2", arg=image.element_handle())
    # The failed image is gone and the missing one never was: their initials show.
    expect(row["Bo Ray"].locator("img")).to_have_count(0)
    expect(row["Bo Ray"].locator(".avatar__initials")).to_have_text("BR")
    expect(row["Bo Ray"].locator(".avatar__initials")).to_be_visible()
    expect(row["Cy Dunn"].locator("img")).to_have_count(0)
    expect(row["Cy Dunn"].locator(".avatar__initials")).to_have_text("CD")
    assert sorted(url.rsplit("/", 1)[-1] for url in served) == ["gone.png", "ok.png"]

    # The detail pane and the author card: the same, and a failure there leaves initials too.
    row["Bo Ray"].locator(".mention__open").click()
    card = page.locator(".author-card")
    expect(card).to_contain_text("About @bo_r")
    expect(page.locator("#detail .detail__avatar .avatar__initials")).to_have_text("BR")
    expect(page.locator("#detail img")).to_have_count(0)
    row["Ana Pires"].locator(".mention__open").click()
    expect(page.locator("#detail .detail__avatar img.avatar__img")).to_be_visible()
    expect(page.locator(".author-card .author-card__avatar img.avatar__img")).to_have_count(1)
