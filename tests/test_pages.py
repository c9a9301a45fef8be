"""Pages outside the inbox: login, health check, error pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from socialops.views import server_error
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

LOGIN_URL = "/accounts/login/"


@pytest.fixture
def agent():
    return MembershipFactory(team=segment("customer-relations").team, user__username="ada").user


def test_login_page_renders_the_form(client):
    response = client.get(LOGIN_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert [t.name for t in response.templates][:2] == ["registration/login.html", "base.html"]
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'name="username" autofocus' in html
    assert 'type="password" name="password" autocomplete="current-password"' in html
    assert "socialops pulls the mentions" in html
    assert 'role="alert"' not in html
    assert "Log out" not in html


def test_bad_password_shows_an_error_and_does_not_log_in(client, agent):
    response = client.post(LOGIN_URL, {"username": "ada", "password": "wrong"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in html
    assert "Please enter a correct username and password." in html
    assert "_auth_user_id" not in client.session


def test_right_password_lands_on_the_inbox(client, agent):
    response = client.post(LOGIN_URL, {"username": "ada", "password": DEFAULT_PASSWORD}, follow=True)

    assert response.redirect_chain == [("/inbox/", 302)]
    assert response.status_code == 200
    assert ">Inbox</h1>" in response.content.decode()
    assert client.session["_auth_user_id"] == str(agent.pk)


def test_login_returns_to_the_page_asked_for(client, agent):
    response = client.post(
        f"{LOGIN_URL}?next=/inbox/", {"username": "ada", "password": DEFAULT_PASSWORD, "next": "/inbox/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/inbox/"


def test_logout_is_a_post_and_returns_to_login(client, agent):
    client.force_login(agent)

    refused = client.get(reverse("logout"))
    response = client.post(reverse("logout"))

    assert refused.status_code == 405
    assert response.status_code == 302
    assert response["Location"] == LOGIN_URL
    assert "_auth_user_id" not in client.session


def test_root_goes_to_the_inbox(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/inbox/"


def test_healthz_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_unknown_url_renders_the_friendly_404(client, settings):
    settings.DEBUG = False

    response = client.get("/no-such-page/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "errors/404.html" in [t.name for t in response.templates]
    assert "<h1>We can\u2019t find that page</h1>" in html
    assert '<a class="button button--primary" href="/inbox/">Go to the inbox</a>' in html
    assert "Traceback" not in html


DEBUG_PAGE_MARKS = ("seeing this error because you have", "Traceback", "URLconf")


@pytest.mark.parametrize("debug", [True, False])
def test_another_teams_mention_is_our_404_page_inside_the_site_with_debug_on_or_off(
    client, agent, settings, debug
):
    settings.DEBUG = debug
    theirs = MentionFactory(team=segment("crisis-management").team, text="Not yours")
    client.force_login(agent)

    response = client.get(f"/inbox/?open={theirs.pk}")

    html = response.content.decode()
    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["errors/404.html", "base.html"]
    assert "<h1>We can\u2019t find that page</h1>" in html
    assert "a mention of a team you\n    are not in" in html
    assert '<a class="button button--primary" href="/inbox/">Go to the inbox</a>' in html
    assert '<span class="account__name">ada</span>' in html  # signed in: the site's header
    assert "Not yours" not in html
    assert [mark for mark in DEBUG_PAGE_MARKS if mark in html] == []


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_address_is_our_404_page_and_a_missing_slash_is_still_added(
    client, agent, settings, debug
):
    settings.DEBUG = debug
    client.force_login(agent)

    unknown = client.get("/no-such-page/")
    no_slash = client.get("/inbox")

    assert unknown.status_code == 404
    assert [t.name for t in unknown.templates][:2] == ["errors/404.html", "base.html"]
    assert [mark for mark in DEBUG_PAGE_MARKS if mark in unknown.content.decode()] == []
    assert (no_slash.status_code, no_slash["Location"]) == (301, "/inbox/")


@pytest.mark.urls("tests.error_urls")
@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    ("url", "status", "template", "heading"),
    [
        ("/test-errors/forbidden/", 403, "errors/403.html", "<h1>You can\u2019t do that here</h1>"),
        ("/test-errors/bad/", 400, "errors/400.html", "<h1>We couldn\u2019t read that request</h1>"),
    ],
)
def test_refusals_are_our_pages_with_debug_on_or_off(
    client, agent, settings, debug, url, status, template, heading
):
    settings.DEBUG = debug
    client.force_login(agent)

    response = client.get(url)

    html = response.content.decode()
    assert response.status_code == status
    assert [t.name for t in response.templates][:2] == [template, "base.html"]
    assert heading in html
    assert "nothing was changed" in html
    assert '<a class="button button--primary" href="/inbox/">Go to the inbox</a>' in html
    assert [mark for mark in DEBUG_PAGE_MARKS if mark in html] == []


@pytest.mark.urls("tests.error_urls")
def test_a_bug_with_debug_on_keeps_django_s_traceback_for_the_developer(client, settings):
    settings.DEBUG = True
    client.raise_request_exception = False

    response = client.get("/test-errors/broken/")

    assert response.status_code == 500
    assert "RuntimeError" in response.content.decode()
    assert "errors/500.html" not in [t.name for t in response.templates]


@pytest.mark.urls("tests.error_urls")
def test_a_bug_with_debug_off_is_our_500_page(client, settings):
    settings.DEBUG = False
    client.raise_request_exception = False

    response = client.get("/test-errors/broken/")

    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html
    assert "RuntimeError" not in html


def test_500_page_renders_without_the_database_or_static_files(rf, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = server_error(rf.get("/inbox/"))

    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html
    assert "/static/" not in html
    assert "<script" not in html


def test_only_admins_see_the_admin_links(client, agent):
    admin = UserFactory(admin=True)
    client.force_login(agent)
    agent_page = client.get("/inbox/").content.decode()
    client.force_login(admin)
    admin_page = client.get("/inbox/").content.decode()

    for link in (
        'href="/channels/"',
        'href="/routing/rules/"',
        'href="/sla/"',
        'href="/audit/"',
        'href="/integrations/"',
    ):
        assert link not in agent_page
        assert link in admin_page
    assert 'href="/teams/"' in agent_page
