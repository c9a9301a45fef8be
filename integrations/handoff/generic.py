"""The generic JSON hand-off: POST a body rendered from the integration's template, read the case's id and
address from the answer with JSON pointers.

The template is Django template language with autoescaping off, and every value is already JSON-escaped
(quotes, backslashes, control characters) without its surrounding quotes, so the admin writes
``"text": "{{ mention.text }}"`` and a post saying ``"}`` cannot break out of the string. The rendered body
must parse as JSON, or the hand-off fails saying so.
"""

from __future__ import annotations

import json
from typing import Any

from django.template import Context, Engine, TemplateSyntaxError

from integrations.handoff.base import Case, CaseDraft, HandOffFailed
from integrations.handoff.egress import EgressFailed, EgressRefused, post_json, url_check

DEFAULT_TEMPLATE = """{
  "subject": "{{ author.handle }} on {{ mention.network }}: {{ mention.intent }}",
  "description": "{{ mention.text }}",
  "post_url": "{{ mention.url }}",
  "socialops_url": "{{ mention.inbox_url }}",
  "priority": "{{ mention.priority }}",
  "team": "{{ team.name }}"
}"""

# No loaders and no extra libraries: the template sees only the values below, and cannot include files.
_ENGINE = Engine(autoescape=False)


def _json_escaped(value: Any) -> str:
    return json.dumps("" if value is None else str(value), ensure_ascii=False)[1:-1]


def template_context(draft: CaseDraft) -> dict[str, Any]:
    """The placeholders a body template may use, each JSON-escaped."""
    e = _json_escaped
    return {
        "mention": {
            "id": draft.mention_id,
            "text": e(draft.text),
            "url": e(draft.url),
            "network": e(draft.network),
            "kind": e(draft.kind),
            "created_at": e(draft.created_at),
            "intent": e(draft.intent),
            "priority": e(draft.priority),
            "sentiment": e(draft.sentiment),
            "labels": e(", ".join(draft.labels)),
            "inbox_url": e(draft.inbox_url),
        },
        "author": {"handle": e(draft.author_handle), "name": e(draft.author_name)},
        "team": {"name": e(draft.team_name), "slug": e(draft.team_slug)},
        "actor": {"name": e(draft.actor_name)},
    }


def template_check(template: str) -> None:
    """Refuse a template that does not compile (raises ValueError saying where)."""
    try:
        _ENGINE.from_string(template)
    except TemplateSyntaxError as exc:
        raise ValueError(f"The body template does not compile: {exc}") from exc


def body_render(template: str, draft: CaseDraft) -> bytes:
    """The request body for a mention: the template rendered, checked to be JSON, re-encoded compactly."""
    try:
        rendered = _ENGINE.from_string(template).render(Context(template_context(draft), autoescape=False))
    except TemplateSyntaxError as exc:
        raise HandOffFailed(f"The body template does not compile: {exc}", retryable=False) from exc
    try:
        body = json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise HandOffFailed(
            f"The body template does not give JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            retryable=False,
        ) from exc
    return json.dumps(body, ensure_ascii=False).encode()


def pointer_get(document: Any, pointer: str) -> Any:
    """RFC 6901 JSON pointer lookup (``/data/id``, ``/items/0/url``); None where nothing is there."""
    if pointer in ("", "/"):
        return document if pointer == "" else None
    if not pointer.startswith("/"):
        raise ValueError(f"A JSON pointer starts with '/': {pointer!r}")
    current = document
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return None
    return current


def _headers(secret: dict[str, Any], draft: CaseDraft | None) -> dict[str, str]:
    headers = {}
    if secret.get("authorization"):
        headers["Authorization"] = secret["authorization"]
    if draft is not None:
        # A receiver that honours it makes a retry after a lost answer a no-op instead of a second case.
        headers["Idempotency-Key"] = f"socialops-handoff-{draft.mention_id}"
    return headers


class GenericBackend:
    def case_create(self, *, config: dict[str, Any], secret: dict[str, Any], draft: CaseDraft) -> Case:
        body = body_render(config.get("body_template") or DEFAULT_TEMPLATE, draft)
        try:
            response = post_json(url=config.get("url", ""), body=body, headers=_headers(secret, draft))
        except EgressRefused as exc:
            raise HandOffFailed(str(exc), retryable=False) from exc
        except EgressFailed as exc:
            raise HandOffFailed(str(exc), retryable=True) from exc
        if response.status == 429 or response.status >= 500:
            retry_after = response.headers.get("retry-after", "")
            raise HandOffFailed(
                f"The endpoint answered {response.status}; trying again later.",
                retryable=True,
                retry_after=float(retry_after) if retry_after.isdigit() else None,
            )
        if not 200 <= response.status < 300:
            raise HandOffFailed(
                f"The endpoint refused the case: {response.status} {response.text[:300]}".strip(),
                retryable=False,
            )
        try:
            answer = json.loads(response.body) if response.body else {}
        except json.JSONDecodeError:
            answer = None
        id_pointer = config.get("id_pointer") or "/id"
        external_id = pointer_get(answer, id_pointer) if answer is not None else None
        if external_id in (None, "") or isinstance(external_id, dict | list):
            raise HandOffFailed(
                f"The endpoint answered {response.status} without a case id at {id_pointer}; the case may "
                "exist there: check before trying again.",
                retryable=False,
            )
        url = pointer_get(answer, config["url_pointer"]) if config.get("url_pointer") else None
        return Case(
            external_id=str(external_id)[:200],
            external_url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else "",
        )

    def case_fetch(self, *, config: dict[str, Any], secret: dict[str, Any], external_id: str) -> Case | None:
        return None  # a generic endpoint has no status to read back

    def connection_test(self, *, config: dict[str, Any], secret: dict[str, Any]) -> str:
        # Only checks what can be checked without making a case: the template and the address.
        template_check(config.get("body_template") or DEFAULT_TEMPLATE)
        try:
            url_check(config.get("url", ""))
        except (EgressRefused, EgressFailed) as exc:
            raise HandOffFailed(str(exc), retryable=False) from exc
        return "The body template compiles and the address may be called (no case was made)."


BACKEND = GenericBackend()
