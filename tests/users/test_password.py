"""Changing one's password: other sessions end, every API token is revoked, and it is audited."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from foundation.models import DomainEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory
from users.models import ApiToken
from users.services import api_token_create

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-7"


@pytest.fixture
def ada():
    return UserFactory(username="ada")


def signed_in(user) -> Client:
    client = Client()
    assert (
        client.post("/accounts/login/", {"username": user.username, "password": DEFAULT_PASSWORD}).status_code
        == 302
    )
    return client


def test_the_password_page_needs_a_sign_in():
    response = Client().get("/me/password/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/me/password/"


def test_a_password_change_ends_other_sessions_and_revokes_every_token(ada):
    here, elsewhere = signed_in(ada), signed_in(ada)
    _first, first_key = api_token_create(user=ada, name="Laptop")
    _second, second_key = api_token_create(user=ada, name="Export")
    bob_token, _bob_key = api_token_create(user=UserFactory(username="bob"), name="Bob's")

    response = here.post(
        "/me/password/",
        {"old_password": DEFAULT_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == "/me/"
    ada.refresh_from_db()
    assert ada.check_password(NEW_PASSWORD)
    page = here.get("/me/")
    assert page.status_code == 200
    assert "Password changed. Your other sessions were signed out and 2 API tokens revoked." in (
        page.content.decode()
    )
    assert elsewhere.get("/me/")["Location"] == "/accounts/login/?next=/me/"
    assert list(ApiToken.objects.filter(user=ada, revoked_at=None)) == []
    for key in (first_key, second_key):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert client.get("/api/v1/mentions/").status_code == 401
    bob_token.refresh_from_db()
    assert bob_token.revoked_at is None
    event = DomainEvent.objects.get(verb="user.password_changed")
    assert (event.actor, event.object_id, event.after) == (ada, str(ada.pk), {"tokens_revoked": 2})


def test_a_wrong_old_password_changes_nothing(ada):
    client = signed_in(ada)
    token, _key = api_token_create(user=ada, name="Laptop")

    response = client.post(
        "/me/password/",
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    ada.refresh_from_db()
    assert ada.check_password(DEFAULT_PASSWORD)
    token.refresh_from_db()
    assert token.revoked_at is None
    assert not DomainEvent.objects.filter(verb="user.password_changed").exists()
