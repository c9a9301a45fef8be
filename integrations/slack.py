"""Slack-compatible incoming-webhook notifications, per team: escalations, SLA breaches, crisis mode and the
crisis radar's incidents.

A consumer of the domain events (``integrations.tasks.slack_notify``, consumer ``slack``) turns each event
that concerns a notifier into a ``SlackMessage`` row, in the transaction that moves the consumer's position,
so each event becomes one message per notifier whatever crashes; a task posts each message and retries what
can heal (no answer, 5xx, 429 after its ``Retry-After``). Text from the networks is escaped for Slack's
mrkdwn (``&``, ``<``, ``>``), so a post cannot ping ``<!channel>`` or forge a link.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from channels.crypto import CredentialsUnreadable, decrypt_json, encrypt_json
from foundation.events import event_record
from foundation.models import DomainEvent
from inbox.models import Mention
from integrations.handoff.egress import EgressFailed, EgressRefused, post_json, url_check
from integrations.models import SlackMessage, SlackNotifier
from routing.models import Escalation
from teams.models import Team
from teams.roles import user_is_admin, user_leads_team

logger = logging.getLogger(__name__)

CONSUMER = "slack"
SEND_TASK = "integrations.tasks.slack_message_send"
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 15  # then 30, 60, 120: about four minutes of trying
LOST_SEND_AFTER = timedelta(minutes=2)
TEXT_MAX = 500  # a post's text quoted in a message; the link leads to the rest

# The verbs each switch of a notifier listens to. Escalations: today routing records "mention.routed" with
# ``escalated_to`` when a rule escalates, and "escalation.to_lead" when nobody accepted in time; the names
# the actions rework may give them ("escalation.opened", "mention.escalated") are heard too.
ESCALATION_VERBS = frozenset({"escalation.opened", "mention.escalated", "escalation.to_lead"})
SLA_VERBS = frozenset({"sla.breached"})
CRISIS_VERBS = frozenset({"routing_settings.saved", "crisis_mode.changed"})
# The crisis radar's incidents (``crisis.services.alerts_record``, ``crisis.actions``), to the notifiers of
# the teams they concern, under the crisis switch.
INCIDENT_VERBS = frozenset({"incident.opened", "incident.crisis_mode_on", "incident.closed"})


class SlackError(ValueError):
    """A notifier change this user cannot make, or settings that cannot work; the message says why."""


# --- Notifiers (admins, and leads for their own team) ----------------------------------------------------


def notifier_url(notifier: SlackNotifier) -> str:
    """The decrypted webhook URL; ``CredentialsUnreadable`` after a key change."""
    return decrypt_json(notifier.webhook_url)["url"]


def notifier_url_masked(notifier: SlackNotifier) -> str:
    """The stored webhook shown back: its host and last four characters (the path is the credential)."""
    try:
        url = notifier_url(notifier)
    except CredentialsUnreadable:
        return "unreadable: set it again"
    host = url.split("/")[2] if url.count("/") >= 2 else ""
    return f"https://{host}/…{url[-4:]}"


def slack_notifier_save(
    *,
    actor: Any,
    notifier: SlackNotifier | None,
    team: Team,
    name: str,
    url: str,
    on_escalations: bool,
    on_sla_breaches: bool,
    on_crisis_mode: bool,
    is_active: bool,
) -> SlackNotifier:
    """Create or change a team's notifier (admins, and the team's leads). An empty ``url`` keeps the stored
    one, so the edit form never shows it."""
    if not user_leads_team(actor, team.pk) or (
        notifier is not None and not user_leads_team(actor, notifier.team_id)
    ):
        raise SlackError("Only admins and the team's leads can change its Slack notifications.")
    url = (url or "").strip()
    if notifier is None and not url:
        raise SlackError("Paste the incoming webhook's URL.")
    if url:
        try:
            url_check(url)
        except EgressRefused as exc:
            raise SlackError(str(exc)) from exc
        except EgressFailed:
            pass  # not resolvable from here now: each send checks again
    with transaction.atomic():
        if notifier is None:
            notifier, verb = SlackNotifier(team=team), "slack_notifier.created"
        else:
            notifier, verb = (
                SlackNotifier.objects.select_for_update().get(pk=notifier.pk),
                "slack_notifier.changed",
            )
        notifier.team = team
        notifier.name = name.strip()[:100] or "Slack"
        if url:
            notifier.webhook_url = encrypt_json({"url": url})
        notifier.on_escalations, notifier.on_sla_breaches = on_escalations, on_sla_breaches
        notifier.on_crisis_mode, notifier.is_active = on_crisis_mode, is_active
        notifier.save()
        event_record(
            actor=actor,
            verb=verb,
            obj=notifier,
            after={
                "name": notifier.name,
                "escalations": on_escalations,
                "sla_breaches": on_sla_breaches,
                "crisis_mode": on_crisis_mode,
                "active": is_active,
                "url_changed": bool(url),
            },
            teams=[team.pk],
        )
    return notifier


def slack_notifier_test(*, actor: Any, notifier: SlackNotifier) -> str:
    """Post a test message now; a sentence saying it arrived, or SlackError saying why not."""
    if not user_leads_team(actor, notifier.team_id):
        raise SlackError("Only admins and the team's leads can test its Slack notifications.")
    payload = _payload(
        f"Test from socialops: {mrkdwn_escape(notifier.team.name)} gets its notifications here.",
        context="Sent from the Slack notifications page.",
    )
    try:
        response = post_json(url=notifier_url(notifier), body=json.dumps(payload).encode())
    except (EgressRefused, EgressFailed, CredentialsUnreadable) as exc:
        raise SlackError(str(exc)) from exc
    if not 200 <= response.status < 300:
        raise SlackError(f"Slack answered {response.status}: {response.text[:200]}")
    return "The test message was accepted."


def notifiers_visible_to(*, user: Any) -> list[SlackNotifier]:
    """The notifiers a user may manage: all for admins, their led teams' for leads."""
    notifiers = SlackNotifier.objects.select_related("team")
    if user_is_admin(user):
        return list(notifiers)
    return list(notifiers.filter(team__memberships__user=user, team__memberships__role="lead").distinct())


# --- From events to messages -----------------------------------------------------------------------------


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters as entities: text cannot become a mention, a link or a command."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    # A link's URL may not hold the characters that end it; such a URL is left out rather than broken.
    if not url.startswith(("https://", "http://")) or any(c in url for c in "<>| \n"):
        return mrkdwn_escape(label)
    return f"<{url.replace('&', '&amp;')}|{mrkdwn_escape(label)}>"


def _payload(text: str, *, context: str = "") -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    # "text" is what notifications and old clients show when they cannot render blocks.
    return {"text": text, "blocks": blocks}


@dataclass(frozen=True)
class _Notice:
    switch: str  # "on_escalations" | "on_sla_breaches" | "on_crisis_mode"
    team_ids: tuple[int, ...] | None  # None: every team
    text: str
    context: str


def _mention_lines(mention: Mention | None) -> tuple[str, str]:
    if mention is None:
        return "a mention that is gone", ""
    text = mention.text if len(mention.text) <= TEXT_MAX else mention.text[: TEXT_MAX - 1] + "…"
    quoted = "\n".join(f"> {line}" for line in mrkdwn_escape(text).splitlines() or [""])
    who = f"@{mrkdwn_escape(mention.author.handle)} on {mrkdwn_escape(mention.network)}"
    links = []
    if settings.SOCIALOPS_BASE_URL:
        links.append(
            _link(
                f"{settings.SOCIALOPS_BASE_URL}{reverse('inbox:index')}?open={mention.pk}",
                "Open in socialops",
            )
        )
    if mention.url:
        links.append(_link(mention.url, "View post"))
    return f"{who}\n{quoted}", " · ".join(links)


def _object_model(event: DomainEvent) -> str:
    return ContentType.objects.get_for_id(event.object_type_id).model  # cached after the first


def _mention_id(event: DomainEvent) -> int | None:
    # Routing's bulk "mention.routed" rows name the mention as their object only.
    if event.mention_id is None and _object_model(event) == "mention" and event.object_id.isdigit():
        return int(event.object_id)
    return event.mention_id


def _notice(
    event: DomainEvent, mentions: dict[int, Mention], teams: dict[str, int], names: dict[int, str]
) -> _Notice | None:
    verb, after, before = event.verb, event.after or {}, event.before or {}
    mention = mentions.get(_mention_id(event))
    if (verb == "mention.routed" and after.get("escalated_to")) or verb in ESCALATION_VERBS:
        to_team = teams.get(after.get("escalated_to", "")) if verb == "mention.routed" else None
        if to_team is None and _object_model(event) == "escalation":
            to_team = (
                Escalation.objects.filter(pk=event.object_id).values_list("to_team_id", flat=True).first()
            )
        targets = tuple(sorted({*event.team_ids, *([to_team] if to_team else [])}))
        body, links = _mention_lines(mention)
        team_name = mrkdwn_escape(names.get(to_team, "another team")) if to_team else "another team"
        if verb == "escalation.to_lead":
            head = (
                f":rotating_light: *Escalation to {team_name} not accepted in time*: it goes to the team lead"
            )
        else:
            head = f":arrow_up: *Escalated to {team_name}*"
        return _Notice("on_escalations", targets, f"{head}\n{body}", links)
    if verb in SLA_VERBS:
        body, links = _mention_lines(mention)
        kind = mrkdwn_escape(str(after.get("kind", "")).replace("_", " ")) or "response"
        return _Notice(
            "on_sla_breaches", tuple(event.team_ids), f":hourglass: *SLA breached* ({kind})\n{body}", links
        )
    if verb in CRISIS_VERBS and "crisis_mode" in after and before.get("crisis_mode") != after["crisis_mode"]:
        who = mrkdwn_escape(event.actor.get_username()) if event.actor else "socialops"
        state = "ON" if after["crisis_mode"] else "off"
        icon = ":red_circle:" if after["crisis_mode"] else ":white_check_mark:"
        return _Notice("on_crisis_mode", None, f"{icon} *Crisis mode is {state}* (switched by {who})", "")
    if verb in INCIDENT_VERBS:
        return _incident_notice(event)
    return None


def _incident_notice(event: DomainEvent) -> _Notice:
    after = event.after or {}
    who = mrkdwn_escape(event.actor.get_username()) if event.actor else ""
    if event.verb == "incident.opened":
        head = f":rotating_light: *Crisis radar: incident {event.object_id} opened*"
        if after.get("crisis_mode") == "on":
            head += ", crisis mode switched on by the segment's policy"
        elif after.get("crisis_mode") == "suggested":
            head += ", crisis mode suggested"
        body = mrkdwn_escape(str(after.get("summary") or event.object_repr)[:TEXT_MAX])
    elif event.verb == "incident.crisis_mode_on":
        head = f":red_circle: *Crisis mode on for incident {event.object_id}*"
        body = f"Switched on by {who}" if who else "Switched on by the segment's policy"
    else:
        head = f":white_check_mark: *All clear: incident {event.object_id} closed*" + (
            f" by {who}" if who else ""
        )
        body = mrkdwn_escape(str(after.get("summary") or "")[:TEXT_MAX])
    url = f"{settings.SOCIALOPS_BASE_URL}{reverse('crisis:incident', args=[event.object_id])}"
    return _Notice(
        "on_crisis_mode",
        tuple(event.team_ids or ()) or None,
        f"{head}\n{body}",
        _link(url, "Open the incident"),
    )


def slack_events_handle(events: Sequence[DomainEvent]) -> list[int]:
    """Turn a batch of events into messages for the notifiers they concern (in the consumer's transaction)
    and send them after commit. Returns the new messages' ids."""
    notifiers = list(SlackNotifier.objects.filter(is_active=True))
    if not notifiers:
        return []
    mention_ids = {m for m in map(_mention_id, events) if m}
    mentions = Mention.objects.select_related("author").in_bulk(mention_ids) if mention_ids else {}
    teams = dict(Team.objects.values_list("slug", "id"))
    names = dict(Team.objects.values_list("id", "name"))
    rows = []
    for event in events:
        notice = _notice(event, mentions, teams, names)
        if notice is None:
            continue
        for notifier in notifiers:
            if getattr(notifier, notice.switch) and (
                notice.team_ids is None or notifier.team_id in notice.team_ids
            ):
                rows.append(
                    SlackMessage(
                        notifier=notifier,
                        event_id=event.pk,
                        payload=_payload(notice.text, context=notice.context),
                    )
                )
    created = SlackMessage.objects.bulk_create(rows, ignore_conflicts=True)
    ids = [m.pk for m in created if m.pk is not None]
    if not ids:  # ignore_conflicts leaves pks unset: read them back
        ids = list(
            SlackMessage.objects.filter(
                event_id__in=[e.pk for e in events], state=SlackMessage.State.PENDING
            ).values_list("pk", flat=True)
        )
    for message_id in ids:
        transaction.on_commit(lambda m=message_id: current_app.send_task(SEND_TASK, args=[m]), robust=True)
    return ids


# --- Posting -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    state: str
    retry_in: float | None = None


def slack_message_send(*, message_id: int) -> SendOutcome:
    """Post one pending message. Safe to run twice: a sent or failed message is left alone, and the row
    lock keeps two workers from posting it together."""
    with transaction.atomic():
        message = (
            SlackMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("notifier")
            .filter(pk=message_id, state=SlackMessage.State.PENDING)
            .first()
        )
        if message is None:
            return SendOutcome(state="gone")
        message.attempts += 1
        retry_after = None
        try:
            response = post_json(
                url=notifier_url(message.notifier), body=json.dumps(message.payload).encode()
            )
        except (EgressRefused, CredentialsUnreadable) as exc:
            return _finish(message, SlackMessage.State.FAILED, str(exc))
        except EgressFailed as exc:
            error = str(exc)
        else:
            if 200 <= response.status < 300:
                message.sent_at = timezone.now()
                return _finish(message, SlackMessage.State.SENT, "")
            error = f"Slack answered {response.status}: {response.text[:200]}"
            if response.status != 429 and response.status < 500:
                return _finish(message, SlackMessage.State.FAILED, error)  # a revoked or wrong webhook
            header = response.headers.get("retry-after", "")
            retry_after = float(header) if header.isdigit() else None
        if message.attempts >= MAX_ATTEMPTS:
            return _finish(message, SlackMessage.State.FAILED, error)
        message.error = error
        message.save(update_fields=["attempts", "error"])
        return SendOutcome(
            state=SlackMessage.State.PENDING,
            retry_in=retry_after or BACKOFF_SECONDS * 2 ** (message.attempts - 1),
        )


def _finish(message: SlackMessage, state: str, error: str) -> SendOutcome:
    message.state, message.error = state, error[:2000]
    message.save(update_fields=["state", "error", "attempts", "sent_at"])
    return SendOutcome(state=state)


def slack_messages_resend(*, now: Any = None) -> list[int]:
    """Pending messages older than a while whose send task was lost: queue them again."""
    now = now or timezone.now()
    ids = list(
        SlackMessage.objects.filter(state=SlackMessage.State.PENDING, created_at__lte=now - LOST_SEND_AFTER)
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )
    for message_id in ids:
        current_app.send_task(SEND_TASK, args=[message_id])
    return ids


def recent_messages(*, notifiers: Iterable[SlackNotifier], limit: int = 20) -> list[SlackMessage]:
    return list(
        SlackMessage.objects.filter(notifier__in=list(notifiers))
        .select_related("notifier")
        .order_by("-created_at")[:limit]
    )
