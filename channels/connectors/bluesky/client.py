"""One channel's session with its Bluesky server (PDS) through the ``atproto`` SDK, and the SDK's errors
turned into the connector error family.

Sessions. An app password is exchanged for a session (``com.atproto.server.createSession``): an access JWT
of about two hours and a refresh JWT of about two months. Bluesky allows 30 session creations per five
minutes and 300 a day per account, fewer than a channel pulled every two minutes would need, so the session
is kept with the channel's credentials and reused; the SDK refreshes the access token shortly before it
expires, and a session the server no longer honours (expired or revoked) is created again once from the app
password. A changed session is handed back through ``refreshed`` for the caller to store.

Calls go through ``invoke_query``/``invoke_procedure`` and return the JSON body as the server sent it: the
SDK's typed models would refuse a whole page for one malformed item, which must be quarantined instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from atproto import Client, Session
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    InvokeTimeoutError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_client.request import Request

from channels.connectors.base import (
    AuthExpired,
    ChannelRef,
    ConnectorError,
    ConnectorUnavailable,
    RateLimited,
    RateLimitInfo,
)

DEFAULT_SERVICE = "https://bsky.social"  # where accounts hosted by Bluesky sign in; it sends each to its PDS
# Sent with each chat call only: the PDS forwards such a call to Bluesky's chat service. Not set on the
# client, or the session refresh the SDK makes before a call would be forwarded there too.
CHAT_PROXY_HEADERS = {"atproto-proxy": "did:web:api.bsky.chat#bsky_chat"}
REQUEST_TIMEOUT = 20.0  # seconds; a pull must not hang on a slow server
DEFAULT_RETRY_AFTER = 300.0  # a 429 without a usable reset: Bluesky's budgets are counted over five minutes
MIN_RETRY_AFTER = 1.0
# Errors with which a server says the session itself is no longer good (not the request).
_SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthMissing"})


class DirectMessagesRefused(ConnectorError):
    """The account's app password was created without access to direct messages."""


@dataclass(frozen=True)
class Credentials:
    """What a Bluesky channel stores (encrypted): the sign-in and the session it last had."""

    identifier: str
    app_password: str
    service: str
    session: Mapping[str, str] | None

    @classmethod
    def of(cls, channel: ChannelRef) -> Credentials:
        credentials = channel.credentials
        identifier = credentials.get("identifier")
        app_password = credentials.get("app_password")
        if not isinstance(identifier, str) or not isinstance(app_password, str) or not app_password:
            raise AuthExpired(
                f"bluesky channel {channel.slug} has no app password; connect the account again"
            )
        service = credentials.get("service") or DEFAULT_SERVICE
        session = credentials.get("session")
        return cls(
            identifier=identifier,
            app_password=app_password,
            service=str(service),
            session=session if isinstance(session, Mapping) else None,
        )


@dataclass(frozen=True)
class Response:
    """One call's JSON body and what its rate-limit headers said."""

    body: Mapping[str, Any]
    rate_limit: RateLimitInfo | None


class BlueskyClient:
    """An ``atproto`` client signed in as one channel's account."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        token_key: str,
        clock: Callable[[], datetime],
        on_session: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        self.credentials = credentials
        self.token_key = token_key
        self.clock = clock
        self._on_session = on_session
        self._last_response: httpx.Response | None = None
        request = Request(timeout=REQUEST_TIMEOUT, event_hooks={"response": [self._keep_response]})
        self.api = Client(base_url=credentials.service, request=request)
        self.api.on_session_change(lambda _event, session: self._session_changed(session))
        self._signed_in = False
        self._did: str | None = None

    # --- Session ----------------------------------------------------------------------------------------

    def sign_in(self) -> None:
        """Resume the stored session, or create one from the app password (which makes one call)."""
        stored = self.credentials.session
        if stored and all(isinstance(stored.get(key), str) for key in ("did", "access_jwt", "refresh_jwt")):
            session = Session(
                handle=str(stored.get("handle") or self.credentials.identifier),
                did=stored["did"],
                access_jwt=stored["access_jwt"],
                refresh_jwt=stored["refresh_jwt"],
                pds_endpoint=str(stored.get("pds") or self.credentials.service),
            )
            self._guard(lambda: self.api.login(session_string=session.encode(), fetch_bsky_profile=False))
        else:
            self._create_session()
        self._signed_in = True

    def _create_session(self) -> None:
        try:
            self.api.update_base_url(self.credentials.service)
            self.api.login(
                self.credentials.identifier, self.credentials.app_password, fetch_bsky_profile=False
            )
        except (UnauthorizedError, BadRequestError) as exc:
            if _error_name(exc) == "AuthFactorTokenRequired":
                raise AuthExpired(
                    "Bluesky asks for an email code: sign in with an app password, not the account password"
                ) from None
            raise AuthExpired(
                f"Bluesky refused the app password of {self.credentials.identifier} ({_describe(exc)}); "
                "it may have been revoked: connect the account again with a new one"
            ) from None
        except AtProtocolError as exc:
            raise self._translate("com.atproto.server.createSession", exc) from exc

    def _session_changed(self, session: Session) -> None:
        self._did = session.did
        stored = {
            "did": session.did,
            "handle": session.handle,
            "access_jwt": session.access_jwt,
            "refresh_jwt": session.refresh_jwt,
            "pds": session.pds_endpoint or self.credentials.service,
        }
        if self._on_session is not None:
            self._on_session(stored)

    @property
    def did(self) -> str:
        """The signed-in account's DID."""
        if self._did is None:
            raise ConnectorError("the Bluesky client is not signed in")
        return self._did

    # --- Calls ------------------------------------------------------------------------------------------

    def query(self, nsid: str, params: Any = None, *, chat: bool = False) -> Response:
        headers = dict(CHAT_PROXY_HEADERS) if chat else None
        return self._call(nsid, lambda api: api.invoke_query(nsid, params=params, headers=headers), chat=chat)

    def procedure(self, nsid: str, data: Any, *, chat: bool = False) -> Response:
        headers = dict(CHAT_PROXY_HEADERS) if chat else None
        return self._call(nsid, lambda api: api.invoke_procedure(nsid, data=data, headers=headers), chat=chat)

    def _call(self, nsid: str, call: Callable[[Client], Any], *, chat: bool) -> Response:
        if not self._signed_in:
            self.sign_in()
        try:
            response = self._once(call)
        except (BadRequestError, UnauthorizedError) as exc:
            if _error_name(exc) not in _SESSION_ERRORS or _is_token_scope(exc):
                raise self._translate(nsid, exc, chat=chat) from exc
            # The server no longer honours the stored session (expired, or revoked with its refresh
            # token): sign in again from the app password, once, and repeat the call.
            self._create_session()
            try:
                response = self._once(call)
            except AtProtocolError as again:
                raise self._translate(nsid, again, chat=chat) from again
        except AtProtocolError as exc:
            raise self._translate(nsid, exc, chat=chat) from exc
        body = response.content
        if not isinstance(body, Mapping):
            raise ConnectorError(f"Bluesky answered {nsid} with something other than a JSON object")
        return Response(body=body, rate_limit=self._rate_limit(nsid))

    def _once(self, call: Callable[[Client], Any]) -> Any:
        self._last_response = None
        return call(self.api)

    def _guard(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except AtProtocolError as exc:
            raise self._translate("session", exc) from exc

    def _keep_response(self, response: httpx.Response) -> None:
        self._last_response = response

    # --- Rate limits and errors -------------------------------------------------------------------------

    def _rate_limit(self, nsid: str) -> RateLimitInfo | None:
        response = self._last_response
        if response is None:
            return None
        return rate_limit_info(nsid, self.token_key, response.headers, self.clock())

    def _translate(self, nsid: str, exc: AtProtocolError, *, chat: bool = False) -> ConnectorError:
        if isinstance(exc, RateLimitExceededError):
            headers = exc.response.headers if exc.response is not None else {}
            info = rate_limit_info(nsid, self.token_key, headers, self.clock())
            wait = DEFAULT_RETRY_AFTER
            if info is not None and info.reset_at is not None:
                wait = max(MIN_RETRY_AFTER, (info.reset_at - self.clock()).total_seconds())
            return RateLimited(
                wait, f"Bluesky rate limit on {nsid}; retry after {wait:.0f}s", (info,) if info else ()
            )
        if isinstance(exc, InvokeTimeoutError | NetworkError) and (
            exc.response is None or exc.response.status_code >= 500
        ):
            return ConnectorUnavailable(f"Bluesky could not be reached for {nsid}: {_describe(exc)}")
        if chat and _is_token_scope(exc):
            return DirectMessagesRefused(
                "the app password does not allow direct messages: create one with “Allow access to your "
                "direct messages” ticked and connect the account again"
            )
        status = exc.response.status_code if isinstance(exc, RequestErrorBase) and exc.response else None
        if status is not None and status >= 500:
            return ConnectorUnavailable(f"Bluesky failed to answer {nsid} ({status})")
        if isinstance(exc, UnauthorizedError) or _error_name(exc) in _SESSION_ERRORS:
            return AuthExpired(f"Bluesky refused the session for {nsid} ({_describe(exc)})")
        return ConnectorError(f"Bluesky refused {nsid}: {_describe(exc)}")


def rate_limit_info(
    nsid: str, token_key: str, headers: Mapping[str, str], now: datetime
) -> RateLimitInfo | None:
    """What Bluesky's ``ratelimit-*`` headers (reset in Unix seconds) say about one endpoint's budget."""
    lowered = {key.lower(): value for key, value in headers.items()}
    limit = _int_or_none(lowered.get("ratelimit-limit"))
    remaining = _int_or_none(lowered.get("ratelimit-remaining"))
    reset = _int_or_none(lowered.get("ratelimit-reset"))
    if limit is None and remaining is None and reset is None:
        return None
    reset_at = datetime.fromtimestamp(reset, tz=UTC) if reset is not None else None
    if reset_at is not None and reset_at > now + timedelta(days=1):
        reset_at = None  # not a reset time this API would send; waiting on it would stall the channel
    return RateLimitInfo(
        endpoint=nsid, token_key=token_key, limit=limit, remaining=remaining, reset_at=reset_at
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _xrpc_error(exc: BaseException) -> XrpcError | None:
    if isinstance(exc, RequestErrorBase) and exc.response is not None:
        content = exc.response.content
        if isinstance(content, XrpcError):
            return content
    return None


def _error_name(exc: BaseException) -> str:
    error = _xrpc_error(exc)
    return error.error if error is not None else ""


def _is_token_scope(exc: BaseException) -> bool:
    """Whether the server refused the token's scope (an app password used where it is not allowed):
    "Bad token scope" or, on newer servers, "Bad token method"."""
    error = _xrpc_error(exc)
    return (
        error is not None and error.error == "InvalidToken" and "bad token" in (error.message or "").lower()
    )


def _describe(exc: BaseException) -> str:
    error = _xrpc_error(exc)
    if error is not None:
        return f"{error.error}: {error.message}" if error.message else error.error
    status = exc.response.status_code if isinstance(exc, RequestErrorBase) and exc.response else None
    return f"HTTP {status}" if status else type(exc).__name__
