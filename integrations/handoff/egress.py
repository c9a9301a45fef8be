"""Requests that leave socialops for addresses an admin typed in (a hand-off endpoint, a Slack webhook).

Such an address must not reach inside the network socialops runs in (SSRF): loopback, private, link-local,
multicast and reserved addresses are refused unless ``SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE`` is on (tests, a
helpdesk on the same private network). Redirects are not followed (a public address could send us inside),
every request has timeouts, and only the first ``RESPONSE_MAX_BYTES`` of an answer are read.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings

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


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_check(url: str) -> None:
    """Refuse a URL socialops must not call; resolves the host name to look at every address it has."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused("The address must be an http(s) URL with a host.")
    if settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise EgressFailed(f"The host {parts.hostname} could not be resolved.") from exc
    refused = sorted({info[4][0] for info in infos if not _address_allowed(info[4][0])})
    if refused:
        raise EgressRefused(
            f"{parts.hostname} resolves to an address inside the network ({refused[0]}); socialops does not "
            "call those (SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE allows it)."
        )


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
