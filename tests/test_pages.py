"""Pages outside the inbox: login, health check, error pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from socialops.views import server_error
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, UserFactory, segment

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
    assert response.json() == {"status": "ok"}


def test_unknown_url_renders_the_friendly_404(client, settings):
    settings.DEBUG = False

    response = client.get("/no-such-page/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "errors/404.html" in [t.name for t in response.templates]
    assert "<h1>We can\u2019t find that page</h1>" in html
    assert '<a class="button button--primary" href="/inbox/">Go to the inbox</a>' in html
    assert "Traceback" not in html


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

    for link in ('href="/channels/"', 'href="/routing/rules/"', 'href="/sla/"', 'href="/audit/"'):
        assert link not in agent_page
        assert link in admin_page
    assert 'href="/teams/"' in agent_page
