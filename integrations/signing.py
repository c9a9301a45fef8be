"""Webhook signatures, as Stripe and Standard Webhooks make them: HMAC-SHA256 over "<timestamp>.<body>".

The ``Socialops-Signature`` header reads ``t=1733572800,v1=5257a8…``; during a secret rotation it carries
one ``v1=`` per valid secret, so a receiver holding either secret accepts it. Receivers check the
timestamp against their clock to refuse replays (``TOLERANCE_SECONDS``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

SIGNATURE_HEADER = "Socialops-Signature"
TOLERANCE_SECONDS = 300  # Stripe's default: five minutes of clock skew and queueing
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)  recognisable in a leaked config file, as Stripe's and Svix's secrets are


class SignatureInvalid(Exception):
    """The signature header is missing, malformed, too old or matches none of the secrets."""


def webhook_secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature_compute(*, secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(*, secrets_: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<sig>[,v1=<sig>…]``, one ``v1`` per secret (the current one first)."""
    parts = [f"t={timestamp}"]
    parts += [f"v1={signature_compute(secret=s, timestamp=timestamp, body=body)}" for s in secrets_]
    return ",".join(parts)


def signature_verify(
    *, header: str, body: bytes, secret: str, now: int, tolerance: int = TOLERANCE_SECONDS
) -> int:
    """Check a ``Socialops-Signature`` header as a receiver does; returns its timestamp.

    This is the receiver's side (the README shows the same few lines); socialops uses it in its tests."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureInvalid("no timestamp or no v1 signature in the header")
    if abs(now - timestamp) > tolerance:
        raise SignatureInvalid("the timestamp is outside the tolerance: a replay, or a clock far off")
    expected = signature_compute(secret=secret, timestamp=timestamp, body=body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureInvalid("no signature matches the secret")
    return timestamp
