"""API token keys: ``so_<prefix>_<secret>``. The prefix (not secret) finds the row; the whole key's SHA-256
is what is stored. The secret has 256 bits of entropy, so a plain hash is enough (no slow KDF needed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_MARK = "so"


def key_generate() -> tuple[str, str]:
    """A new (key, prefix)."""
    prefix = secrets.token_hex(6)
    return f"{KEY_MARK}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    mark, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if mark != KEY_MARK or len(prefix) != 12 or not secret:
        return None
    return prefix


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(key_hash(key), stored_hash)
