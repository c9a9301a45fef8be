"""Requests that leave socialops for addresses an admin typed in (a hand-off endpoint, a Slack webhook).

Such an address must not reach inside the network socialops runs in (SSRF): loopback, private, link-local,
multicast and reserved addresses are refused unless ``SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE`` is on (tests, a
helpdesk on the same private network). Redirects are not followed (a public address could send us inside),
every request has timeouts, and only the first ``RESPONSE_MAX_BYTES`` of an answer are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from integrations.destinations import DestinationRefused, DestinationUnresolved, destination_check

TIMEOUT = (3.05, 10)  # (connect, read) seconds: a slow receiver holds a worker at most this long
RESPONSE_MAX_BYTES = 64 * 1024  # enough for a case id and a URL, or Slack's "ok"; a runaway body is cut


class EgressRefused(ValueError):
    """The address is not one socialops may call (scheme, or an address inside the network)."""


class EgressFailed(Exception):
    """The request did not get an answer (refused connection, timeout, DNS)."""


@dataclass(frozen=True)
class EgressResponse:
    status: int
    headers: dict[str, str]
    body: bytes  # at most RESPONSE_MAX_BYTES

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def url_check(url: str) -> None:
    """Refuse a URL socialops must not call: the webhooks' rule (``integrations.destinations``)."""
    try:
        destination_check(url)
    except DestinationUnresolved as exc:
        raise EgressFailed(f"The host could not be resolved: {exc}.") from exc
    except DestinationRefused as exc:
        raise EgressRefused(f"socialops does not call this address: {exc}.") from exc


def post_json(*, url: str, body: bytes, headers: dict[str, str] | None = None) -> EgressResponse:
    """POST a JSON body; any answer (2xx or not) comes back, a missing answer raises ``EgressFailed``."""
    url_check(url)
    try:
        with requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": "socialops", **(headers or {})},
            timeout=TIMEOUT,
            allow_redirects=False,
            stream=True,
        ) as response:
            received = b""
            for chunk in response.iter_content(chunk_size=8192):
                received += chunk
                if len(received) >= RESPONSE_MAX_BYTES:
                    break
            return EgressResponse(
                status=response.status_code,
                headers={k.lower(): v for k, v in response.headers.items()},
                body=received[:RESPONSE_MAX_BYTES],
            )
    except requests.RequestException as exc:
        raise EgressFailed(f"No answer from {urlsplit(url).hostname}: {type(exc).__name__}.") from exc
