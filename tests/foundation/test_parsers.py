"""JSON from outside: request bodies nested too deeply or holding lone surrogates are a 400 saying why (a body
too large for its endpoint a 413), on every endpoint, the anonymous token one included; never a 500."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from foundation.parsers import JsonRefused, json_loads_checked
from inbox.models import Mention, Note
from tests.factories import MembershipFactory, MentionFactory, UserFactory, segment
from users.models import ApiToken

pytestmark = pytest.mark.django_db

DEEP_ARRAYS = "[" * 100_000
DEEP_BUT_SHORT = "[" * 60_000  # under the 256 KiB a created mention may have, and still enough for a 500
DEEP_OBJECTS = '{"a":' * 50_000 + "1" + "}" * 50_000


@pytest.fixture
def agent():
    return MembershipFactory(team=segment("customer-relations").team, user__username="ada").user


@pytest.fixture
def mention(agent):
    return MentionFactory(team=segment("customer-relations").team)


def post_raw(client: APIClient, path: str, body: str):
    return client.generic("POST", path, body.encode(), content_type="application/json")


@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_deep_nesting_is_a_400_on_the_anonymous_token_endpoint(body):
    response = post_raw(APIClient(), "/api/v1/auth/token/", body)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - the JSON nests ")
    assert response.json()["detail"].endswith(" levels deep; at most 64 are accepted")
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/mentions/",
        "/api/v1/mentions/bulk/",
        "/api/v1/mentions/{m}/label/",
        "/api/v1/mentions/{m}/notes/",
        "/api/v1/mentions/{m}/assign/",
    ],
)
def test_deep_nesting_is_a_400_on_every_endpoint_and_nothing_changes(agent, mention, path):
    client = APIClient()
    client.force_authenticate(UserFactory(username="root", admin=True))

    response = post_raw(client, path.format(m=mention.pk), DEEP_BUT_SHORT)

    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error - the JSON nests 60000 levels deep; at most 64 are accepted"
    }
    mention.refresh_from_db()
    assert (mention.labels, mention.assignee_id) == ([], None)
    assert not Note.objects.exists()


def test_a_lone_surrogate_is_a_400_naming_where_and_nothing_is_stored(agent, mention):
    client = APIClient()
    client.force_authenticate(agent)

    response = post_raw(client, f"/api/v1/mentions/{mention.pk}/notes/", '{"body": "half \\ud800 a pair"}')

    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error - the JSON at body holds a lone surrogate escape (\\ud800-\\udfff), "
        "not a character"
    }
    assert not Note.objects.exists()


def test_a_whole_surrogate_pair_is_a_character_and_is_stored(agent, mention):
    client = APIClient()
    client.force_authenticate(agent)

    response = post_raw(client, f"/api/v1/mentions/{mention.pk}/notes/", '{"body": "tent \\ud83c\\udfd5"}')

    assert response.status_code == 201
    assert Note.objects.get().body == "tent \U0001f3d5"


@override_settings(SOCIALOPS_IMPORT_MAX_LINE_BYTES=1000)
def test_a_mention_over_the_import_line_limit_is_a_413_and_nothing_is_stored():
    client = APIClient()
    client.force_authenticate(UserFactory(username="root", admin=True))
    line = {"channel": "northwind-help", "external_id": "a", "author_handle": "b", "text": "x" * 1000}

    response = client.post("/api/v1/mentions/", line, format="json")

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 1,000 bytes."}
    assert not Mention.objects.exists()


def test_the_loader_scans_brackets_outside_strings_only():
    assert json_loads_checked('["[[[[{{{{", "]]]"]', max_depth=1) == ["[[[[{{{{", "]]]"]
    with pytest.raises(JsonRefused, match=r"^the JSON nests 3 levels deep; at most 2 are accepted$"):
        json_loads_checked('[[["\\"]"]]]', max_depth=2)
