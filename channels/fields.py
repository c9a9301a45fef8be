"""A model field that keeps a JSON object encrypted in the database."""

from __future__ import annotations

from typing import Any

from django.db import models

from channels.crypto import decrypt_json, encrypt_json


class EncryptedJSONField(models.TextField):
    """Stores a dict as a Fernet token; the plaintext never reaches the database."""

    description = "JSON object encrypted at rest"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> dict[str, Any]:
        if not value:
            return {}
        return decrypt_json(value)

    def to_python(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return decrypt_json(value)

    def get_prep_value(self, value: Any) -> str:
        if not value:
            return ""
        return encrypt_json(dict(value))
