"""A fake Bluesky server at the HTTP layer (``respx``: the ``atproto`` SDK speaks through httpx), serving
responses written in the shapes of the Bluesky lexicons in ``../shared/fixtures/bluesky/lexicons/``
(``app.bsky.notification.listNotifications``, ``app.bsky.actor.defs#profileView``, ``app.bsky.feed.post``,
``app.bsky.feed.defs#postView``). No real response was recorded (see SOURCE.md): these are synthetic, and
``test_bluesky.py`` checks each against the lexicon's required fields.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from channels.connectors.base import ChannelRef

SERVICE = "https://bsky.social"
XRPC = f"{SERVICE}/xrpc"
BRAND_DID = "did:plc:brand4northwind7x2k3q5z"
BRAND_HANDLE = "northwind.bsky.social"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
ANN_DID = "did:plc:ann2q7vx4lk3m5n6p7r8s9t0"
BO_DID = "did:plc:bo8k2m4n6p8r0t2v4x6z8b0d"


def jwt(*, exp: float, scope: str = "com.atproto.appPass", sub: str = BRAND_DID) -> str:
    """A token shaped as the server's (header.payload.signature); the SDK reads ``exp`` to refresh early."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return ".".join(
        [
            part({"typ": "at+jwt", "alg": "ES256K"}),
            part({"scope": scope, "sub": sub, "exp": int(exp)}),
            "c2ln",
        ]
    )


def session_body(*, access_exp: float | None = None, handle: str = BRAND_HANDLE) -> dict[str, Any]:
    """``com.atproto.server.createSession`` / ``refreshSession`` output."""
    now = time.time()
    return {
        "did": BRAND_DID,
        "handle": handle,
        "accessJwt": jwt(exp=access_exp if access_exp is not None else now + 7200),
        "refreshJwt": jwt(exp=now + 60 * 86400, scope="com.atproto.refresh"),
        "active": True,
    }


def stored_session(*, access_exp: float) -> dict[str, str]:
    body = session_body(access_exp=access_exp)
    return {
        "did": body["did"],
        "handle": body["handle"],
        "access_jwt": body["accessJwt"],
        "refresh_jwt": body["refreshJwt"],
        "pds": SERVICE,
    }


def channel(
    *, dms: bool = False, session: dict[str, str] | None = None, slug: str = "bsky-northwind"
) -> ChannelRef:
    credentials: dict[str, Any] = {
        "identifier": BRAND_HANDLE,
        "app_password": APP_PASSWORD,
        "service": SERVICE,
        "dms": dms,
    }
    if session is not None:
        credentials["session"] = session
    return ChannelRef(
        slug=slug,
        network="bluesky",
        handle=f"@{BRAND_HANDLE}",
        external_account_id=BRAND_DID,
        segment_slug="customer-relations",
        credentials=credentials,
    )


def profile(did: str, handle: str, display_name: str = "", **extra: Any) -> dict[str, Any]:
    """``app.bsky.actor.defs#profileView``."""
    view: dict[str, Any] = {
        "did": did,
        "handle": handle,
        "displayName": display_name,
        "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkreia@jpeg",
        "indexedAt": "2026-01-05T10:00:00.000Z",
        "createdAt": "2025-03-01T10:00:00.000Z",
        "labels": [],
        "viewer": {"muted": False, "blockedBy": False},
    }
    view.update(extra)
    return view


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/app.bsky.feed.post/{rkey}"


def post_record(
    text: str,
    *,
    created_at: str,
    reply: tuple[tuple[str, str], tuple[str, str]] | None = None,
    langs: list[str] | None = None,
    facets: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An ``app.bsky.feed.post`` record; ``reply`` is ((root uri, cid), (parent uri, cid))."""
    record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": created_at}
    if langs is not None:
        record["langs"] = langs
    if facets is not None:
        record["facets"] = facets
    if reply is not None:
        (root_uri, root_cid), (parent_uri, parent_cid) = reply
        record["reply"] = {
            "root": {"uri": root_uri, "cid": root_cid},
            "parent": {"uri": parent_uri, "cid": parent_cid},
        }
    return record


def notification(
    *,
    rkey: str,
    reason: str,
    text: str,
    indexed_at: str,
    author: dict[str, Any],
    reply: tuple[tuple[str, str], tuple[str, str]] | None = None,
    langs: list[str] | None = None,
) -> dict[str, Any]:
    """``app.bsky.notification.listNotifications#notification`` for a post (mention, reply or quote)."""
    return {
        "uri": post_uri(author["did"], rkey),
        "cid": f"bafyreig{rkey}cid",
        "author": author,
        "reason": reason,
        **({"reasonSubject": post_uri(BRAND_DID, "3brandpost0001")} if reason in ("reply", "quote") else {}),
        "record": post_record(text, created_at=indexed_at, reply=reply, langs=langs),
        "isRead": False,
        "indexedAt": indexed_at,
        "labels": [],
    }


ANN = profile(ANN_DID, "ann.bsky.social", "Ann")
BO = profile(
    BO_DID,
    "bo.example.com",
    "Bo",
    verification={"verifiedStatus": "valid", "trustedVerifierStatus": "none", "verifications": []},
)


def rate_headers(*, limit: int = 3000, remaining: int = 2999, reset: int | None = None) -> dict[str, str]:
    """The ``ratelimit-*`` headers a Bluesky server sends (reset in Unix seconds)."""
    return {
        "ratelimit-limit": str(limit),
        "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(reset if reset is not None else int(time.time()) + 300),
        "ratelimit-policy": f"{limit};w=300",
    }


def xrpc_error(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "message": message}, headers=headers or {})


def json_body(request: httpx.Request) -> Any:
    return json.loads(request.content)
