"""Encryption at rest for channel credentials (Fernet, with key rotation through MultiFernet)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialsUnreadable(Exception):
    """Stored credentials could not be decrypted with any configured key."""


def _derived_key(secret: str) -> bytes:
    digest = hashlib.sha256(f"socialops-credentials:{secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if keys:
        try:
            return MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as exc:
            raise ImproperlyConfigured(
                "SOCIALOPS_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc
    return MultiFernet([Fernet(_derived_key(secret_key))])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.SOCIALOPS_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt_json(value: dict[str, Any]) -> str:
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable(
            "Channel credentials cannot be decrypted: the encryption key changed. Re-authorise the channel."
        ) from exc
