"""Score the intent classifier and the routing engine on our labelled set: ``python -m bench.eval``.

No database: the classifier (``routing.classifier.IntentClassifier``) and the engine (``routing.engine``,
``routing.rules``) are plain Python. Three parts:

1. **Held-back slice, patterns only.** ``bench/data/routing_eval.jsonl`` is split with a fixed seed,
   stratified by intent: ``--test-share`` (40%) is held back, the rest is a pool of simulated agent
   corrections. A fresh classifier (patterns and lexicons, no corrections) classifies the held-back posts
   and the engine, with no admin rules, decides where each goes. Reported: per-intent precision, recall, F1
   and support, macro F1, accuracy; misdirected-post detection (``decision.is_misdirected`` against the
   label) and owning-segment accuracy (``decision.segment`` against ``owner_segment``); accuracy per language.
2. **Learning curve.** A fresh classifier per pool order (three orders from the seed). Agents go through the
   pool in that order; a post whose predicted intent is wrong gets corrected to its true intent and that
   correction is kept; in steps of 0, 25, 50, 100, 200 and all corrections, the classifier is trained again
   from scratch on every correction so far (``IntentClassifier.trained``, as the training task does). Only
   wrong predictions become corrections because that is what agents do: nobody re-labels a post that was
   right, and the classifier is built for that biased sample. For comparison, a second curve feeds every
   pool post, right or wrong (an upper reference: agents labelling everything). After each step the
   held-back slice is scored again.
3. **Development data** in ``--shared`` (default ``../shared/data`` beside the repository), skipped with a
   message when absent. Neither set is customer service; each figure's meaning is printed with it:
   * Tweet Act Classification (TAC): general tweets labelled question / request / statement / expression.
     Deduplicated; texts with conflicting labels dropped.
   * CrisisLexT26, development half: tweets from 13 disasters labelled by informativeness and type; split
     by event (leave one event out): each fold's crisis detector is trained, as ``make models`` trains the
     shipped one, without the disaster it is scored on (``crisis_recall``, ``crisis_false_alarm_rate``:
     means over the 13 events).
   * SemEval/TweetEval sentiment, ``val.tsv``: macro-averaged recall of the sentiment model
     (``sentiment_val_macro_recall``) and of plain VADER in the same run.
   * Customer-care posts to 25 brands' support accounts: how the owner model learns the brands as teams
     from corrections (``owner_accuracy_curve``, ``one_by_one_vs_batch_gap``, ``ece``; see
     ``bench/eval_owners.py``).

Deterministic for a seed, on any machine: the BLAS thread pool is held to one thread (the owner model's
optimiser sums in another order with more threads, and its small vector operations are faster on one).
Writes every figure to ``bench/eval_results.json`` and a table to stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from routing import crisis, textfeatures
from routing.classifier import IntentClassifier
from routing.crisis import FALSE_ALARM_BUDGET
from routing.engine import decide_many
from routing.facts import DEFAULT_INTENT_SEGMENTS, INTENTS, Facts
from routing.rules import RoutingContext, compile_rule_set
from routing.sentiment import label_for, shipped_model
from routing.training.crisis import (
    INNER_FOLDS,
    called,
    crisis_examples,
    detector_figures,
    operating_point,
    train_detector,
)
from routing.training.data import CRISISLEX, CUSTOMER_CARE, SEMEVAL, SHARED, read_semeval
from routing.training.sentiment import macro_recall

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "bench" / "data" / "routing_eval.jsonl"
RESULTS = REPO / "bench" / "eval_results.json"
DEFAULT_SHARED = SHARED  # ../shared/data beside the repository, or SOCIALOPS_SHARED_DATA (a git worktree)

SEGMENTS = (
    "customer-relations",
    "crisis-management",
    "reputation-management",
    "event-coverage",
    "product-promotion",
    "issue-advocacy",
)
QUESTION_INTENTS = frozenset({"support_question", "purchase_question", "event_question", "press_question"})
CURVE_STEPS: tuple[int | None, ...] = (0, 25, 50, 100, 200, None)  # None: every correction the pool gives
CURVE_ORDERS = 3
BATCH = 500
DEFAULT_SEED = 7


@dataclass(frozen=True)
class Post:
    id: str
    text: str
    intent: str
    owner_segment: str
    received_segment: str
    misdirected: bool
    language: str
    network: str
    kind: str

    def facts(self) -> Facts:
        # In the evaluation every segment is owned by a team of the same slug.
        return Facts(
            text=self.text,
            network=self.network,
            kind=self.kind,
            segment=self.received_segment,
            team=self.received_segment,
            language=self.language,
        )


# --- data --------------------------------------------------------------------------------------------------


def load_posts(path: Path = DATA) -> list[Post]:
    with path.open(encoding="utf-8") as handle:
        return [Post(**json.loads(line)) for line in handle if line.strip()]


def split(posts: Sequence[Post], seed: int, test_share: float) -> tuple[list[Post], list[Post]]:
    """(held back, pool): per intent, a seeded shuffle, the first ``test_share`` of it held back."""
    by_intent: dict[str, list[Post]] = defaultdict(list)
    for post in posts:
        by_intent[post.intent].append(post)
    test: list[Post] = []
    pool: list[Post] = []
    rng = random.Random(seed)
    for intent in INTENTS:
        group = sorted(by_intent.get(intent, []), key=lambda p: p.id)
        rng.shuffle(group)
        cut = round(len(group) * test_share)
        test += group[:cut]
        pool += group[cut:]
    return sorted(test, key=lambda p: p.id), sorted(pool, key=lambda p: p.id)


def routing_rule_set():
    context = RoutingContext(
        teams=frozenset(SEGMENTS),
        segments={segment: segment for segment in SEGMENTS},
        users=None,
        channels=None,
        intent_segments=dict(DEFAULT_INTENT_SEGMENTS),
    )
    return compile_rule_set([], context)


def batched(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def classify_texts(classifier: IntentClassifier, facts: Sequence[Facts]) -> list[str]:
    intents: list[str] = []
    for chunk in batched(facts):
        intents += [c.intent for c in classifier.classify_many(list(chunk))]
    return intents


# --- scoring -----------------------------------------------------------------------------------------------


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _f1(precision: float | None, recall: float | None) -> float:
    if not precision or not recall:
        return 0.0
    return round(2 * precision * recall / (precision + recall), 4)


def intent_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    per_intent = {}
    for intent in INTENTS:
        tp = sum(g == intent and p == intent for g, p in zip(gold, predicted, strict=True))
        support = sum(g == intent for g in gold)
        predicted_n = sum(p == intent for p in predicted)
        precision, recall = _ratio(tp, predicted_n), _ratio(tp, support)
        per_intent[intent] = {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "support": support,
            "predicted": predicted_n,
        }
    present = [scores["f1"] for scores in per_intent.values() if scores["support"]]
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    confusion: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, predicted, strict=True):
        confusion.setdefault(g, {}).setdefault(p, 0)
        confusion[g][p] += 1
    return {
        "accuracy": _ratio(correct, len(gold)),
        "macro_f1": round(statistics.fmean(present), 4) if present else None,
        "per_intent": per_intent,
        "confusion": {g: dict(sorted(row.items())) for g, row in sorted(confusion.items())},
    }


def evaluate(classifier: IntentClassifier, posts: Sequence[Post], rule_set) -> dict[str, Any]:
    """Every figure for one classifier on ``posts``, with the engine's decisions."""
    decisions = []
    for chunk in batched(posts):
        decisions += decide_many([post.facts() for post in chunk], rule_set, classifier)
    gold = [post.intent for post in posts]
    predicted = [decision.intent for decision in decisions]
    result = intent_scores(gold, predicted)

    flagged = [decision.is_misdirected for decision in decisions]
    labelled = [post.misdirected for post in posts]
    tp = sum(f and m for f, m in zip(flagged, labelled, strict=True))
    precision, recall = _ratio(tp, sum(flagged)), _ratio(tp, sum(labelled))
    by_intent = {}
    for intent in INTENTS:
        rows = [(f, p) for f, p in zip(flagged, posts, strict=True) if p.intent == intent and p.misdirected]
        if rows:
            by_intent[intent] = {
                "misdirected": len(rows),
                "recall": _ratio(sum(f for f, _ in rows), len(rows)),
            }
    result["misdirected"] = {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "flagged": sum(flagged),
        "labelled": sum(labelled),
        "true_positives": tp,
        "recall_by_intent": by_intent,
    }
    owner_right = sum(d.segment == p.owner_segment for d, p in zip(decisions, posts, strict=True))
    result["owner_segment_accuracy"] = _ratio(owner_right, len(posts))
    # The engine moves a post only when the intent's confidence reaches the rule set's threshold.
    threshold = rule_set.misdirect_threshold
    confident = [d.confidence >= threshold for d in decisions]
    result["confidence"] = {
        "threshold": threshold,
        "mean": round(statistics.fmean(d.confidence for d in decisions), 4) if decisions else None,
        "at_or_above_threshold": _ratio(sum(confident), len(decisions)),
        "right_and_at_or_above_threshold": _ratio(
            sum(c and d.intent == p.intent for c, d, p in zip(confident, decisions, posts, strict=True)),
            len(decisions),
        ),
    }

    languages: dict[str, list[bool]] = defaultdict(list)
    for post, intent in zip(posts, predicted, strict=True):
        right = post.intent == intent
        languages[post.language].append(right)
        languages["non-en" if post.language != "en" else "all-en"].append(right)
    result["language_accuracy"] = {
        language: {"accuracy": _ratio(sum(hits), len(hits)), "posts": len(hits)}
        for language, hits in sorted(languages.items())
    }
    return result


# --- learning curve ----------------------------------------------------------------------------------------


def learning_curve(
    pool: Sequence[Post], test: Sequence[Post], rule_set, seeds: Sequence[int], *, errors_only: bool
) -> tuple[dict[str, Any], IntentClassifier]:
    """Average held-back figures after each step of corrections; also the first order's final classifier."""
    runs: list[list[dict[str, Any]]] = []
    first_final: IntentClassifier | None = None
    for seed in seeds:
        order = list(pool)
        random.Random(seed).shuffle(order)
        classifier = IntentClassifier()
        learned: list[tuple[str, str]] = []
        position = fed = 0
        points = []
        for step in CURVE_STEPS:
            want = (len(order) if step is None else step) - fed
            if want > 0 and position < len(order):
                corrections: list[tuple[str, str]] = []
                rest = order[position:]
                if errors_only:
                    predicted = classify_texts(classifier, [post.facts() for post in rest])
                    consumed = len(rest)
                    for offset, (post, intent) in enumerate(zip(rest, predicted, strict=True)):
                        if intent != post.intent:
                            corrections.append((post.text, post.intent))
                            if len(corrections) == want:
                                consumed = offset + 1
                                break
                else:
                    consumed = min(want, len(rest))
                    corrections = [(post.text, post.intent) for post in rest[:consumed]]
                position += consumed
                if corrections:
                    learned += corrections
                    # As the training task does: from scratch, on every correction so far.
                    classifier = IntentClassifier.trained(learned, version=len(points))
                fed += len(corrections)
            scores = evaluate(classifier, test, rule_set)
            points.append(
                {
                    "step": "all" if step is None else step,
                    "corrections": fed,
                    "posts_reviewed": position,
                    "accuracy": scores["accuracy"],
                    "macro_f1": scores["macro_f1"],
                    "misdirected_precision": scores["misdirected"]["precision"],
                    "misdirected_recall": scores["misdirected"]["recall"],
                    "owner_segment_accuracy": scores["owner_segment_accuracy"],
                    "confidence_mean": scores["confidence"]["mean"],
                    "confident_share": scores["confidence"]["at_or_above_threshold"],
                }
            )
        runs.append(points)
        if first_final is None:
            first_final = classifier
    averaged = []
    for index, step in enumerate(CURVE_STEPS):
        row: dict[str, Any] = {"step": "all" if step is None else step}
        for key in runs[0][index]:
            if key == "step":
                continue
            values = [run[index][key] for run in runs if run[index][key] is not None]
            row[key] = round(statistics.fmean(values), 4) if values else None
            if key in ("accuracy", "macro_f1") and len(values) > 1:
                row[f"{key}_sd"] = round(statistics.stdev(values), 4)
        averaged.append(row)
    mode = "errors_only" if errors_only else "every_post"
    assert first_final is not None
    return {"mode": mode, "orders": list(seeds), "steps": averaged, "runs": runs}, first_final


# --- development data --------------------------------------------------------------------------------------


def read_tac(folder: Path) -> tuple[dict[str, str], dict[str, int]]:
    """Unique text -> label, conflicting texts dropped; and the counts behind that."""
    labels: dict[str, set[str]] = defaultdict(set)
    rows = 0
    with (folder / "TWEET_DATA.csv").open(encoding="utf-8", newline="") as handle:
        for record in csv.reader(handle):
            if len(record) < 2 or not record[0].strip():
                continue
            rows += 1
            labels[record[0].strip()].add(record[1].strip())
    unique = {text: next(iter(found)) for text, found in labels.items() if len(found) == 1}
    return unique, {
        "rows": rows,
        "unique_texts": len(labels),
        "conflicting_dropped": len(labels) - len(unique),
    }


def tac_figures(classifier: IntentClassifier, tac: dict[str, str]) -> dict[str, Any]:
    texts = sorted(tac)
    predicted = classify_texts(classifier, [Facts(text=t, network="x", language="en") for t in texts])
    by_label: dict[str, Counter] = defaultdict(Counter)
    for text, intent in zip(texts, predicted, strict=True):
        by_label[tac[text]][intent] += 1
    figures: dict[str, Any] = {}
    for label in ("QUE", "REQ", "EXP", "STM", "SUG", "THT", "OTH"):
        counts = by_label.get(label, Counter())
        total = sum(counts.values())
        question = sum(n for intent, n in counts.items() if intent in QUESTION_INTENTS)
        figures[label] = {
            "tweets": total,
            "question_type_share": _ratio(question, total),
            "intents": dict(counts.most_common()),
        }
    return figures


def crisis_leave_events_out(shared: Path) -> dict[str, Any]:
    """The crisis signal on disasters the detector never saw: for each of the 13 events, a detector trained
    as ``make models`` trains the shipped one (``routing.training.crisis.train_detector``, C and decision
    threshold chosen on its training disasters alone) on the other 12 and on the rest of the seed corpus and
    customer-care tweets, inside the default classifier; the held-out event's tweets classified. Recall:
    related-and-informative tweets of the crisis types called a crisis signal; false alarms: "Not related"
    tweets called one. Means over events (folds); the same classifier without any detector (patterns and
    seed model) for comparison. The trade-off: the same folds with the threshold chosen, still on the
    training disasters alone, for other false-alarm budgets."""
    examples = crisis_examples(shared)
    x = textfeatures.rows(examples.texts).matrix()
    flagged = {"with detector": np.zeros(len(examples.texts), bool), "without detector": None}
    budgets = (0.02, 0.05, 0.1, 0.2)
    at_budget = {budget: np.zeros(len(examples.texts), bool) for budget in budgets}
    chosen_c, chosen_threshold = {}, {}
    for k, event in enumerate(examples.events):
        held = np.flatnonzero(examples.fold == k)
        training = examples.fold != k
        model, chosen = train_detector(examples, x, training)
        chosen_c[event], chosen_threshold[event] = chosen["c"], chosen["threshold"]
        facts = [Facts(text=examples.texts[i], network="x") for i in held]
        predicted = classify_texts(IntentClassifier(crisis=crisis.CrisisDetector(model)), facts)
        flagged["with detector"][held] = [intent == "crisis_signal" for intent in predicted]
        held_log_odds = np.zeros(len(examples.texts))
        held_log_odds[held] = x[held] @ model.weights[:-1, 0] + model.intercept[0]
        for budget in budgets:
            threshold, _, _ = operating_point(examples, chosen["inner_log_odds"], training, budget)
            at_budget[budget][held] = called(examples, held_log_odds, threshold)[held]
    facts = [Facts(text=text, network="x") for text in examples.texts]
    without = IntentClassifier(crisis=None)
    flagged["without detector"] = np.array([i == "crisis_signal" for i in classify_texts(without, facts)])
    trade_off = {}
    for budget, hits in at_budget.items():
        figures = detector_figures(examples, hits)
        trade_off[f"budget {budget:.2f}"] = {
            "recall": figures["recall_mean_over_events"],
            "false_alarm_rate": figures["false_alarm_rate_mean_over_events"],
            "customer_care_false_alarm_rate": figures["customer_care_false_alarm_rate"],
        }
    return {
        "split": "leave one event out: 13 folds, each holding out one disaster (and a 13th of the seed "
        "corpus and of the customer-care conversations); each fold's C and decision threshold chosen on its "
        f"12 training disasters alone ({INNER_FOLDS} inner groups), the threshold for a false-alarm budget "
        f"of {FALSE_ALARM_BUDGET:.0%} on them",
        "detector_c_by_held_out_event": chosen_c,
        "detector_threshold_by_held_out_event": chosen_threshold,
        "trade_off_by_training_budget": trade_off,
        "figures": {name: detector_figures(examples, hits) for name, hits in flagged.items()},
    }


def sentiment_val(shared: Path) -> dict[str, Any]:
    """Macro-averaged recall over negative / neutral / positive on TweetEval's val.tsv: the shipped model,
    and plain VADER (compound score, its authors' ±0.05 thresholds) for comparison."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    val = read_semeval(shared / SEMEVAL / "val.tsv")
    gold = [label for _, label in val]
    model = [label for _, label in shipped_model().score_many([text for text, _ in val])]
    vader = SentimentIntensityAnalyzer()
    plain = [label_for(vader.polarity_scores(text)["compound"]) for text, _ in val]
    return {
        "tweets": len(val),
        "model": macro_recall(gold, model),
        "vader": macro_recall(gold, plain),
        "note": "val.tsv chose the model's C and temperature (routing/data/sentiment_model.json); the "
        "held-out test set is not here",
    }


# --- output ------------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "   -" if value is None else f"{100 * value:5.1f}%"


def _explain(text: str) -> None:
    sys.stdout.write(textwrap.fill(text, width=106, initial_indent="  ", subsequent_indent="  ") + "\n\n")


def print_report(results: dict[str, Any]) -> None:
    out = sys.stdout.write
    sizes = results["split"]
    out(
        f"socialops routing evaluation — {sizes['posts']} labelled posts, seed {results['seed']}: "
        f"{sizes['held_back']} held back (stratified by intent), {sizes['pool']} in the correction pool\n\n"
    )
    held = results["held_back"]
    out("Held-back slice, patterns only (no corrections), engine with no admin rules\n")
    out(f"  {'intent':<18} {'precision':>9} {'recall':>8} {'F1':>8} {'support':>8}\n")
    for intent, s in held["per_intent"].items():
        out(
            f"  {intent:<18} {_pct(s['precision']):>9} {_pct(s['recall']):>8} "
            f"{_pct(s['f1']):>8} {s['support']:>8}\n"
        )
    out(f"  accuracy {_pct(held['accuracy'])}   macro F1 {_pct(held['macro_f1'])}\n")
    mis = held["misdirected"]
    out(
        f"  misdirected detection: precision {_pct(mis['precision'])}, recall {_pct(mis['recall'])} "
        f"({mis['true_positives']} of {mis['labelled']} found, {mis['flagged']} flagged)\n"
    )
    out(f"  owning segment right: {_pct(held['owner_segment_accuracy'])}\n")
    confidence = held["confidence"]
    out(
        f"  confidence: mean {confidence['mean']:.2f}; "
        f"{_pct(confidence['at_or_above_threshold']).strip()} of posts reach the engine's "
        f"{confidence['threshold']:.2f} threshold to be moved "
        f"({_pct(confidence['right_and_at_or_above_threshold']).strip()} right and confident)\n"
    )
    languages = held["language_accuracy"]
    per_language = ", ".join(
        f"{lang} {_pct(v['accuracy']).strip()} ({v['posts']})"
        for lang, v in languages.items()
        if lang not in ("all-en", "non-en", "en")
    )
    out(
        f"  accuracy by language: en {_pct(languages['en']['accuracy']).strip()} "
        f"({languages['en']['posts']}), other languages {_pct(languages['non-en']['accuracy']).strip()} "
        f"({languages['non-en']['posts']}): "
        f"{per_language}\n"
    )
    confusions = sorted(
        ((n, g, p) for g, row in held["confusion"].items() for p, n in row.items() if g != p), reverse=True
    )[:6]
    out("  most frequent confusions (true → predicted): ")
    out("; ".join(f"{g} → {p} {n}" for n, g, p in confusions) + "\n\n")

    for curve in results["learning_curve"]:
        title = (
            "only the posts the classifier got wrong (what agents correct)"
            if curve["mode"] == "errors_only"
            else "every pool post, right or wrong (reference: agents labelling everything)"
        )
        out(
            f"Learning curve, held-back slice; corrections = {title}; mean of {len(curve['orders'])} orders\n"
        )
        out(
            f"  {'step':>5} {'fed':>6} {'reviewed':>9} {'accuracy':>9} {'macro F1':>9} "
            f"{'misdir P':>9} {'misdir R':>9} {'owner ok':>9} {'conf':>5} {'≥thresh':>8}\n"
        )
        for row in curve["steps"]:
            out(
                f"  {row['step']!s:>5} {row['corrections']:>6.0f} {row['posts_reviewed']:>9.0f} "
                f"{_pct(row['accuracy']):>9} {_pct(row['macro_f1']):>9} "
                f"{_pct(row['misdirected_precision']):>9} {_pct(row['misdirected_recall']):>9} "
                f"{_pct(row['owner_segment_accuracy']):>9} {row['confidence_mean']:>5.2f} "
                f"{_pct(row['confident_share']):>8}\n"
            )
        out("\n")

    _print_owners(results)
    _print_crisis_radar(results)
    dev = results["development"]
    if "skipped" in dev:
        out(f"Development data: skipped — {dev['skipped']}\n")
        return
    for name, block in dev.items():
        if name == "tac" and "skipped" not in block:
            counts = block["counts"]
            out(
                f"Tweet Act Classification (general tweets, not customer service): {counts['rows']} rows, "
                f"{counts['unique_texts']} unique texts, {counts['conflicting_dropped']} with conflicting "
                "labels dropped\n"
            )
            for model, figures in block["figures"].items():
                out(
                    f"  {model:<22} QUE → question-type {_pct(figures['QUE']['question_type_share'])}, "
                    f"REQ → question-type {_pct(figures['REQ']['question_type_share'])}; "
                    f"false question rate EXP {_pct(figures['EXP']['question_type_share'])}, "
                    f"STM {_pct(figures['STM']['question_type_share'])}\n"
                )
            _explain(
                "Meaning: share of tweets given a question or request intent (support, purchase, event, "
                "press question). For QUE/REQ higher is better, though many are rhetorical or addressed to "
                "celebrities, so no brand team would own them; for EXP/STM (expressions, statements) it is "
                "the rate at which plain remarks would be treated as questions: lower is better."
            )
        elif name == "crisislex" and "skipped" not in block:
            out(f"CrisisLexT26, development half, {block['split']}\n")
            for model, figures in block["figures"].items():
                out(
                    f"  {model:<17} recall {_pct(figures['recall_mean_over_events'])}, false alarms "
                    f"{_pct(figures['false_alarm_rate_mean_over_events'])} (means over events); "
                    f"customer-care tweets called crisis {_pct(figures['customer_care_false_alarm_rate'])}\n"
                )
            by_event = block["figures"]["with detector"]["by_event"]
            for event, v in by_event.items():
                out(
                    f"    {event:<28} recall {_pct(v['recall'])} of {v['informative']:>4}, "
                    f"false alarms {_pct(v['false_alarm_rate'])} of {v['not_related']:>3}\n"
                )
            _explain(
                "Meaning: recall is the share of informative disaster tweets (caution and advice, affected "
                "people, damaged infrastructure) the classifier calls a crisis signal, on a disaster the "
                "detector was not trained on; they talk about a disaster, not about a brand, so it is a "
                "proxy for how well crisis language is heard. The false alarm rate is the share of tweets "
                "unrelated to the disaster (often ads and chatter sharing its hashtag) called a crisis "
                "signal: each would be an urgent page to the crisis team."
            )
        elif name == "sentiment" and "skipped" not in block:
            out(
                f"Sentiment on TweetEval val.tsv ({block['tweets']} tweets), macro-averaged recall: model "
                f"{_pct(block['model']['macro'])}, plain VADER {_pct(block['vader']['macro'])}\n"
            )
            for name_, figures in (("model", block["model"]), ("VADER", block["vader"])):
                out(
                    f"  {name_:<6} negative {_pct(figures['negative'])}, neutral {_pct(figures['neutral'])}, "
                    f"positive {_pct(figures['positive'])}\n"
                )
            out("\n")
        elif "skipped" in block:
            out(f"{name}: skipped — {block['skipped']}\n")


def _print_crisis_radar(results: dict[str, Any]) -> None:
    out = sys.stdout.write
    radar = results.get("crisis_radar", {})
    if "skipped" in radar:
        out(f"\nCrisis radar replay: skipped ({radar['skipped']})\n")
        return
    out(
        f"\nCrisis radar replay ({results['crisis.events']} events at their real times in a brand's "
        f"traffic of {radar['posts_per_hour']:.0f} posts/h on average; seeds {radar['seeds']}, "
        f"background seeds {radar['background_seeds']} x {radar['background_weeks_per_seed']} weeks)\n"
        f"  events detected {results['crisis.events_detected']}/{results['crisis.events']}; median delay "
        f"{results['crisis.median_delay_min']} min from the first related tweet, "
        f"{results['crisis.median_delay_from_onset_min']} min from the onset; false alarms "
        f"{results['crisis.false_alarms_per_week']} per week over "
        f"{results['crisis.background_weeks']} weeks\n"
    )
    _explain(
        "Delay from the first related tweet counts the hours many events' first tweet stands alone before "
        "the burst; the onset is the first related tweet followed by four more within 30 minutes."
    )


def _print_owners(results: dict[str, Any]) -> None:
    out = sys.stdout.write
    data = results["owners_data"]
    if "skipped" in data:
        out(f"Owner learning: skipped — {data['skipped']}\n\n")
        return
    out(
        f"Owner learning, customer-care posts to {data['owners']} brands (teams), handles masked, split by "
        f"conversation: {data['train_rows']} training rows (as corrections, in time order), "
        f"{data['test_rows']} held out ({data['test_rows_not_naming_brand']} do not name the brand)\n"
    )
    out(f"  {'fed':>5} {'used':>5} {'accuracy':>9} {'no name':>8} {'history':>8} {'no name':>8}\n")
    for point in results["owner_accuracy_curve"]:
        out(
            f"  {point['corrections']:>5} {point['used']:>5} {_pct(point['accuracy']):>9} "
            f"{_pct(point['accuracy_not_naming_brand']):>8} {_pct(point['history_accuracy']):>8} "
            f"{_pct(point['history_accuracy_not_naming_brand']):>8}\n"
        )
    gap = results["one_by_one_vs_batch_gap"]
    out(
        f"  trained after each of {gap['corrections']} corrections vs once on all: accuracy "
        f"{_pct(gap['accuracy_one_by_one']).strip()} vs {_pct(gap['accuracy_batch']).strip()} (gap "
        f"{gap['gap']:.4f}); owner models byte-identical: {gap['owner_dumps_identical']}\n"
    )
    ece = results["ece"]
    out(
        f"  calibration after {ece['corrections']} corrections: ECE {ece['before_calibration']:.4f} before, "
        f"{ece['after_calibration']:.4f} after (temperature {ece['temperature']:.2f}, "
        f"{ece['temperature_how']}; the backtest model trained without the newest {ece['held_back']} "
        f"was right on {_pct(ece['held_back_accuracy']).strip()} of them); "
        f"held-out accuracy {_pct(ece['accuracy']).strip()}\n"
        f"  held-out posts at or above the {ece['threshold']:.2f} threshold to be moved: "
        f"{ece['at_or_above_threshold_before_calibration']} before "
        f"({ece['right_at_or_above_threshold_before_calibration']} right), "
        f"{ece['at_or_above_threshold_after_calibration']} after "
        f"({ece['right_at_or_above_threshold_after_calibration']} right)\n"
    )
    noise = ece["after_calibration_noise"]
    crossed = results["ece_cross_fitted"]
    out(
        f"  ECE {ece['after_calibration']:.4f} on the held-out posts: "
        f"95% bootstrap {noise['bootstrap_low']:.3f}-{noise['bootstrap_high']:.3f}; a perfectly calibrated "
        f"model would show {noise['perfectly_calibrated_mean']:.4f} on as many posts\n"
        f"  cross-fitted over all {crossed['posts']} posts ({crossed['folds']} folds by conversation): ECE "
        f"{crossed['ece']:.4f} (95% bootstrap {crossed['noise']['bootstrap_low']:.3f}-"
        f"{crossed['noise']['bootstrap_high']:.3f}; perfectly calibrated: "
        f"{crossed['noise']['perfectly_calibrated_mean']:.4f}), "
        f"accuracy {_pct(crossed['accuracy']).strip()}\n"
    )
    chance, largest = _pct(data["chance"]).strip(), _pct(data["majority_team_share_of_test"]).strip()
    _explain(
        f"Meaning: the share of held-out posts whose likeliest team is the brand that answered them; chance "
        f"is {chance}, the largest brand alone {largest}. "
        "'no name': held-out posts whose text names neither the brand nor its account, the posts a person "
        "would have to route by what they ask. Each brand owns no intent and the posts arrive on a shared "
        "account, so only the corrections teach the model."
    )


# --- main --------------------------------------------------------------------------------------------------


def development(shared: Path, classifiers: dict[str, IntentClassifier]) -> dict[str, Any]:
    if not shared.is_dir():
        return {"skipped": f"{shared} not found (pass --shared DIR)"}
    results: dict[str, Any] = {}
    tac_dir = shared / "tweet_acts_tac"
    if (tac_dir / "TWEET_DATA.csv").is_file():
        tac, counts = read_tac(tac_dir)
        results["tac"] = {
            "counts": counts,
            "figures": {name: tac_figures(c, tac) for name, c in classifiers.items()},
        }
    else:
        results["tac"] = {"skipped": f"{tac_dir / 'TWEET_DATA.csv'} not found"}
    if (shared / CRISISLEX).is_dir() and (shared / CUSTOMER_CARE / "posts.tsv").is_file():
        results["crisislex"] = crisis_leave_events_out(shared)
    else:
        results["crisislex"] = {"skipped": f"{shared / CRISISLEX} or {shared / CUSTOMER_CARE} not found"}
    if (shared / SEMEVAL / "val.tsv").is_file():
        results["sentiment"] = sentiment_val(shared)
    else:
        results["sentiment"] = {"skipped": f"{shared / SEMEVAL / 'val.tsv'} not found"}
    if (shared / CUSTOMER_CARE / "posts.tsv").is_file():
        from bench.eval_owners import owner_figures  # needs Django's apps (routing.learning), set up in main

        results["owners"] = owner_figures(shared)
    else:
        results["owners"] = {"skipped": f"{shared / CUSTOMER_CARE / 'posts.tsv'} not found"}
    return results


def headline(development_figures: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue tracks, at the top of the file (None when their data was not there)."""
    crisis_block = development_figures.get("crisislex", {}).get("figures", {}).get("with detector", {})
    sentiment_block = development_figures.get("sentiment", {})
    return {
        "sentiment_val_macro_recall": sentiment_block.get("model", {}).get("macro"),
        "sentiment_val_macro_recall_vader": sentiment_block.get("vader", {}).get("macro"),
        "crisis_recall": crisis_block.get("recall_mean_over_events"),
        "crisis_false_alarm_rate": crisis_block.get("false_alarm_rate_mean_over_events"),
        "crisis_split": "by event: leave one event out over the 13 CrisisLexT26 development events; each "
        "fold's detector is trained without the event it is scored on, and both figures are means over the "
        "13 held-out events (development.crisislex.figures['with detector'].by_event). Each fold's C was "
        "chosen on its 12 training events alone (nested: routing.training.crisis.train_detector), and so was "
        "its decision threshold: the lowest at which the classifier's false alarms on the unrelated tweets "
        "of those 12 events, each scored by a detector trained without it, stay within 5%.",
    }


def crisis_radar(shared: Path, *, skip: bool = False) -> dict[str, Any]:
    """The crisis radar's replay (``python manage.py crisis_replay``, ``crisis.replay``): the 13 development
    events at their real times in a brand's background traffic, through the live detector. Its headline
    keys (``crisis.events_detected``, ``crisis.median_delay_min``, ``crisis.false_alarms_per_week`` ...) go to
    the top of the file, its rows under ``crisis_radar``."""
    folder = shared / CRISISLEX
    if skip:
        return {"crisis_radar": {"skipped": "--skip-crisis-radar"}}
    if not folder.is_dir() or not (shared / SEMEVAL / "train.tsv").is_file():
        return {"crisis_radar": {"skipped": f"{folder} or {shared / SEMEVAL / 'train.tsv'} not found"}}
    from crisis.management.commands.crisis_replay import replay_figures  # Django's apps are set up in main

    figures = replay_figures(events_dir=folder, shared=shared, progress=lambda line: print("  " + line))
    return {
        **{k: v for k, v in figures.items() if k != "crisis.replay"},
        "crisis_radar": figures["crisis.replay"],
    }


def owner_headline(owners: dict[str, Any]) -> dict[str, Any]:
    """The owner-learning figures the issue tracks (None when their data was not there), and how they were
    made."""
    return {
        "owner_accuracy_curve": owners.get("owner_accuracy_curve"),
        "one_by_one_vs_batch_gap": owners.get("one_by_one_vs_batch_gap"),
        "ece": owners.get("ece"),
        "ece_cross_fitted": owners.get("ece_cross_fitted"),
        "owners_data": owners.get("owners_data") or owners,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.eval", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="split and pool-order seed")
    parser.add_argument("--test-share", type=float, default=0.4, help="share held back, per intent")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder of development data")
    parser.add_argument("--data", type=Path, default=DATA, help="labelled set (JSON lines)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the figures")
    parser.add_argument(
        "--skip-crisis-radar", action="store_true", help="leave out the crisis radar's replay (minutes long)"
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialops.settings")
    import django
    from threadpoolctl import threadpool_limits

    django.setup()  # routing.learning reads its models' modules; no database is opened
    with threadpool_limits(limits=1, user_api="blas"):
        return _run(args)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    posts = load_posts(args.data)
    test, pool = split(posts, args.seed, args.test_share)
    rule_set = routing_rule_set()
    held_back = evaluate(IntentClassifier(), test, rule_set)
    orders = [args.seed * 1000 + n for n in range(1, CURVE_ORDERS + 1)]
    errors_curve, corrected = learning_curve(pool, test, rule_set, orders, errors_only=True)
    every_curve, _ = learning_curve(pool, test, rule_set, orders, errors_only=False)

    classifiers = {"patterns only": IntentClassifier(), "after all corrections": corrected}
    development_figures = development(args.shared, classifiers)
    owners = development_figures.pop("owners", {})
    sys.stdout.write("Crisis radar replay (crisis.replay):\n")
    radar = crisis_radar(args.shared, skip=args.skip_crisis_radar)
    results = {
        **headline(development_figures),
        **owner_headline(owners),
        **radar,
        "seed": args.seed,
        "data": str(args.data.relative_to(REPO) if args.data.is_relative_to(REPO) else args.data),
        "split": {
            "posts": len(posts),
            "held_back": len(test),
            "pool": len(pool),
            "test_share": args.test_share,
            "stratified_by": "intent",
            "held_back_by_intent": dict(Counter(p.intent for p in test)),
            "pool_by_intent": dict(Counter(p.intent for p in pool)),
        },
        "held_back": held_back,
        "learning_curve": [errors_curve, every_curve],
        "development": development_figures,
        "notes": {
            "corrections": "errors_only feeds, in pool order, only posts whose predicted intent was wrong "
            "(what agents correct); every_post feeds every pool post (a reference).",
            "after all corrections": "the first pool order's classifier after the errors_only curve's "
            "last step",
            "team slugs": "each segment is owned by a team with the segment's slug; no admin rules",
        },
    }
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_report(results)
    sys.stdout.write(f"Figures written to {args.out}; {time.perf_counter() - started:.1f} s\n")
    return results


if __name__ == "__main__":
    main()
