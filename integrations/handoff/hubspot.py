"""HubSpot: a mention becomes a ticket (CRM v3 tickets) through HubSpot's official client; open tickets'
pipeline stage is read back.

Only this module imports the ``hubspot`` package. Authentication is a private app's access token (scope
``tickets``), sent as ``Authorization: Bearer``. ``SOCIALOPS_HUBSPOT_API_BASE`` points the client elsewhere
(tests run a local server there).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from hubspot import HubSpot
from hubspot.crm.tickets import ApiException, SimplePublicObjectInputForCreate
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from integrations.handoff.base import Case, CaseDraft, HandOffFailed

TIMEOUT = (3.05, 15)  # (connect, read) seconds
SUBJECT_MAX = 120  # the ticket list shows about this much of a subject
TICKET_OBJECT_TYPE = "0-5"  # HubSpot's id for tickets in record URLs
STAGE_PROPERTY = "hs_pipeline_stage"


def _client(secret: dict[str, Any]) -> Any:
    token = secret.get("token", "")
    if not token:
        raise HandOffFailed("No HubSpot access token is set for this integration.", retryable=False)
    # No retries inside the client: our task retries, with backoff, what can heal.
    return HubSpot(access_token=token, host=settings.SOCIALOPS_HUBSPOT_API_BASE, retry=Retry(total=0))


def _failed(exc: Exception) -> HandOffFailed:
    if isinstance(exc, ApiException):
        status = exc.status or 0
        if status in (401, 403):
            return HandOffFailed(
                f"HubSpot refused the access token ({status}): check the private app's token and its "
                "tickets scope.",
                retryable=False,
            )
        if status == 429 or status >= 500:
            retry_after = dict(exc.headers or {}).get("Retry-After", "")
            return HandOffFailed(
                f"HubSpot answered {status}; trying again later.",
                retryable=True,
                retry_after=float(retry_after) if str(retry_after).isdigit() else None,
            )
        body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        return HandOffFailed(f"HubSpot refused the ticket ({status}): {body[:300]}", retryable=False)
    return HandOffFailed(f"HubSpot could not be reached: {type(exc).__name__}.", retryable=True)


def ticket_properties(config: dict[str, Any], draft: CaseDraft) -> dict[str, str]:
    """The new ticket's properties: subject, content, pipeline and stage, then the integration's own."""
    subject = f"@{draft.author_handle} on {draft.network}: {draft.text}"
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    lines = [draft.text, ""]
    if draft.url:
        lines.append(f"Post: {draft.url}")
    if draft.inbox_url:
        lines.append(f"In socialops: {draft.inbox_url}")
    lines.append(f"Team: {draft.team_name or 'none'} · intent: {draft.intent or 'unknown'}")
    if draft.actor_name:
        lines.append(f"Handed off by {draft.actor_name}")
    properties = {
        "subject": subject,
        "content": "\n".join(lines),
        "hs_pipeline": str(config.get("pipeline") or "0"),
        "hs_pipeline_stage": str(config.get("stage") or "1"),
    }
    properties.update({str(k): str(v) for k, v in (config.get("properties") or {}).items()})
    return properties


def ticket_url(config: dict[str, Any], ticket_id: str) -> str:
    portal = str(config.get("portal_id") or "").strip()
    if not portal.isdigit():
        return ""
    return f"{settings.SOCIALOPS_HUBSPOT_APP_BASE}/contacts/{portal}/record/{TICKET_OBJECT_TYPE}/{ticket_id}"


def _status(config: dict[str, Any], stage: str) -> tuple[str, bool]:
    names = config.get("stage_names") or {}
    closed = {str(s) for s in (config.get("closed_stages") or [])}
    return str(names.get(stage, stage)), stage in closed


class HubSpotBackend:
    def case_create(self, *, config: dict[str, Any], secret: dict[str, Any], draft: CaseDraft) -> Case:
        client = _client(secret)
        request = SimplePublicObjectInputForCreate(properties=ticket_properties(config, draft))
        try:
            ticket = client.crm.tickets.basic_api.create(request, _request_timeout=TIMEOUT)
        except (ApiException, HTTPError, OSError) as exc:
            raise _failed(exc) from exc
        stage = (ticket.properties or {}).get(STAGE_PROPERTY) or ""
        status, is_closed = _status(config, stage)
        return Case(
            external_id=str(ticket.id),
            external_url=ticket_url(config, str(ticket.id)),
            status=status,
            is_closed=is_closed,
        )

    def case_fetch(self, *, config: dict[str, Any], secret: dict[str, Any], external_id: str) -> Case | None:
        client = _client(secret)
        try:
            ticket = client.crm.tickets.basic_api.get_by_id(
                external_id, properties=[STAGE_PROPERTY], _request_timeout=TIMEOUT
            )
        except (ApiException, HTTPError, OSError) as exc:
            raise _failed(exc) from exc
        status, is_closed = _status(config, (ticket.properties or {}).get(STAGE_PROPERTY) or "")
        return Case(
            external_id=external_id,
            external_url=ticket_url(config, external_id),
            status=status,
            is_closed=is_closed,
        )

    def connection_test(self, *, config: dict[str, Any], secret: dict[str, Any]) -> str:
        client = _client(secret)
        try:
            page = client.crm.tickets.basic_api.get_page(limit=1, _request_timeout=TIMEOUT)
        except (ApiException, HTTPError, OSError) as exc:
            raise _failed(exc) from exc
        return f"HubSpot accepted the token (the tickets list answered, {len(page.results or [])} shown)."


BACKEND = HubSpotBackend()
