"""The OpenAPI schema describes the mention endpoints and is valid; the docs page works without internet."""

from __future__ import annotations

import json

import pytest
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema() -> dict:
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)  # raises on an invalid document
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "socialops API"


def test_the_schema_has_the_mention_paths_and_their_operations(schema):
    paths = schema["paths"]
    assert set(paths["/api/v1/mentions/"]) == {"get", "post"}
    assert set(paths["/api/v1/mentions/{mention_id}/"]) == {"get"}
    for action in (
        "assign",
        "reroute",
        "label",
        "priority",
        "snooze",
        "close",
        "reopen",
        "spam",
        "notes",
        "replies",
        "escalation/accept",
        "escalation/bounce",
    ):
        assert set(paths[f"/api/v1/mentions/{{mention_id}}/{action}/"]) == {"post"}, action
    for action in ("approve", "reject", "retry"):
        assert set(paths[f"/api/v1/replies/{{reply_id}}/{action}/"]) == {"post"}
    assert {"/api/v1/mentions/bulk/", "/api/v1/channels/", "/api/v1/teams/", "/api/v1/rules/"} <= set(paths)


def test_the_schema_documents_filters_conflicts_and_token_auth(schema):
    listing = schema["paths"]["/api/v1/mentions/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "queue", "team", "segment", "channel", "network", "kind", "status", "intent", "sentiment",
        "priority", "assignee", "label", "misdirected", "escalated", "since", "until", "q", "cursor", "limit",
    }  # fmt: skip
    assert "409" in schema["paths"]["/api/v1/mentions/{mention_id}/assign/"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/v1/mentions/{mention_id}/replies/"]["post"]["responses"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    channel = schema["components"]["schemas"]["ChannelOut"]["properties"]
    assert "credentials" not in channel


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files():
    response = APIClient().get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr.net" not in html
    assert "/api/v1/schema/" in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
