"""The OpenAPI schema describes the mention endpoints and is valid; the docs page works without internet."""

from __future__ import annotations

import json

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in() -> Client:
    client = Client()
    client.force_login(UserFactory(username="ada"))
    return client


@pytest.fixture
def schema(signed_in) -> dict:
    response = signed_in.get("/api/v1/schema/", {"format": "json"})
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
        "sentiment",
        "label",
        "priority",
        "snooze",
        "close",
        "reopen",
        "spam",
        "not-spam",
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


def test_the_schema_documents_the_token_endpoint(schema):
    operation = schema["paths"]["/api/v1/auth/token/"]["post"]
    assert set(operation["responses"]) == {"200", "400", "429"}
    assert "security" not in operation  # no credentials needed to ask for a token
    assert schema["components"]["schemas"]["TokenOut"]["required"] == ["expires_at", "name", "token"]


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files(signed_in):
    response = signed_in.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr.net" not in html
    assert '<script src="/api/v1/docs/?script=">' in html  # its start-up script is a file too (CSP)
    assert "/api/v1/schema/" in signed_in.get("/api/v1/docs/?script=").content.decode()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_the_schema_needs_a_sign_in():
    response = APIClient().get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert b"openapi" not in response.content


def test_the_docs_send_a_visitor_to_the_sign_in_page():
    response = Client().get("/api/v1/docs/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/api/v1/docs/"
