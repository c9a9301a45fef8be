"""A person's own settings on /me/: name, density, theme, reply signature and time zone; each changes what
that person (and nobody else) sees."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from foundation.models import DomainEvent
from tests.factories import MembershipFactory, MentionFactory, UserFactory, segment
from users.models import Preferences
from users.services import api_token_create

pytestmark = pytest.mark.django_db

SETTINGS = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "density": "compact",
    "theme": "dark",
    "signature": "— Ada",
    "time_zone": "Asia/Tokyo",
}


@pytest.fixture
def ada():
    return UserFactory(username="ada")


def test_the_settings_page_needs_a_sign_in_and_the_old_address_leads_there():
    assert Client().get("/me/")["Location"] == "/accounts/login/?next=/me/"
    assert Client().get("/account/")["Location"] == "/me/"


def test_someone_who_never_chose_gets_the_defaults(client, ada):
    client.force_login(ada)

    page = client.get("/me/").content.decode()

    assert '<html lang="en" data-density="comfortable">' in page  # no data-theme: the system decides
    assert 'value="comfortable" id="id_density_0" required checked' in page
    assert 'value="system" id="id_theme_0" required checked' in page
    assert not Preferences.objects.exists()


def test_saving_the_settings_stores_them_and_the_pages_follow(client, ada):
    client.force_login(ada)

    response = client.post("/me/", SETTINGS)

    assert (response.status_code, response["Location"]) == (302, "/me/")
    preferences = Preferences.objects.get(user=ada)
    assert (preferences.density, preferences.theme, preferences.signature, preferences.time_zone) == (
        "compact",
        "dark",
        "— Ada",
        "Asia/Tokyo",
    )
    ada.refresh_from_db()
    assert ada.get_full_name() == "Ada Lovelace"
    page = client.get("/inbox/").content.decode()
    assert '<html lang="en" data-theme="dark" data-density="compact">' in page
    assert '<span class="account__name">Ada Lovelace</span>' in page
    event = DomainEvent.objects.get(verb="user.preferences_changed")
    assert event.after == SETTINGS
    assert event.before == {key: "" for key in ("first_name", "last_name", "signature", "time_zone")} | {
        "density": "comfortable",
        "theme": "system",
    }


def test_saving_the_same_settings_again_records_no_second_event(client, ada):
    client.force_login(ada)
    client.post("/me/", SETTINGS)

    client.post("/me/", SETTINGS)

    assert DomainEvent.objects.filter(verb="user.preferences_changed").count() == 1
    assert Preferences.objects.filter(user=ada).count() == 1


def test_a_light_choice_overrides_the_system_and_touches_nobody_else(client, ada):
    bob = UserFactory(username="bob")
    client.force_login(ada)
    client.post("/me/", SETTINGS | {"theme": "light", "density": "comfortable"})

    page = client.get("/me/").content.decode()
    assert '<html lang="en" data-theme="light" data-density="comfortable">' in page
    client.force_login(bob)
    assert '<html lang="en" data-density="comfortable">' in client.get("/me/").content.decode()
    assert not Preferences.objects.filter(user=bob).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("theme", "sepia"), ("density", "tiny"), ("time_zone", "Mars/Olympus"), ("signature", "x" * 101)],
)
def test_a_value_outside_the_choices_is_refused_and_nothing_is_saved(client, ada, field, value):
    client.force_login(ada)

    response = client.post("/me/", SETTINGS | {field: value})

    assert response.status_code == 400
    assert 'class="field__error"' in response.content.decode()
    assert not Preferences.objects.exists()
    assert not DomainEvent.objects.filter(verb="user.preferences_changed").exists()


def test_times_are_shown_in_the_persons_time_zone(client, ada):
    token, _ = api_token_create(user=ada, name="Nightly export")
    client.force_login(ada)
    in_utc = token.created_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M")
    in_tokyo = token.created_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")

    before = client.get("/me/").content.decode()
    client.post("/me/", SETTINGS)
    after = client.get("/me/").content.decode()

    assert (in_utc in before, in_tokyo in before) == (True, False)
    assert (in_utc in after, in_tokyo in after) == (False, True)


def test_the_signature_is_escaped_and_starts_a_new_reply(client):
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team).user
    mention = MentionFactory(team=care.team)
    client.force_login(agent)
    plain = client.get(f"/inbox/mentions/{mention.pk}/", HTTP_HX_REQUEST="true").content.decode()
    client.post("/me/", SETTINGS | {"signature": '<b>Kim</b> "CR"'})

    settings_page = client.get("/me/").content.decode()
    detail = client.get(f"/inbox/mentions/{mention.pk}/", HTTP_HX_REQUEST="true").content.decode()

    assert 'value="&lt;b&gt;Kim&lt;/b&gt; &quot;CR&quot;"' in settings_page
    assert 'data-signature="&lt;b&gt;Kim&lt;/b&gt; &quot;CR&quot;"' in detail
    assert "\n\n&lt;b&gt;Kim&lt;/b&gt; &quot;CR&quot;</textarea>" in detail
    assert "<b>Kim</b>" not in settings_page + detail
    assert 'aria-describedby="reply-count"></textarea>' in plain  # no signature chosen: an empty reply
