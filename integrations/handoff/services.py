"""Hand-off actions: an agent (or a rule) hands a mention off to a CRM or helpdesk, a task creates the case
there, beat pulls the case's status back; admins keep the integrations.

The hand-off itself is recorded in the agent's transaction (a pending ``HandOff`` row and the
``mention.handed_off`` event); the call to the external system happens in a worker (``handoff_send``), so
a slow helpdesk never holds a page, and what it answered is stored on the row with ``mention.case_linked``
or ``mention.handoff_failed``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from channels.crypto import CredentialsUnreadable, decrypt_json, encrypt_json
from foundation.events import event_record
from foundation.live import event_publish
from inbox.models import Mention
from inbox.selectors import mention_is_workable_by
from integrations.handoff import generic, hubspot
from integrations.handoff.base import Backend, CaseDraft, HandOffFailed
from integrations.models import HandOff, HandOffIntegration
from teams.roles import user_is_admin, user_name

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6  # with the task's backoff (30 s doubling) about half an hour of trying
BACKOFF_SECONDS = 30
STATUS_PULL_BATCH = 200  # open cases checked per beat run; the oldest-checked first
LOST_SEND_AFTER = timedelta(minutes=2)  # a pending hand-off untouched this long lost its task

BACKENDS: dict[str, Backend] = {
    HandOffIntegration.Kind.GENERIC: generic.BACKEND,
    HandOffIntegration.Kind.HUBSPOT: hubspot.BACKEND,
}


class HandOffError(ValueError):
    """A hand-off this user cannot do, or not now; the message says why."""


# --- Integrations (admins) -------------------------------------------------------------------------------


def integration_secret(integration: HandOffIntegration) -> dict[str, Any]:
    """Its decrypted credentials ({} when none); ``CredentialsUnreadable`` after a key change."""
    if not integration.secret:
        return {}
    return decrypt_json(integration.secret)


def secret_masked(value: str) -> str:
    """How a stored token is shown back: its kind and last four characters, never the rest."""
    if not value:
        return ""
    return f"{'•' * 8}{value[-4:]}" if len(value) > 8 else "•" * 8


def handoff_integration_save(
    *,
    actor: Any,
    integration: HandOffIntegration | None,
    name: str,
    kind: str,
    config: dict[str, Any],
    secret: dict[str, str],
    team_id: int | None,
    is_active: bool,
) -> HandOffIntegration:
    """Create or change an integration (admins). ``secret`` values left empty keep the stored ones, so the
    edit form never needs to show a token to keep it."""
    if not user_is_admin(actor):
        raise HandOffError("Only admins can change hand-off integrations.")
    if kind not in HandOffIntegration.Kind.values:
        raise HandOffError(f"Unknown kind {kind!r}.")
    if kind == HandOffIntegration.Kind.GENERIC:
        try:
            generic.template_check(config.get("body_template") or generic.DEFAULT_TEMPLATE)
        except ValueError as exc:
            raise HandOffError(str(exc)) from exc
    with transaction.atomic():
        if integration is None:
            integration = HandOffIntegration(slug=_unique_slug(name))
            verb, before = "handoff_integration.created", {}
        else:
            integration = HandOffIntegration.objects.select_for_update().get(pk=integration.pk)
            verb, before = "handoff_integration.changed", _audited(integration)
        # Another kind's credentials mean nothing to this one: a change of kind starts from none.
        same_kind = integration.pk is not None and integration.kind == kind and integration.secret
        stored = integration_secret(integration) if same_kind else {}
        stored.update({k: v for k, v in secret.items() if v})
        integration.name = name.strip()[:100]
        integration.kind = kind
        integration.config = config
        integration.secret = encrypt_json(stored) if stored else ""
        integration.team_id = team_id
        integration.is_active = is_active
        integration.updated_at = timezone.now()
        integration.save()
        # Never the secret: the audit log says that it changed, not what it is.
        after = {**_audited(integration), "secret_changed": bool(any(secret.values()))}
        event_record(actor=actor, verb=verb, obj=integration, before=before, after=after, teams=[])
    return integration


def _audited(integration: HandOffIntegration) -> dict[str, Any]:
    return {
        "name": integration.name,
        "kind": integration.kind,
        "team": integration.team_id,
        "is_active": integration.is_active,
        "url": integration.config.get("url", ""),
    }


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40] or "integration"
    slug, n = base, 2
    while HandOffIntegration.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def handoff_integration_test(*, actor: Any, integration: HandOffIntegration) -> str:
    """Try the integration's settings without making a case; a sentence saying it works, or HandOffError."""
    if not user_is_admin(actor):
        raise HandOffError("Only admins can test hand-off integrations.")
    try:
        return BACKENDS[integration.kind].connection_test(
            config=integration.config, secret=integration_secret(integration)
        )
    except CredentialsUnreadable as exc:
        raise HandOffError(str(exc)) from exc
    except HandOffFailed as exc:
        raise HandOffError(str(exc)) from exc


# --- The hand-off action ---------------------------------------------------------------------------------


def integration_serves(integration: HandOffIntegration, mention: Mention) -> bool:
    """Whether the integration takes this mention: active, and for everyone or for the mention's team."""
    return integration.is_active and integration.team_id in (None, mention.team_id)


def mention_hand_off(*, actor: Any, mention: Mention, integration: HandOffIntegration) -> HandOff:
    """Hand the mention off: check the actor may work it, record a pending hand-off and the
    ``mention.handed_off`` event, and have a worker create the case after commit. Handing off again to the
    same integration retries a failed hand-off and is refused otherwise (one case per system)."""
    if not mention_is_workable_by(user=actor, mention=mention):
        raise HandOffError(
            "Only members of the mention's team can hand it off; it belongs to another team now."
        )
    return _hand_off(actor=actor, mention=mention, integration=integration)


def mention_hand_off_by_rule(*, mention_id: int, integration_slug: str) -> HandOff | None:
    """A routing rule's ``hand_off`` action (the system acts). Safe to repeat: a mention already handed off
    to the integration is left alone. None when the mention or an active integration is gone."""
    mention = Mention.objects.filter(pk=mention_id).first()
    integration = HandOffIntegration.objects.filter(slug=integration_slug).first()
    if mention is None or integration is None:
        logger.warning("hand_off rule: no mention %s or integration %r", mention_id, integration_slug)
        return None
    try:
        return _hand_off(actor=None, mention=mention, integration=integration, again_is_error=False)
    except HandOffError as exc:
        logger.warning("hand_off rule for mention %s: %s", mention_id, exc)
        return None


def _hand_off(
    *, actor: Any, mention: Mention, integration: HandOffIntegration, again_is_error: bool = True
) -> HandOff:
    if not integration_serves(integration, mention):
        raise HandOffError(f"{integration.name} does not take this mention's team's cases.")
    with transaction.atomic():
        handoff, created = HandOff.objects.select_for_update().get_or_create(
            mention=mention, integration=integration, defaults={"actor": actor if _person(actor) else None}
        )
        if not created:
            if handoff.state != HandOff.State.FAILED:
                if not again_is_error:
                    return handoff
                state = handoff.get_state_display().lower()
                raise HandOffError(f"Already handed off to {integration.name} ({state}).")
            handoff.state, handoff.error, handoff.attempts = HandOff.State.PENDING, "", 0
            handoff.actor = actor if _person(actor) else None
            handoff.updated_at = timezone.now()
            handoff.save(update_fields=["state", "error", "attempts", "actor", "updated_at"])
        event_record(
            actor=actor,
            verb="mention.handed_off",
            obj=mention,
            after={"integration": integration.name, "handoff": handoff.pk, "retry": not created},
        )
        _send_after_commit(handoff.pk)
    return handoff


def handoff_retry(*, actor: Any, handoff: HandOff) -> HandOff:
    """Try a failed hand-off again (the same checks as handing off)."""
    return mention_hand_off(actor=actor, mention=handoff.mention, integration=handoff.integration)


def _person(actor: Any) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)


SEND_TASK = "integrations.tasks.handoff_send"


def _send_after_commit(handoff_id: int) -> None:
    # By name: the task module imports this one.
    transaction.on_commit(lambda: current_app.send_task(SEND_TASK, args=[handoff_id]), robust=True)


def case_draft(handoff: HandOff) -> CaseDraft:
    mention = handoff.mention
    team = mention.team
    base = settings.SOCIALOPS_BASE_URL
    return CaseDraft(
        mention_id=mention.pk,
        text=mention.text,
        url=mention.url,
        network=mention.network,
        kind=mention.kind,
        created_at=mention.created_at.isoformat(),
        intent=mention.intent,
        priority=mention.get_priority_display().lower(),
        sentiment=mention.sentiment_label,
        labels=tuple(mention.labels or ()),
        author_handle=mention.author.handle,
        author_name=mention.author.display_name or mention.author.handle,
        team_name=team.name if team else "",
        team_slug=team.slug if team else "",
        actor_name=user_name(handoff.actor) if handoff.actor else "",
        inbox_url=f"{base}{reverse('inbox:index')}?open={mention.pk}" if base else "",
    )


@dataclass(frozen=True)
class SendOutcome:
    """What one try did: ``retry_in`` seconds when it should be tried again, else None."""

    state: str
    retry_in: float | None = None


def handoff_send(*, handoff_id: int) -> SendOutcome:
    """Create the case of a pending hand-off in the external system and store what came back.

    The row stays locked during the call, so two workers never create two cases for one hand-off; an answer
    lost after the system made the case (a worker killed mid-call) can still make a second one on retry
    (the generic hand-off sends an ``Idempotency-Key`` for receivers that honour one)."""
    with transaction.atomic():
        handoff = (
            HandOff.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("integration", "mention__author", "mention__team", "actor")
            .filter(pk=handoff_id, state=HandOff.State.PENDING)
            .first()
        )
        if handoff is None:
            return SendOutcome(state="gone")  # done, failed, or another worker has it
        integration = handoff.integration
        handoff.attempts += 1
        handoff.updated_at = timezone.now()
        try:
            case = BACKENDS[integration.kind].case_create(
                config=integration.config, secret=integration_secret(integration), draft=case_draft(handoff)
            )
        except CredentialsUnreadable as exc:
            return _failed(handoff, str(exc))
        except HandOffFailed as exc:
            if exc.retryable and handoff.attempts < MAX_ATTEMPTS:
                handoff.error = f"{exc} (try {handoff.attempts} of {MAX_ATTEMPTS})"
                handoff.save(update_fields=["attempts", "error", "updated_at"])
                wait = exc.retry_after or BACKOFF_SECONDS * 2 ** (handoff.attempts - 1)
                return SendOutcome(state=HandOff.State.PENDING, retry_in=wait)
            return _failed(handoff, str(exc))
        now = timezone.now()
        handoff.state = HandOff.State.LINKED
        handoff.external_id, handoff.external_url = case.external_id, case.external_url
        handoff.external_status, handoff.is_closed = case.status, case.is_closed
        handoff.error, handoff.linked_at, handoff.status_checked_at = "", now, now
        handoff.save()
        event_record(
            actor=None,
            verb="mention.case_linked",
            obj=handoff.mention,
            after={
                "integration": integration.name,
                "case": case.external_id,
                "url": case.external_url,
                "status": case.status,
            },
        )
        _publish_after_commit("mention.case_linked", handoff.mention)
    return SendOutcome(state=HandOff.State.LINKED)


def _publish_after_commit(kind: str, mention: Mention) -> None:
    """An open detail pane refreshes when the worker has heard back (the agent is no longer waiting on it)."""
    payload = {"ids": [mention.pk], "teams": [mention.team_id] if mention.team_id else []}
    transaction.on_commit(lambda: event_publish(kind, payload))


def _failed(handoff: HandOff, message: str) -> SendOutcome:
    handoff.state, handoff.error = HandOff.State.FAILED, message[:2000]
    handoff.save(update_fields=["state", "error", "attempts", "updated_at"])
    event_record(
        actor=None,
        verb="mention.handoff_failed",
        obj=handoff.mention,
        after={"integration": handoff.integration.name, "error": message[:300]},
    )
    _publish_after_commit("mention.handoff_failed", handoff.mention)
    return SendOutcome(state=HandOff.State.FAILED)


def handoffs_resend(*, now: Any = None) -> list[int]:
    """Pending hand-offs nobody touched for a while lost their task (a worker died): queue them again."""
    now = now or timezone.now()
    ids = list(
        HandOff.objects.filter(state=HandOff.State.PENDING, updated_at__lte=now - LOST_SEND_AFTER)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:500]
    )
    with transaction.atomic():
        for handoff_id in ids:
            _send_after_commit(handoff_id)
    return ids


def handoffs_status_pull(*, limit: int = STATUS_PULL_BATCH) -> int:
    """Read back the status of open cases from systems that have one (HubSpot's pipeline stage); a change
    is stored and recorded as ``mention.case_status_changed``. Returns how many changed."""
    open_cases = list(
        HandOff.objects.filter(state=HandOff.State.LINKED, is_closed=False, integration__is_active=True)
        .exclude(integration__kind=HandOffIntegration.Kind.GENERIC)
        .select_related("integration", "mention")
        .order_by(F("status_checked_at").asc(nulls_first=True), "pk")[:limit]
    )
    changed = 0
    for handoff in open_cases:
        integration = handoff.integration
        try:
            case = BACKENDS[integration.kind].case_fetch(
                config=integration.config,
                secret=integration_secret(integration),
                external_id=handoff.external_id,
            )
        except (HandOffFailed, CredentialsUnreadable) as exc:
            logger.warning("status of hand-off %s not read: %s", handoff.pk, exc)
            HandOff.objects.filter(pk=handoff.pk).update(status_checked_at=timezone.now())
            continue
        with transaction.atomic():
            current = HandOff.objects.select_for_update().get(pk=handoff.pk)
            current.status_checked_at = timezone.now()
            if case is None or (case.status, case.is_closed) == (current.external_status, current.is_closed):
                current.save(update_fields=["status_checked_at"])
                continue
            before = {"status": current.external_status, "closed": current.is_closed}
            current.external_status, current.is_closed = case.status, case.is_closed
            current.save(update_fields=["status_checked_at", "external_status", "is_closed"])
            event_record(
                actor=None,
                verb="mention.case_status_changed",
                obj=handoff.mention,
                before=before,
                after={"integration": integration.name, "status": case.status, "closed": case.is_closed},
            )
            _publish_after_commit("mention.case_status_changed", handoff.mention)
            changed += 1
    return changed
