"""Making what networks and files send storable: PostgreSQL refuses NUL in text and jsonb, and JSON has no
NaN or Infinity. Used by the ingest and by import_mentions."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def storable_text(text: str) -> str:
    """``text`` without NUL characters, which networks do send now and then."""
    return text.replace("\x00", "")


def storable_value(value: Any) -> Any:
    """A JSON-like value with NULs removed from every string and non-finite numbers turned into null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, Mapping):
        return {storable_text(str(key)): storable_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_value(item) for item in value]
    return value


def payload_json(raw: Any) -> str:
    """The payload as storable JSON text; a clean payload (the common case) is serialised once, not walked.

    Values JSON cannot hold (a datetime in a connector's raw item) are written as their text.
    """
    try:
        text = json.dumps(raw, allow_nan=False, default=str)
    except ValueError:
        text = ""
    if not text or "\\u0000" in text:
        text = json.dumps(storable_value(raw), allow_nan=False, default=str)
    return text


def payload_value(raw: Any) -> Any:
    """The payload as it will be stored in a JSON column."""
    return json.loads(payload_json(raw))
