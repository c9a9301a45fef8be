"""Running a backtest: what a draft rule set would change over the last days of routed mentions (the report's
shape is ``routing.backtest``). Changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta

from django.db.models.fields.json import KT
from django.utils import timezone

from inbox.models import Mention
from inbox.route import ROUTE_BATCH, mentions_facts
from routing.backtest import UNSAVED_RULE_ID, BacktestChange, BacktestReport, outcome, rule_id_next
from routing.decisions import decision_record
from routing.engine import decide_many
from routing.facts import Classification
from routing.learning import classifier_current
from routing.models import RuleSetVersion
from routing.rules import compile_rule_set
from routing.rulesets import routing_context, rule_set_current


def rules_backtest(
    *,
    rules: Sequence[Mapping],
    days: int = 7,
    sample_size: int = 20,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestReport:
    """What a draft rule set would change over the last ``days`` of routed mentions. Changes nothing.

    Both sides use the classification stored on each mention, so only the rules differ. A draft that does
    not compile raises ``routing.rules.RuleError``. ``progress(processed, total)`` is called before the first
    batch and after each one.
    """
    # A draft of a rule not saved yet has no id (0): give it the one it will be published under, so the
    # report names it as live decisions will ("Rule 7", never "Rule 0").
    unsaved_id = rule_id_next()
    rules = [
        {**spec, "id": unsaved_id}
        if isinstance(spec, Mapping) and spec.get("id") == UNSAVED_RULE_ID
        else spec
        for spec in rules
    ]
    current = rule_set_current()
    version = RuleSetVersion.objects.get(number=current.version)
    context = replace(
        routing_context(intent_segments=version.intent_segments),
        misdirect_threshold=version.misdirect_threshold,
    )
    draft = compile_rule_set(list(rules), context, version=current.version)
    classifier = classifier_current()
    since = timezone.now() - timedelta(days=days)
    ids = list(
        Mention.objects.filter(created_at__gte=since)
        .exclude(routed_at=None)
        .order_by("id")
        .values_list("id", flat=True)
    )
    teams_before: dict[str, int] = {}
    teams_after: dict[str, int] = {}
    changed = added = removed = 0
    sample: list[BacktestChange] = []
    if progress is not None:
        progress(0, len(ids))
    for start in range(0, len(ids), ROUTE_BATCH):
        chunk = ids[start : start + ROUTE_BATCH]
        # Only the model version of each stored decision: decoding whole decisions (their explanations) was
        # a fifth of a backtest's time.
        stored = {
            pk: (intent, conf, sent, label, model_version)
            for pk, intent, conf, sent, label, model_version in Mention.objects.filter(id__in=chunk)
            .annotate(model_version=KT("decision__model_version"))
            .values_list("id", "intent", "intent_confidence", "sentiment", "sentiment_label", "model_version")
        }
        loaded = []
        for pk, facts in mentions_facts(mention_ids=chunk, routed=True):
            intent, conf, sent, label, model_version = stored[pk]
            classification = Classification(
                intent=intent or "other",
                confidence=conf or 0.0,
                sentiment=sent or 0.0,
                sentiment_label=label or "neutral",
                model_version=int(model_version or 0),
            )
            loaded.append((pk, replace(facts, classification=classification)))
        facts_list = [f for _, f in loaded]
        before = decide_many(facts_list, current, classifier)
        after = decide_many(facts_list, draft, classifier)
        for (pk, facts), b, a in zip(loaded, before, after, strict=True):
            teams_before[b.team] = teams_before.get(b.team, 0) + 1
            teams_after[a.team] = teams_after.get(a.team, 0) + 1
            added += bool(a.escalate_to) and not b.escalate_to
            removed += bool(b.escalate_to) and not a.escalate_to
            if outcome(a) != outcome(b):
                changed += 1
                if len(sample) < sample_size:
                    sample.append(BacktestChange(pk, facts.text, decision_record(b), decision_record(a)))
        if progress is not None:
            progress(start + len(chunk), len(ids))
    return BacktestReport(
        mentions=len(ids),
        days=days,
        teams_before=teams_before,
        teams_after=teams_after,
        changed=changed,
        escalations_added=added,
        escalations_removed=removed,
        sample=tuple(sample),
    )
