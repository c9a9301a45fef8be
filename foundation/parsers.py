"""Reading JSON from outside (request bodies, import lines, the rule editor) without its shape hurting us.

Python's ``json`` recurses once per level of nesting: 100,000 ``[`` raise ``RecursionError``, which no
``except ValueError`` catches, so it became a 500 on every endpoint. JSON also lets ``"\\ud800"`` (half of a
surrogate pair) through as a string that PostgreSQL cannot store. :func:`json_loads_checked` refuses both
with a ``ValueError`` that says what is wrong, and :class:`JSONParser` is that, for Django REST framework.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

# Deeper than anything we read: a network payload nests under 10 levels, a routing rule's groups a few more.
MAX_JSON_DEPTH = 64

# A string (skipped whole, escapes included) or a bracket: what the depth scan looks at.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)
# Where a surrogate escape could be; a text without one holds no lone surrogate (decoded UTF-8 never does).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonRefused(ValueError):
    """Valid JSON we will not take: nested too deeply, or holding text that is not characters."""


def json_loads_checked(
    text: str, *, max_depth: int = MAX_JSON_DEPTH, parse_constant: Callable[[str], Any] | None = None
) -> Any:
    """``json.loads(text)``, refusing with :class:`JsonRefused` a value nested deeper than ``max_depth``
    (checked before parsing, without recursion) or holding a lone surrogate. Syntax errors are the usual
    ``json.JSONDecodeError`` (also a ``ValueError``)."""
    # Fewer brackets than the limit cannot nest past it: most texts skip the scan.
    if text.count("[") + text.count("{") > max_depth:
        depth = json_depth(text)
        if depth > max_depth:
            raise JsonRefused(f"the JSON nests {depth} levels deep; at most {max_depth} are accepted")
    try:
        value = json.loads(text, parse_constant=parse_constant)
    except RecursionError:  # the scan makes this unreachable; kept so a change there cannot bring back a 500
        raise JsonRefused(f"the JSON nests too deeply; at most {max_depth} levels are accepted") from None
    if _SURROGATE_ESCAPE.search(text):
        where = lone_surrogate_in(value)
        if where is not None:
            raise JsonRefused(
                f"the JSON at {where} holds a lone surrogate escape (\\ud800-\\udfff), not a character"
            )
    return value


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text``, brackets inside strings aside; linear, no recursion."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def lone_surrogate_in(value: Any, path: str = "") -> str | None:
    """Where in ``value`` a string holds a lone surrogate (``text``, ``tags[2]``, ``the value``), or None.
    Called only on values of bounded depth."""
    if isinstance(value, str):
        return None if _is_text(value) else path or "the value"
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if not _is_text(str(key)):
                return f"a key of {path or 'the value'}"
            found = lone_surrogate_in(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = lone_surrogate_in(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- Django REST framework -------------------------------------------------------------------------------


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "body_too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with our checks: deep nesting and lone surrogates are a 400 saying so, never a 500;
    a body over the view's ``max_body_bytes`` is a 413 before it is parsed. (Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bounds every body before it gets here.)"""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = getattr(parser_context.get("view"), "max_body_bytes", None)
        body = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(body) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit:,} bytes.")
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding}: {exc}") from None
        try:
            return json_loads_checked(text, parse_constant=_refuse_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None  # DRF's own wording for bad JSON


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
