"""Where socialops may send a request (SSRF safety): a URL whose host resolves only to public addresses.

An admin types a webhook's URL, but the request leaves from inside the installation: without this check a
URL could reach the database, the cloud's metadata service (169.254.169.254) or anything else on the
private network. The host is resolved and every address it resolves to must be public; the check runs when
the URL is saved and again before each request (DNS can change, to an internal address too), and the
request goes to the very address that was checked, so a second lookup cannot swap it (DNS rebinding).
``SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE`` lifts the address rule (tests and benchmarks send to 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

ALLOWED_SCHEMES = ("http", "https")


class DestinationRefused(Exception):
    """The URL may not be called: not http(s), no host, does not resolve, or resolves to a private address."""


class DestinationUnresolved(DestinationRefused):
    """The host name does not resolve (now: DNS may answer again later)."""


@dataclass(frozen=True)
class Destination:
    """A URL checked for sending: its host name (for the Host header and TLS) and the address to use."""

    url: str
    scheme: str
    host: str
    port: int
    address: str  # the checked IP the request connects to

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        ip = f"[{self.address}]" if ":" in self.address else self.address
        path = parts.path or "/"
        return f"{self.scheme}://{ip}:{self.port}{path}" + (f"?{parts.query}" if parts.query else "")


def address_refusal(address: str) -> str | None:
    """Why a request may not go to ``address``, or None when it is a public address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for refused, words in (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),  # carrier-grade NAT (100.64/10) and the like
    ):
        if refused:
            return f"{address} ({words})"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationUnresolved(f"{host} does not resolve: {exc}") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def destination_check(url: str) -> Destination:
    """The URL's destination if socialops may send to it; raises ``DestinationRefused`` saying why not.

    Every address the host resolves to must be allowed, not just one: a name resolving to both a public
    and a private address could otherwise be sent to the private one by the next lookup."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ALLOWED_SCHEMES:
        raise DestinationRefused("the URL must start with https:// or http://")
    if not parts.hostname:
        raise DestinationRefused("the URL has no host")
    if parts.username or parts.password:
        raise DestinationRefused(
            "the URL may not carry a user name or password; sign with the secret instead"
        )
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(parts.hostname, port)
    if not addresses:
        raise DestinationUnresolved(f"{parts.hostname} does not resolve")
    if not settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal is not None:
                raise DestinationRefused(
                    f"{parts.hostname} resolves to {refusal}; socialops sends only to public addresses "
                    "(SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE allows others)"
                )
    return Destination(url=url, scheme=parts.scheme, host=parts.hostname, port=port, address=addresses[0])
