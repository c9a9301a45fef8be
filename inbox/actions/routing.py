"""Routing's writes to mentions: decisions stored on the mentions they were made for, and what people
correct: re-routes (to a team or an intent), a lead's decision of who owns a post, sentiment labels.

Deciding is ``routing.pipeline`` and ``routing.engine`` (pure); storing what they decided and what people
corrected is here, with the events. Every correction is kept (``Correction``, ``SentimentCorrection``) and
the models learn from it in the background (``inbox.tasks.classifier_train_task``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from channels.models import Segment
from foundation.access import may_lead, may_reroute
from foundation.events import event_record, events_record_many
from foundation.live import event_publish
from inbox.actions.assignment import mentions_auto_assign
from inbox.actions.base import OTHER_TEAM, BulkResult, TriageError, locked, publish, single, workable
from inbox.actions.escalations import escalations_open
from inbox.models import Mention, MentionChannel
from routing.decisions import DecisionColumns
from routing.facts import INTENTS, Decision, Facts
from routing.models import Correction, Escalation, RuleSetVersion, SentimentCorrection
from routing.rulesets import routing_context
from routing.sentiment import LABELS
from teams.models import Membership, Team
from teams.roles import actor_of

# --- Decisions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    routed: int
    escalated: int


def decisions_apply(*, decided: Sequence[tuple[int, Facts, Decision]]) -> ApplyResult:
    """Store decisions on their mentions (only those not routed yet), then do what they ask for (see
    ``decisions_followup``)."""
    if not decided:
        return ApplyResult(0, 0)
    now = timezone.now()
    columns = DecisionColumns.for_decisions([d for _, _, d in decided])
    with transaction.atomic():
        applied = set(_mentions_update([(m, *columns(d)) for m, _, d in decided], now=now))
        escalated = decisions_followup(
            decided=[item for item in decided if item[0] in applied], team_ids=columns.team_ids, now=now
        )
    return ApplyResult(routed=len(applied), escalated=escalated)


def decisions_followup(
    *, decided: Sequence[tuple[int, Facts, Decision]], team_ids: Mapping[str, int], now: Any
) -> int:
    """What stored decisions ask for: escalations, auto-assignment, audit events, notifications after commit,
    one live event for the batch. Runs in the caller's transaction; returns how many were escalated."""
    if not decided:
        return 0
    escalations = escalations_open(decided, team_ids=team_ids, now=now)
    _auto_assign([(m, team_ids.get(d.team)) for m, _, d in decided if not d.assignee])
    # Routine routing is recorded on the mention itself (its decision, versions and routed_at); the audit
    # log gets what moved a post between teams or what a rule made people do.
    recorded = [(m, d) for m, _, d in decided if d.escalate_to or d.rules_fired]
    if recorded:
        rows = Mention.objects.only("id", "network", "external_id", "team_id").in_bulk(
            [m for m, _ in recorded]
        )
        events_record_many(
            actor=None,
            verb="mention.routed",
            objects=[rows[m] for m, _ in recorded],
            before=[{}] * len(recorded),
            after=[
                {
                    "team": d.team,
                    "intent": d.intent,
                    "priority": d.priority,
                    "escalated_to": d.escalate_to,
                    "rules_fired": list(d.rules_fired),
                    "rule_set_version": d.rule_set_version,
                    "model_version": d.model_version,
                }
                for _, d in recorded
            ],
        )
    notifications = [(m, n.kind, n.target) for m, _, d in decided for n in d.notifications]
    if notifications:
        from inbox.tasks import notification_send_task

        for mention_id, kind, target in notifications:
            # Robust: with the broker down the decision stands and the notification is logged as lost.
            transaction.on_commit(
                lambda m=mention_id, k=kind, t=target: notification_send_task.delay(m, k, t), robust=True
            )
    ids = sorted(m for m, _, _ in decided)
    # Team ids, as every live event names them: the event stream sends each browser its teams' events. The
    # receiving teams too: a post escalated away shows up in their "Sent away" queue.
    teams = sorted(
        {team_ids[d.team] for _, _, d in decided if d.team in team_ids}
        | {team_ids[f.team] for _, f, _ in decided if f.team in team_ids}
    )
    transaction.on_commit(
        lambda: event_publish("mentions.routed", {"ids": ids, "teams": teams, "escalated": escalations})
    )
    return len(escalations)


def _mentions_update(rows: list[tuple], *, now: Any) -> list[int]:
    # rows: (mention id, *DecisionColumns values)
    """Write the decisions of mentions still unrouted; returns the ids written."""
    if connection.vendor == "postgresql":
        from psycopg2.extras import Json, execute_values

        with connection.cursor() as cursor:
            written = execute_values(
                cursor.cursor,
                """
                UPDATE inbox_mention m SET
                    team_id = COALESCE(v.team_id, m.team_id), priority = v.priority, intent = v.intent,
                    intent_confidence = v.confidence, sentiment = v.sentiment, sentiment_label = v.label,
                    is_misdirected = v.misdirected, labels = v.labels, requires_approval = v.approval,
                    assignee_id = COALESCE(v.assignee_id, m.assignee_id), decision = v.decision,
                    routed_at = v.routed_at
                FROM (VALUES %s) AS v (id, team_id, priority, intent, confidence, sentiment, label,
                                       misdirected, labels, approval, assignee_id, decision, routed_at)
                WHERE m.id = v.id AND m.routed_at IS NULL
                RETURNING m.id
                """,
                [
                    (
                        pk,
                        team,
                        prio,
                        intent,
                        conf,
                        sent,
                        label,
                        mis,
                        Json(labels),
                        appr,
                        assignee,
                        Json(dec),
                        now,
                    )
                    for pk, team, prio, intent, conf, sent, label, mis, labels, appr, assignee, dec in rows
                ],
                template="(%s::bigint, %s::bigint, %s::smallint, %s, %s::float8, %s::float8, %s, "
                "%s::boolean, %s::jsonb, %s::boolean, %s::integer, %s::jsonb, %s::timestamptz)",
                fetch=True,
                page_size=len(rows),
            )
        return sorted(row[0] for row in written)
    written = []
    for pk, team, prio, intent, conf, sent, label, mis, labels, appr, assignee, dec in rows:
        fields: dict[str, Any] = {
            "priority": prio,
            "intent": intent,
            "intent_confidence": conf,
            "sentiment": sent,
            "sentiment_label": label,
            "is_misdirected": mis,
            "labels": labels,
            "requires_approval": appr,
            "decision": dec,
            "routed_at": now,
        }
        if team is not None:
            fields["team_id"] = team
        if assignee is not None:
            fields["assignee_id"] = assignee
        if Mention.objects.filter(pk=pk, routed_at=None).update(**fields):
            written.append(pk)
    return written


def _auto_assign(routed: Sequence[tuple[int, int | None]]) -> None:
    """Teams that assign automatically get their new mentions handed to available people now."""
    team_ids = {team_id for _, team_id in routed if team_id is not None}
    if team_ids:
        mentions_auto_assign(mention_ids=[m for m, t in routed if t is not None], team_ids=sorted(team_ids))


# --- Corrections --------------------------------------------------------------------------------------------


def corrections_learn(mentions: Sequence[Mention], actor: Any, intent: str) -> None:
    """An agent said what posts are: kept as corrections (the team stays). Reads each mention's intent before
    it changes. The caller has the classifier learn from them (``classifier_learns_after_commit``)."""
    Correction.objects.bulk_create(
        [
            Correction(
                mention_id=m.pk,
                user=actor,
                text=m.text,
                intent_before=m.intent,
                intent_after=intent,
                team_before_id=m.team_id,
                team_after_id=m.team_id,
            )
            for m in mentions
        ]
    )


def classifier_learns_after_commit() -> None:
    # The task module imports the routing of mentions, which stores decisions through this module.
    from inbox.tasks import classifier_train_task

    # Robust: with the broker down the correction is stored; the nightly training (beat) learns it.
    transaction.on_commit(classifier_train_task.delay, robust=True)


def mention_reroute(
    *,
    actor: Any,
    mention: Mention,
    team: Team | None = None,
    segment: Segment | None = None,
    intent: str = "",
    reason: str = "",
) -> Mention:
    """Move a mention to another team (or the team of a segment) and/or correct its intent, with a reason.

    This is the correction the routing engine learns from: with only an intent, the team follows the intent
    map; with only a team, the intent to learn is the one intent that team's segment owns, when there is
    exactly one. An assignee who is not in the new team lets go of it, and it waits in that team's queue.
    """
    result = mentions_reroute(
        actor=actor, mentions=[mention], team=team, segment=segment, intent=intent, reason=reason
    )
    return single(result, mention)


def mentions_reroute(
    *,
    actor: Any,
    mentions: Sequence[Mention],
    team: Team | None = None,
    segment: Segment | None = None,
    intent: str = "",
    reason: str = "",
) -> BulkResult:
    """Re-route each mention the actor may move (see ``foundation.access.may_reroute``); the others are
    skipped. One training is queued for all of them."""
    if segment is not None and team is None:
        team = segment.team
    if intent and intent not in INTENTS:
        raise TriageError(f"Unknown intent {intent!r}; expected one of {', '.join(INTENTS)}.")
    if team is None and not intent:
        raise TriageError("Choose a team or an intent.")
    who = actor_of(actor)
    receiving = _receiving_team_ids([m.pk for m in mentions if m.team_id is None])
    rows, skipped = [], {}
    for m in mentions:
        if may_reroute(who, team_id=m.team_id, receiving_team_ids=receiving.get(m.pk, ())):
            rows.append(m)
        else:
            skipped[m.pk] = OTHER_TEAM
    version = RuleSetVersion.objects.order_by("-number").first()
    intent_segments = version.intent_segments if version else routing_context().intent_segments
    team_of_segment = dict(Segment.objects.values_list("slug", "team_id"))
    done = []
    with transaction.atomic():
        for current in _locked_in_order(rows):
            if team is None:
                team_id = team_of_segment.get(intent_segments.get(intent, ""), current.team_id)
            else:
                team_id = team.pk
            if intent:
                learn = intent
            else:
                segments_of_team = {slug for slug, t in team_of_segment.items() if t == team_id}
                owned = [i for i, s in intent_segments.items() if s and s in segments_of_team]
                learn = owned[0] if len(owned) == 1 else ""
            _reroute_row(actor, current, team_id=team_id, intent=intent, learn=learn, reason=reason)
            done.append(current.pk)
        if done:
            # Every re-route teaches the owner model (a move to a team), and the intent model when it names
            # one.
            classifier_learns_after_commit()
    return BulkResult(done=done, skipped=skipped)


def _locked_in_order(rows: Sequence[Mention]) -> list[Mention]:
    return list(
        Mention.objects.select_for_update(of=("self",)).filter(pk__in=[m.pk for m in rows]).order_by("pk")
    )


def _receiving_team_ids(mention_ids: Sequence[int]) -> dict[int, set[int]]:
    """The teams that own the channels each mention arrived on (mention id -> team ids)."""
    teams: dict[int, set[int]] = {}
    if not mention_ids:
        return teams
    for mention_id, override, segment_team in MentionChannel.objects.filter(
        mention_id__in=mention_ids
    ).values_list("mention_id", "channel__team_override_id", "channel__segment__team_id"):
        teams.setdefault(mention_id, set()).add(override or segment_team)
    return teams


def _reroute_row(
    actor: Any, mention: Mention, *, team_id: int | None, intent: str, learn: str, reason: str
) -> None:
    """Move one locked mention: the correction, the columns, its open escalations decided by the move, the
    events; an assignee outside the new team lets go of it."""
    before = {"team": mention.team_id, "intent": mention.intent}
    Correction.objects.create(
        mention=mention,
        user=actor,
        text=mention.text,
        intent_before=mention.intent,
        intent_after=learn,
        team_before_id=mention.team_id,
        team_after_id=team_id,
    )
    mention.team_id = team_id
    if intent:
        mention.intent = intent
    decision = dict(mention.decision or {})
    decision["corrected_by"] = getattr(actor, "username", "")
    decision["correction_reason"] = reason[:500]
    decision["needs_decision"] = False  # a person decided who owns it
    mention.decision = decision
    changed = ["team", "intent", "decision"]
    if (
        mention.assignee_id is not None
        and not Membership.objects.filter(user_id=mention.assignee_id, team_id=team_id).exists()
    ):
        mention.assignee = None
        mention.status = Mention.Status.NEW
        changed += ["assignee", "status"]
    mention.updated_at = timezone.now()
    mention.save(update_fields=[*changed, "updated_at"])
    for escalation in Escalation.objects.select_for_update().filter(
        mention=mention, state__in=[Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD]
    ):
        accepted = escalation.to_team_id == team_id
        escalation.state = Escalation.State.ACCEPTED if accepted else Escalation.State.BOUNCED
        escalation.bounce_reason = "" if accepted else f"Re-routed by {actor}: {reason}".strip(": ")
        escalation.decided_at = timezone.now()
        escalation.decided_by = actor
        escalation.save(update_fields=["state", "bounce_reason", "decided_at", "decided_by"])
    event_record(
        actor=actor,
        verb="mention.rerouted",
        obj=mention,
        before=before,
        after={"team": team_id, "intent": mention.intent},
    )
    payload = {
        "ids": [mention.pk],
        "team": team_id,
        "teams": sorted(t for t in {before["team"], team_id} if t is not None),
        "intent": mention.intent,
        "actor": getattr(actor, "username", ""),
    }
    transaction.on_commit(lambda: event_publish("mention.rerouted", payload))


def mention_sentiment_correct(*, actor: Any, mention: Mention, label: str) -> Mention:
    """An agent corrects a mention's sentiment label. The correction is stored and the sentiment model learns
    from it in the background (the training task). The mention keeps the agent's label and loses the model's
    score, which no longer describes it."""
    return single(mentions_sentiment_correct(actor=actor, mentions=[mention], label=label), mention)


def mentions_sentiment_correct(*, actor: Any, mentions: Sequence[Mention], label: str) -> BulkResult:
    if label not in LABELS:
        raise TriageError(f"Unknown sentiment {label!r}; expected one of {', '.join(LABELS)}.")
    rows, skipped = workable(actor, mentions)
    with transaction.atomic():
        current = _locked_in_order(rows)
        if current:
            now = timezone.now()
            before = [{"sentiment_label": m.sentiment_label, "sentiment": m.sentiment} for m in current]
            SentimentCorrection.objects.bulk_create(
                SentimentCorrection(
                    mention=m, user=actor, text=m.text, label_before=m.sentiment_label, label_after=label
                )
                for m in current
            )
            for m in current:
                m.sentiment_label = label
                m.sentiment = None
                m.decision = {**(m.decision or {}), "sentiment_corrected_by": getattr(actor, "username", "")}
                m.updated_at = now
            Mention.objects.bulk_update(current, ["sentiment_label", "sentiment", "decision", "updated_at"])
            events_record_many(
                actor=actor,
                verb="mention.sentiment_corrected",
                objects=current,
                before=before,
                after=[{"sentiment_label": label}] * len(current),
            )
            publish("mention.sentiment_corrected", current, actor, sentiment=label)
            classifier_learns_after_commit()
    return BulkResult(done=[m.pk for m in current], skipped=skipped)


def mention_owner_decide(*, actor: Any, mention: Mention, team: Team | None = None) -> Mention:
    """A lead of the mention's team (admins stand in) decides who owns a post routing was unsure of
    (``needs_decision``): ``team`` None or the mention's own team keeps it there, another team moves it (a
    re-route). Either way the decision is a correction the owner model learns from."""
    with transaction.atomic():
        current = locked(mention)
        if not may_lead(actor_of(actor), team_id=current.team_id):
            raise TriageError("Only a lead of the mention's team decides who owns it.")
        if not (current.decision or {}).get("needs_decision"):
            raise TriageError(
                "This mention does not need a decision: routing was sure who owns it, or it was decided."
            )
        before = {"team": current.team_id, "needs_decision": True}
        if team is None or team.pk == current.team_id:
            # "Keep it here": evidence for the team that keeps it; an escalation to it is thereby accepted.
            Correction.objects.create(
                kind=Correction.Kind.KEEP,
                mention=current,
                user=actor,
                text=current.text,
                intent_before="",
                intent_after="",
                team_before_id=current.team_id,
                team_after_id=current.team_id,
            )
            Escalation.objects.filter(
                mention=current,
                to_team_id=current.team_id,
                state__in=[Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD],
            ).update(state=Escalation.State.ACCEPTED, decided_at=timezone.now(), decided_by=actor)
        else:
            _reroute_row(
                actor, current, team_id=team.pk, intent="", learn="", reason="the lead decided who owns it"
            )
        current.decision = {
            **(current.decision or {}),
            "needs_decision": False,
            "owner_decided_by": getattr(actor, "username", ""),
        }
        current.updated_at = timezone.now()
        current.save(update_fields=["decision", "updated_at"])
        after = {"team": current.team_id, "needs_decision": False}
        event_record(actor=actor, verb="mention.owner_decided", obj=current, before=before, after=after)
        payload = {
            "ids": [current.pk],
            "team": current.team_id,
            "teams": sorted(t for t in {before["team"], current.team_id} if t is not None),
            "kept": current.team_id == before["team"],
            "actor": getattr(actor, "username", ""),
        }
        transaction.on_commit(lambda: event_publish("mention.owner_decided", payload))
        classifier_learns_after_commit()
    return Mention.objects.select_related("assignee").get(pk=current.pk)


def mention_team_replay(*, mention: Mention, team: Team) -> Mention:
    """Put a mention in the team routing had put it in, when replaying labelled history (``owners_eval``:
    the file says which team handled each post). Recorded as routing's moves are (``mention.routed``); no
    correction, so nothing is learned from it but what the team then does with the post."""
    with transaction.atomic():
        current = locked(mention)
        before = {"team": current.team_id}
        current.team = team
        current.save(update_fields=["team"])
        event_record(actor=None, verb="mention.routed", obj=current, before=before, after={"team": team.slug})
        publish("mention.routed", [current], None)
    return current
