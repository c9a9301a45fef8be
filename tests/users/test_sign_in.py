"""The sign-in throttle, on the login page and the API token endpoint, against real Redis and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from foundation.models import DomainEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory
from users.models import ApiToken, SignInLockout

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-ins, try again in 15 minutes."


@pytest.fixture(autouse=True)
def _throttle(settings) -> None:
    settings.SOCIALOPS_SIGN_IN_FAILURE_LIMIT = 5
    settings.SOCIALOPS_SIGN_IN_ADDRESS_FAILURE_LIMIT = 20
    settings.SOCIALOPS_SIGN_IN_COOL_OFF_MINUTES = 15
    settings.SOCIALOPS_TRUSTED_PROXIES = 0


@pytest.fixture
def ada():
    return UserFactory(username="ada")


def sign_in(client: Client, username: str, password: str, address: str = "10.0.0.1", **extra):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **extra
    )


def token(username: str, password: str, address: str = "10.0.0.1"):
    return APIClient().post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


def lockout_events() -> list[DomainEvent]:
    return list(
        DomainEvent.objects.filter(object_type=ContentType.objects.get_for_model(SignInLockout)).order_by(
            "id"
        )
    )


def test_thirty_wrong_passwords_are_answered_normally_only_until_the_limit(ada):
    client = Client()

    statuses = [sign_in(client, "ada", f"guess-{n}").status_code for n in range(30)]

    assert statuses == [200] * 4 + [429] * 26
    assert len(lockout_events()) == 1


def test_the_locked_login_page_says_how_long_and_refuses_even_the_right_password(ada):
    client = Client()
    for n in range(5):
        response = sign_in(client, "ada", f"guess-{n}")

    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert LOCKED in response.content.decode()

    response = sign_in(client, "ada", DEFAULT_PASSWORD)

    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_lock_out_is_audited_once_with_who_where_and_how_long(ada):
    for n in range(7):
        sign_in(Client(), "ada", f"guess-{n}")

    [event] = lockout_events()
    lockout = SignInLockout.objects.get()
    assert event.verb == "sign_in.locked"
    assert event.actor is None
    assert event.object_id == str(lockout.pk)
    assert event.after == {
        "scope": "account",
        "username": "ada",
        "address": "10.0.0.1",
        "failures": 5,
        "minutes": 15,
    }
    assert (lockout.scope, lockout.username, lockout.address) == ("account", "ada", "10.0.0.1")


def test_the_lock_ends_after_the_cool_off(ada):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for n in range(5):
            sign_in(Client(), "ada", f"guess-{n}")
        traveller.shift(timedelta(minutes=14))
        assert sign_in(Client(), "ada", DEFAULT_PASSWORD).status_code == 429
        client = Client()

        traveller.shift(timedelta(minutes=1, seconds=1))
        response = sign_in(client, "ada", DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(ada.pk)


def test_the_message_counts_down_the_minutes_left(ada):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for n in range(5):
            sign_in(Client(), "ada", f"guess-{n}")
        traveller.shift(timedelta(minutes=13, seconds=30))

        response = sign_in(Client(), "ada", DEFAULT_PASSWORD)

    assert "Too many failed sign-ins, try again in 2 minutes." in response.content.decode()


def test_the_lock_is_per_username_and_address(ada):
    UserFactory(username="bob")
    for n in range(5):
        sign_in(Client(), "ada", f"guess-{n}")

    elsewhere = Client()
    assert sign_in(elsewhere, "ada", DEFAULT_PASSWORD, address="10.0.0.2").status_code == 302
    colleague = Client()
    assert sign_in(colleague, "bob", DEFAULT_PASSWORD).status_code == 302
    assert colleague.session["_auth_user_id"] != elsewhere.session["_auth_user_id"]


def test_an_address_guessing_many_usernames_is_locked_out_for_every_username(ada, settings):
    settings.SOCIALOPS_SIGN_IN_ADDRESS_FAILURE_LIMIT = 6
    for n in range(6):
        response = sign_in(Client(), f"someone-{n}", "guess")

    assert response.status_code == 429
    assert sign_in(Client(), "ada", DEFAULT_PASSWORD).status_code == 429
    assert sign_in(Client(), "ada", DEFAULT_PASSWORD, address="10.0.0.2").status_code == 302
    assert [e.after["scope"] for e in lockout_events()] == ["address"]
    assert lockout_events()[0].after["username"] == ""


def test_a_right_password_forgets_the_accounts_failures(ada):
    for n in range(4):
        sign_in(Client(), "ada", f"guess-{n}")
    assert sign_in(Client(), "ada", DEFAULT_PASSWORD).status_code == 302

    statuses = [sign_in(Client(), "ada", f"again-{n}").status_code for n in range(4)]

    assert statuses == [200] * 4
    assert lockout_events() == []


def test_a_forged_forwarded_for_header_does_not_escape_the_lock(ada):
    statuses = [
        sign_in(Client(), "ada", "guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(6)
    ]

    assert statuses == [200] * 4 + [429] * 2
    assert SignInLockout.objects.get().address == "10.0.0.1"


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_clients(ada, settings):
    settings.SOCIALOPS_TRUSTED_PROXIES = 1
    for n in range(5):
        sign_in(
            Client(), "ada", "guess", address="172.16.0.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 192.0.2.7"
        )

    assert SignInLockout.objects.get().address == "192.0.2.7"
    assert (
        sign_in(
            Client(), "ada", DEFAULT_PASSWORD, address="172.16.0.9", HTTP_X_FORWARDED_FOR="192.0.2.8"
        ).status_code
        == 302
    )


def test_the_token_endpoint_is_throttled_with_a_clear_message(ada):
    statuses = [token("ada", f"guess-{n}").status_code for n in range(4)]
    locked = token("ada", "guess-4")
    refused = token("ada", DEFAULT_PASSWORD)

    assert statuses == [400] * 4
    assert locked.status_code == 429
    assert locked.json() == {"detail": LOCKED}
    assert locked["Retry-After"] == "900"
    assert refused.status_code == 429
    assert not ApiToken.objects.exists()
    assert len(lockout_events()) == 1


def test_the_login_page_and_the_token_endpoint_count_together(ada):
    for n in range(3):
        sign_in(Client(), "ada", f"guess-{n}")
    token("ada", "guess-3")

    assert token("ada", "guess-4").status_code == 429
    assert sign_in(Client(), "ada", DEFAULT_PASSWORD).status_code == 429


def test_the_django_admin_sign_in_goes_through_the_throttled_page():
    response = Client().get("/django-admin/login/?next=/django-admin/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/django-admin/"


def test_an_admin_finds_the_lock_out_in_the_audit_log(ada):
    for n in range(5):
        sign_in(Client(), "ada", f"guess-{n}")
    admin = Client()
    admin.force_login(UserFactory(username="root", admin=True))

    response = admin.get("/audit/", {"verb": "sign_in.locked"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "sign-in lock-out of &#x27;ada&#x27; from 10.0.0.1" in page
