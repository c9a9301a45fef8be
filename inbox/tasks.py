"""Inbox background work: pulling channels into the inbox, sending replies, waking snoozed mentions, routing
mentions and learning from them, backtesting draft rules on them."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from celery import current_app, shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail

from channels.connectors.base import ConnectorUnavailable
from channels.services import channels_claim_due
from foundation.locks import held_lock
from inbox import backtest, history, route
from inbox.actions import escalations, triage
from inbox.actions.assignment import mentions_auto_assign
from inbox.actions.replies import replies_send_due, reply_deliver
from inbox.models import Mention, Reply
from inbox.pulls import channel_pull
from routing import backtest as routing_backtest
from routing import learning
from routing.rules import RuleError

logger = logging.getLogger(__name__)


@shared_task(name="inbox.tasks.reply_send", ignore_result=True)
def reply_send_task(reply_id: int) -> None:
    """Send one due reply through its channel's connector. Safe to run twice, or to be redelivered by the
    broker: only a reply still queued and due is sent, and claiming it moves its due time past the attempt.

    No Celery retries: a deferred reply keeps its next due time on its row, and the sweeper
    (``replies_send_due``) queues it again then, so a broker restart loses no retry.
    """
    try:
        reply_deliver(reply_id=reply_id)
    except Reply.DoesNotExist:
        logger.info("reply %s was deleted before it could be sent", reply_id)


@shared_task(name="inbox.tasks.replies_send_due", ignore_result=True)
def replies_send_due_task() -> int:
    """The replies' sweeper: queue a send task for every reply that is due (a deferral ended, a task lost
    with the broker, a reply written while the broker was down, a worker that died mid-attempt). Safe to
    run twice: a reply handed off is not handed off again for a while, and its task sends it once."""
    return len(replies_send_due())


@shared_task(name="inbox.tasks.mentions_wake")
def mentions_wake_task() -> int:
    """Snoozed mentions whose time has come go back to open. Safe to repeat: only due ones change."""
    return len(triage.mentions_wake())


@shared_task(name="inbox.tasks.sla_tick")
def sla_tick_task() -> tuple[int, int]:
    """Start new SLA clocks, warn before breaches and raise breaches to team leads. Safe to repeat: each
    mention is warned once and raised once per clock."""
    from inbox.actions.sla import sla_tick

    warned, breached = sla_tick()
    return len(warned), len(breached)


# Acknowledged on receipt: a redelivered message would email the leads twice, and a lost one leaves the
# breach on the page and in the audit log.
@shared_task(name="inbox.tasks.sla_breach_notify", acks_late=False)
def sla_breach_notify_task(mention_id: int) -> int:
    """Email the leads of the mention's team (the admins when it has none) that its SLA was breached.
    Running twice sends twice (the tick raises each breach once), so the broker does not redeliver it."""
    from django.core.mail import send_mail

    from inbox.models import Mention
    from inbox.sla import KIND_NAMES
    from teams.roles import team_leaders

    mention = Mention.objects.select_related("author", "team").filter(pk=mention_id).first()
    if mention is None or mention.team_id is None:
        return 0
    # A team without a lead: the admins stand in, so a breach is never raised to nobody.
    leads = [user.email for user in team_leaders(team_id=mention.team_id).users if user.email]
    if not leads:
        return 0
    kind = KIND_NAMES.get(mention.sla_kind, "SLA")
    body = "\n".join(
        [
            f"{kind} target breached for a mention of {mention.team}.",
            f"Due: {mention.sla_due_at:%Y-%m-%d %H:%M %Z}" if mention.sla_due_at else "",
            "",
            f"@{mention.author.handle} on {mention.get_network_display()}:",
            mention.text,
            "",
            f"Open it: /inbox/?open={mention.pk}",
        ]
    )
    send_mail(f"[socialops] SLA breached: {kind.lower()} for @{mention.author.handle}", body, None, leads)
    return len(leads)


@shared_task(name="inbox.tasks.channels_pull_due", ignore_result=True)
def channels_pull_due() -> list[int]:
    """Fan out one pull task per channel that is due.

    Safe to run twice: claiming moves each channel's next pull on, so a second run finds nothing due.
    """
    channel_ids = channels_claim_due()
    for channel_id in channel_ids:
        channel_pull_task.delay(channel_id)
    return channel_ids


@shared_task(
    name="inbox.tasks.channel_pull",
    bind=True,
    ignore_result=True,
    autoretry_for=(ConnectorUnavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def channel_pull_task(self, channel_id: int) -> dict | None:
    """Pull one channel.

    Safe to run twice: a per-channel lock keeps pulls of one channel apart, the cursor only advances with
    the posts it covers, and the ingest skips posts already stored.
    """
    # Short-lived and renewed while the pull runs: a worker that died mid-pull lets it lapse within
    # SOCIALOPS_PULL_LOCK_SECONDS, and the channel's next due pull goes ahead.
    with held_lock(f"channels:pull-lock:{channel_id}", ttl=settings.SOCIALOPS_PULL_LOCK_SECONDS) as taken:
        if not taken:
            logger.info("channel %s is already being pulled; skipping", channel_id)
            return None
        result = channel_pull(channel_id=channel_id)
    logger.info("pulled channel %s: %s", channel_id, result)
    return asdict(result)


@shared_task(name="inbox.tasks.queues_assign")
def queues_assign_task() -> int:
    """Auto-assigning teams' queued mentions go to people who have room now (someone closed one, came back,
    or joined). Safe to repeat and to overlap: teams are locked while their queue is handed out."""
    return len(mentions_auto_assign())


# --- Routing the mentions, learning from them, backtesting rules on them ------------------------------------


@shared_task(name="inbox.tasks.mentions_route", ignore_result=True)
def mentions_route_task(mention_ids: list[int]) -> dict:
    """Route newly stored mentions.

    Safe to run twice: a mention is only routed while it has no routing result, in one conditional UPDATE.
    """
    result = route.mentions_route(mention_ids=mention_ids)
    return {"routed": result.routed, "escalated": result.escalated, "skipped": result.skipped}


@shared_task(name="inbox.tasks.mentions_route_unrouted", ignore_result=True)
def mentions_route_unrouted_task() -> int:
    """Sweep up mentions whose route task was lost (a worker died, the broker was down). Beat runs it.

    Safe to run twice: see mentions_route_task.
    """
    ids = route.mentions_unrouted()
    if ids:
        logger.info("routing %s mentions the route tasks missed", len(ids))
        route.mentions_route(mention_ids=ids)
    return len(ids)


@shared_task(name="inbox.tasks.escalations_overdue", ignore_result=True)
def escalations_overdue_task() -> int:
    """Hand escalations nobody accepted in time to the owning team's lead. Beat runs it every minute.

    Safe to run twice: only pending escalations past due move, under row locks.
    """
    return len(escalations.escalations_overdue_raise())


@shared_task(name="inbox.tasks.classifier_train", ignore_result=True)
def classifier_train_task(reason: str = "corrections") -> int | None:
    """Train the routing models again from every stored example (a new version, made active when its
    backtest says it is not worse), and the sentiment adjustment when there are new sentiment corrections.
    Queued after each correction and nightly by beat: a burst of corrections queues many, and the first
    to run learns them all (the others find nothing new).

    Safe to run twice: a lock keeps two trainings apart, and a training from the same stored examples as
    the newest version stores nothing (the same examples give the same models).
    """
    if not cache.add("routing:classifier-train-lock", "1", timeout=1800):
        return None
    try:
        version = history.classifier_train(reason=reason)
        learning.sentiment_train()
    finally:
        cache.delete("routing:classifier-train-lock")
    return version.number if version else None


@shared_task(
    name="inbox.tasks.notification_send",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=10,
    max_retries=5,
    acks_late=False,  # acknowledged on receipt: the broker never redelivers a notification half sent
)
def notification_send_task(mention_id: int, kind: str, target: str) -> None:
    """Send the email or webhook a rule asked for about a mention.

    Running twice sends twice, so the message is acknowledged when a worker takes it and never
    redelivered; retried only on network errors, where the first try most likely failed.
    """
    # A rule's hand_off: the integrations app makes the case (named, not imported: it is the floor above).
    if kind == "handoff":
        current_app.send_task("integrations.tasks.mention_hand_off_by_rule", args=[mention_id, target])
        return
    mention = Mention.objects.select_related("author", "team").filter(pk=mention_id).first()
    if mention is None:
        return
    decision = mention.decision or {}
    summary = {
        "mention_id": mention.pk,
        "network": mention.network,
        "url": mention.url,
        "author": mention.author.handle,
        "text": mention.text,
        "team": decision.get("team", ""),
        "intent": mention.intent,
        "priority": decision.get("priority", ""),
        "labels": mention.labels,
        "explanation": decision.get("explanation", []),
    }
    if kind == "email":
        body = "\n".join(
            [f"@{mention.author.handle} on {mention.network}:", mention.text, "", *summary["explanation"]]
        )
        send_mail(f"[socialops] {summary['intent'] or 'mention'} for {summary['team']}", body, None, [target])
    elif kind == "webhook":
        import requests

        response = requests.post(target, json={"event": "mention.routed", "mention": summary}, timeout=10)
        if response.status_code >= 500:
            raise OSError(f"webhook answered {response.status_code}")
    else:
        logger.warning("unknown notification kind %r for mention %s", kind, mention_id)


@shared_task(name="inbox.tasks.rules_backtest", ignore_result=True)
def rules_backtest_task(backtest_id: str) -> None:
    """Backtest the draft rules the page stored under ``backtest_id``; progress (processed / total) and then
    the report go into the cache for the page to poll.

    Safe to run twice: a backtest changes nothing, and a second run writes the same report again.
    """
    draft_key, progress_key = routing_backtest.backtest_keys(backtest_id)
    draft = cache.get(draft_key)
    if draft is None:
        return  # expired before a worker got to it; the page says so

    def write(state: dict[str, Any]) -> None:
        cache.set(progress_key, state, timeout=routing_backtest.BACKTEST_TTL_SECONDS)

    def progress(processed: int, total: int) -> None:
        write({"state": "running", "processed": processed, "total": total})

    try:
        report = backtest.rules_backtest(
            rules=draft["rules"],
            days=draft["days"],
            sample_size=routing_backtest.BACKTEST_SAMPLE_SIZE,
            progress=progress,
        )
    except RuleError as error:  # another rule stopped compiling since the draft was made (a team deleted)
        write({"state": "failed", "error": str(error)})
        return
    except Exception:
        write({"state": "failed", "error": "The backtest stopped with an error: see the worker's log."})
        raise
    write({"state": "done", "processed": report.mentions, "total": report.mentions, "report": asdict(report)})
