"""What a mention keeps of a routing decision: its routing columns and the record shown on its page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth import get_user_model

from routing.facts import PRIORITIES, Decision
from teams.models import Team


class DecisionColumns:
    """Turns decisions into the values of a mention's routing columns, with team and user ids looked up once
    per batch."""

    def __init__(self, team_ids: Mapping[str, int], user_ids: Mapping[str, int]) -> None:
        self.team_ids = team_ids
        self.user_ids = user_ids

    @classmethod
    def for_decisions(cls, decisions: Iterable[Decision]) -> DecisionColumns:
        assignees = {d.assignee for d in decisions if d.assignee}
        user_ids = (
            dict(get_user_model().objects.filter(username__in=assignees).values_list("username", "id"))
            if assignees
            else {}
        )
        return cls(dict(Team.objects.values_list("slug", "id")), user_ids)

    def __call__(self, d: Decision) -> tuple:
        """(team id, priority, intent, confidence, sentiment, label, misdirected, labels, approval, assignee
        id, decision record)."""
        return (
            self.team_ids.get(d.team),
            PRIORITIES.get(d.priority, PRIORITIES["normal"]),
            d.intent,
            d.confidence,
            d.sentiment,
            d.sentiment_label,
            d.is_misdirected,
            list(d.labels),
            d.require_approval,
            self.user_ids.get(d.assignee),
            decision_record(d),
        )


def decision_record(d: Decision) -> dict[str, Any]:
    """What a mention keeps of its decision, for its detail page and the API."""
    return {
        "segment": d.segment,
        "team": d.team,
        "intent": d.intent,
        "confidence": round(d.confidence, 4),
        "sentiment": round(d.sentiment, 4),
        "priority": d.priority,
        "labels": list(d.labels),
        "is_misdirected": d.is_misdirected,
        "escalate_to": d.escalate_to,
        "escalation_reason": d.escalation_reason,
        "assignee": d.assignee,
        "require_approval": d.require_approval,
        "rules_fired": list(d.rules_fired),
        "explanation": list(d.explanation),
        "rule_set_version": d.rule_set_version,
        "model_version": d.model_version,
        "owner_source": d.owner_source,
        "needs_decision": d.needs_decision,
        # The owner model's likeliest team and its confidence (none without an owner model).
        **(
            {"owner_team": d.extra["owner_team"], "owner_confidence": round(d.extra["owner_confidence"], 4)}
            if "owner_team" in d.extra
            else {}
        ),
    }
