"""Routing tasks. Each takes ids, looks objects up and calls one service."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from celery import current_app, shared_task
from django.core.cache import cache
from django.core.mail import send_mail

from inbox.actions import escalations
from inbox.models import Mention
from routing import backtest, learning, loading, pipeline
from routing.rules import RuleError

logger = logging.getLogger(__name__)


@shared_task(name="routing.tasks.mentions_route", ignore_result=True)
def mentions_route_task(mention_ids: list[int]) -> dict:
    """Route newly stored mentions.

    Safe to run twice: a mention is only routed while it has no routing result, in one conditional UPDATE.
    """
    result = pipeline.mentions_route(mention_ids=mention_ids)
    return {"routed": result.routed, "escalated": result.escalated, "skipped": result.skipped}


@shared_task(name="routing.tasks.mentions_route_unrouted", ignore_result=True)
def mentions_route_unrouted_task() -> int:
    """Sweep up mentions whose route task was lost (a worker died, the broker was down). Beat runs it.

    Safe to run twice: see mentions_route_task.
    """
    ids = loading.mentions_unrouted()
    if ids:
        logger.info("routing %s mentions the route tasks missed", len(ids))
        pipeline.mentions_route(mention_ids=ids)
    return len(ids)


@shared_task(name="routing.tasks.escalations_overdue", ignore_result=True)
def escalations_overdue_task() -> int:
    """Hand escalations nobody accepted in time to the owning team's lead. Beat runs it every minute.

    Safe to run twice: only pending escalations past due move, under row locks.
    """
    return len(escalations.escalations_overdue_raise())


@shared_task(name="routing.tasks.classifier_train", ignore_result=True)
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
        version = learning.classifier_train(reason=reason)
        learning.sentiment_train()
    finally:
        cache.delete("routing:classifier-train-lock")
    return version.number if version else None


@shared_task(
    name="routing.tasks.notification_send",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=10,
    max_retries=5,
)
def notification_send_task(mention_id: int, kind: str, target: str) -> None:
    """Send the email or webhook a rule asked for about a mention.

    Running twice sends twice; retried only on network errors, where the first try most likely failed.
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


# A backtest's draft and report stay this long: time to read the report and publish, not to hoard.
BACKTEST_TTL_SECONDS = 60 * 60
BACKTEST_SAMPLE_SIZE = 20  # changed decisions shown with their explanations


def backtest_keys(backtest_id: str) -> tuple[str, str]:
    """Cache keys of a backtest: its draft (written by the page) and its progress and report (by the task)."""
    return f"routing:backtest:{backtest_id}", f"routing:backtest:{backtest_id}:progress"


@shared_task(name="routing.tasks.rules_backtest", ignore_result=True)
def rules_backtest_task(backtest_id: str) -> None:
    """Backtest the draft rules the page stored under ``backtest_id``; progress (processed / total) and then
    the report go into the cache for the page to poll.

    Safe to run twice: a backtest changes nothing, and a second run writes the same report again.
    """
    draft_key, progress_key = backtest_keys(backtest_id)
    draft = cache.get(draft_key)
    if draft is None:
        return  # expired before a worker got to it; the page says so

    def write(state: dict[str, Any]) -> None:
        cache.set(progress_key, state, timeout=BACKTEST_TTL_SECONDS)

    def progress(processed: int, total: int) -> None:
        write({"state": "running", "processed": processed, "total": total})

    try:
        report = backtest.rules_backtest(
            rules=draft["rules"], days=draft["days"], sample_size=BACKTEST_SAMPLE_SIZE, progress=progress
        )
    except RuleError as error:  # another rule stopped compiling since the draft was made (a team deleted)
        write({"state": "failed", "error": str(error)})
        return
    except Exception:
        write({"state": "failed", "error": "The backtest stopped with an error: see the worker's log."})
        raise
    write({"state": "done", "processed": report.mentions, "total": report.mentions, "report": asdict(report)})
