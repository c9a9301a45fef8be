"""People's API tokens: stored hashed, named, expiring, revocable; the token endpoint makes a new one each
call; the account page creates and revokes them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from foundation.models import DomainEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory
from users.models import ApiToken
from users.services import api_token_create, api_token_revoke
from users.tokens import key_hash

pytestmark = pytest.mark.django_db

KEY = re.compile(r"so_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def ada():
    return UserFactory(username="ada")


def api_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_is_stored_as_a_hash_of_its_key(ada):
    token, key = api_token_create(user=ada, name="Nightly export")

    assert KEY.fullmatch(key)
    assert key.split("_")[1] == token.prefix
    assert token.key_hash == key_hash(key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM users_apitoken WHERE key_hash = %s OR prefix = %s", [key, key])
        assert cursor.fetchone() == (0,)
    assert token.expires_at - token.created_at == timedelta(days=90)


def test_a_token_authenticates_its_owner_and_records_its_use_at_most_once_a_minute(ada):
    token, key = api_token_create(user=ada, name="Nightly export")
    start = timezone.now()

    with time_machine.travel(start, tick=False) as traveller:
        assert api_with(key).get("/api/v1/mentions/").status_code == 200
        token.refresh_from_db()
        assert token.last_used_at == start
        traveller.shift(timedelta(seconds=59))
        assert api_with(key).get("/api/v1/mentions/").status_code == 200
        token.refresh_from_db()
        assert token.last_used_at == start
        traveller.shift(timedelta(seconds=2))
        assert api_with(key).get("/api/v1/mentions/").status_code == 200

    token.refresh_from_db()
    assert token.last_used_at == start + timedelta(seconds=61)


def test_an_expired_token_is_a_401(ada):
    _token, key = api_token_create(user=ada, name="Short", lifetime_days=7)

    with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1)):
        response = api_with(key).get("/api/v1/mentions/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Token expired."}
    assert response["WWW-Authenticate"] == "Token"


def test_a_revoked_token_is_a_401_and_its_revocation_is_audited(ada):
    token, key = api_token_create(user=ada, name="Laptop")

    api_token_revoke(user=ada, token_id=token.pk)

    response = api_with(key).get("/api/v1/mentions/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Token revoked."}
    assert list(DomainEvent.objects.filter(object_id=str(token.pk)).values_list("verb", flat=True)) == [
        "api_token.revoked",
        "api_token.created",
    ]


def test_a_key_with_a_known_prefix_but_the_wrong_secret_is_a_401(ada):
    token, _key = api_token_create(user=ada, name="Laptop")

    response = api_with(f"so_{token.prefix}_{'x' * 43}").get("/api/v1/mentions/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    token.refresh_from_db()
    assert token.last_used_at is None


def test_the_token_endpoint_makes_a_new_named_token_each_call(ada):
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        first = APIClient().post(
            "/api/v1/auth/token/", {"username": "ada", "password": DEFAULT_PASSWORD}, format="json"
        )
        second = APIClient().post(
            "/api/v1/auth/token/", {"username": "ada", "password": DEFAULT_PASSWORD}, format="json"
        )

    assert first.status_code == second.status_code == 200
    assert first.json()["token"] != second.json()["token"]
    name = f"API sign-in {timezone.localtime(now):%Y-%m-%d %H:%M}"
    assert first.json()["name"] == name
    tokens = list(ApiToken.objects.filter(user=ada).order_by("id"))
    assert [t.name for t in tokens] == [name, name]
    assert [t.expires_at for t in tokens] == [now + timedelta(days=90)] * 2
    assert api_with(first.json()["token"]).get("/api/v1/mentions/").status_code == 200
    assert api_with(second.json()["token"]).get("/api/v1/mentions/").status_code == 200


def test_the_account_page_needs_a_sign_in():
    response = Client().get("/me/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/me/"


def test_the_header_links_to_the_account_page(client, ada):
    client.force_login(ada)

    assert '<a class="button button--quiet" href="/me/"' in client.get("/inbox/").content.decode()


def test_a_token_made_on_the_account_page_is_shown_once(client, ada):
    client.force_login(ada)

    response = client.post("/me/tokens/", {"name": "Nightly export", "lifetime_days": "30"})

    page = response.content.decode()
    [key] = KEY.findall(page)
    token = ApiToken.objects.get(user=ada)
    assert (token.name, token.expires_at - token.created_at) == ("Nightly export", timedelta(days=30))
    assert token.key_hash == key_hash(key)
    assert "no-store" in response["Cache-Control"]
    assert key not in client.get("/me/").content.decode()
    assert api_with(key).get("/api/v1/mentions/").status_code == 200


def test_the_account_page_lists_only_the_persons_own_tokens(client, ada):
    api_token_create(user=ada, name="Ada's laptop")
    api_token_create(user=UserFactory(username="bob"), name="Bob's laptop")
    client.force_login(ada)

    page = client.get("/me/").content.decode()

    assert "Ada&#x27;s laptop" in page
    assert "Bob" not in page


def test_a_person_revokes_their_token_from_the_account_page(client, ada):
    token, key = api_token_create(user=ada, name="Laptop")
    client.force_login(ada)

    response = client.post(f"/me/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api_with(key).get("/api/v1/mentions/").status_code == 401


def test_nobody_revokes_someone_elses_token(client, ada):
    token, key = api_token_create(user=UserFactory(username="bob"), name="Bob's laptop")
    client.force_login(ada)

    response = client.post(f"/me/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert api_with(key).get("/api/v1/mentions/").status_code == 200


def test_a_token_with_no_name_is_refused(client, ada):
    client.force_login(ada)

    response = client.post("/me/tokens/", {"name": "", "lifetime_days": "90"})

    assert response.status_code == 400
    assert not ApiToken.objects.exists()
