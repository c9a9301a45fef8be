"""routing.*: the pure decision engine over 1,000 rules, next to the naive one-rule-at-a-time evaluation.

- ``decide_per_s_1000_rules``: ``decide`` per second on one core, posts already classified (so the engine
  is measured alone), over a realistic 1,000-rule set (``bench/routing_rules.py``).
  The engine memoises decision outcomes per (rules fired, post profile) — never per post — so this is the
  steady state of a running worker, whose memo has seen those profiles.
- ``decide_per_s_1000_rules_cold``: the same, one pass over the posts with a freshly compiled rule set
  (empty memo): the worst case, right after a rule change.
- ``decide_speedup_vs_naive``: the compiled rule set over ``NaiveRuleSet`` (every rule in turn, each text
  condition one regular expression), timed on the same posts in the same run; their decisions must agree.
- ``classify_decide_per_s``: fresh classification of every post (``classify_many`` in batches of 500: the
  patterns, the seed-trained intent model, the sentiment model and the crisis detector), then ``decide``
  with an owner model (``routing.owners``, trained on 5,000 examples over the benchmark's teams, as a trained
  installation decides): what routing costs a post end to end, without the database.
  ``classify_decide_per_s_no_owner_model``: the same without it (a fresh install), the two measured in
  turn; ``owner_model_cost_ratio``: each pair's rate with the owner model over the rate without.
- ``retrain_50k_s``: ``routing.learning.models_fit`` (the intent model from the corrections that name an
  intent, then the owner model from every example) on 50,000 examples from benchmark posts: three in four
  handled posts, one in four a correction naming its intent, each owned by the team the intent map names or,
  for intents nobody owns, the receiving team. ``retrain_50k_s_blas_one_thread``: the same with the BLAS
  thread pool limited to one thread (L-BFGS's vector operations are small; threads mostly contend).
- ``load_average_1m``: the machine's load average when the measures began (other processes' work slows
  every rate here).
- ``models_train_s``: what ``make models`` takes to train the sentiment model and the crisis detector from
  ``../shared/data`` (into a temporary folder); ``models_reproducible``: the files it wrote are byte for byte
  the committed ones in ``routing/data/``. Skipped with ``--quick`` or without the data.

No database: the posts come straight from the simulated network's generator.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bench.__main__ import Report
from bench.routing_rules import bench_context, bench_posts, bench_rules

RULES = 1000
POSTS = 20_000
NAIVE_POSTS = 1_000  # the naive evaluation runs ~100x slower; a thousand posts give a stable rate
SAMPLES = 7
CLASSIFY_BATCH = 500  # the batch the routing task classifies at once
RETRAIN_EXAMPLES = 50_000
OWNER_MODEL_EXAMPLES = 5_000  # what the owner model in classify_decide_per_s was trained on
EXAMPLES_SEED = 23  # other posts than the ones decided
CORRECTION_EVERY = 4  # one example in four is a correction, the rest handled posts


def run(report: Report, *, quick: bool = False) -> None:
    from routing.engine import decide, decide_many
    from routing.rules import compile_naive_rule_set, compile_rule_set

    # Other work on the machine slows every figure here: say how busy it was.
    report("load_average_1m", round(os.getloadavg()[0], 2))
    posts_count = 4_000 if quick else POSTS
    samples = 3 if quick else SAMPLES
    naive_count = 300 if quick else NAIVE_POSTS
    rules = bench_rules(RULES)
    context = bench_context()
    started = time.perf_counter()
    compiled = compile_rule_set(rules, context, version=1)
    print(
        f"    compiled {len(compiled)} rules, {compiled.terms} terms in {time.perf_counter() - started:.2f}s"
    )
    naive = compile_naive_rule_set(rules, context, version=1)
    posts = bench_posts(posts_count)
    naive_posts = posts[:naive_count]

    # Same decisions, or the figures mean nothing.
    expected = [decide(facts, naive, _NoClassifier()) for facts in naive_posts]
    actual = [decide(facts, compiled, _NoClassifier()) for facts in naive_posts]
    assert actual == expected, "compiled and naive rule sets disagree"
    fired = sum(len(d.rules_fired) for d in actual) / len(actual)
    misdirected = sum(d.is_misdirected for d in actual) / len(actual)
    print(f"    {fired:.2f} rules fire per post; {misdirected:.0%} misdirected", flush=True)

    _decide_rate(
        decide, posts, compiled
    )  # warm up, as a running worker is: post profiles seen, code specialised
    rates: list[float] = []
    speedups: list[float] = []
    for sample in range(samples):
        rate = _decide_rate(decide, posts, compiled)
        rates.append(rate)
        if sample < 3:  # the naive pass is slow; three paired samples are enough for the ratio
            compiled_rate = _decide_rate(decide, naive_posts, compiled)
            naive_rate = _decide_rate(decide, naive_posts, naive)
            speedups.append(compiled_rate / naive_rate)
            print(f"    sample {sample}: {rate:.0f}/s, naive {naive_rate:.0f}/s", flush=True)
        else:
            print(f"    sample {sample}: {rate:.0f}/s", flush=True)
    report("decide_per_s_1000_rules", rates)
    report("decide_speedup_vs_naive", speedups)
    cold: list[float] = []
    for _ in range(3):
        fresh = compile_rule_set(rules, context, version=1)
        cold.append(_decide_rate(decide, posts, fresh))
    report("decide_per_s_1000_rules_cold", cold)

    try:
        from routing.classifier import IntentClassifier
    except ImportError:
        print("    routing.classifier is not there yet: classify_decide_per_s skipped")
        return
    from routing.learning import models_fit

    examples = owner_examples(RETRAIN_EXAMPLES // 5 if quick else RETRAIN_EXAMPLES, compiled)
    owner_model = models_fit(
        examples[:OWNER_MODEL_EXAMPLES], intent_teams=compiled.intent_teams, teams=compiled.teams, version=1
    ).owner
    unclassified = [replace(facts, classification=None) for facts in posts]
    with_owner, without_owner = IntentClassifier(), IntentClassifier()
    with_owner.owner_model = owner_model
    rates: dict[str, list[float]] = {"classify_decide_per_s": [], "classify_decide_per_s_no_owner_model": []}
    # The two alternate, so that other work on the machine weighs on both alike.
    for _ in range(3 if quick else 5):
        for name, classifier in zip(rates, (with_owner, without_owner), strict=True):
            started = time.perf_counter()
            for start in range(0, len(unclassified), CLASSIFY_BATCH):
                decide_many(unclassified[start : start + CLASSIFY_BATCH], compiled, classifier)
            rates[name].append(len(unclassified) / (time.perf_counter() - started))
    for name, samples in rates.items():
        report(name, samples)
    report(
        "owner_model_cost_ratio",
        [owned / plain for owned, plain in zip(*rates.values(), strict=True)],
    )
    _retrain(report, examples, compiled)
    if not quick:
        _train_models(report)


def owner_examples(count: int, rule_set) -> list:
    """``count`` examples of who owns what, from benchmark posts: the team the intent map names for the
    post's intent (its receiving team when nobody owns the intent); every CORRECTION_EVERY-th one a
    correction naming the intent, the others posts the team handled. Deterministic."""
    from routing.learning import Example
    from routing.owners import CORRECTION_WEIGHT, HISTORY_WEIGHT, OwnerExample

    examples = []
    for position, facts in enumerate(bench_posts(count, seed=EXAMPLES_SEED)):
        intent = facts.classification.intent
        team = rule_set.intent_teams.get(intent) or facts.team
        correction = position % CORRECTION_EVERY == CORRECTION_EVERY - 1
        owner = OwnerExample(
            facts.text,
            facts.team,
            team,
            CORRECTION_WEIGHT if correction else HISTORY_WEIGHT,
            correction=correction,
            key=(1 if correction else 0, position),
        )
        at = facts.created_at + timedelta(seconds=position)
        examples.append(Example(owner, at, intent if correction else ""))
    return examples


def _retrain(report, examples, rule_set) -> None:
    from threadpoolctl import threadpool_limits

    from routing.learning import models_fit

    for name, limit in (("retrain_50k_s", None), ("retrain_50k_s_blas_one_thread", 1)):
        with threadpool_limits(limits=limit, user_api="blas"):
            started = time.perf_counter()
            trained = models_fit(
                examples, intent_teams=rule_set.intent_teams, teams=rule_set.teams, version=2
            )
            seconds = time.perf_counter() - started
        print(
            f"    {name}: {len(examples)} examples, {len(trained.owner.classes)} teams, "
            f"{len(trained.owner.columns)} word columns: {seconds:.1f}s",
            flush=True,
        )
        report(name, seconds)


def _train_models(report) -> None:
    from routing import textfeatures
    from routing.training.__main__ import build
    from routing.training.data import SHARED

    if not SHARED.is_dir():
        print(f"    {SHARED} not found: models_train_s skipped")
        return
    with tempfile.TemporaryDirectory() as out:
        seconds = build(SHARED, Path(out))
        same = all(
            (Path(out) / name).read_bytes() == (textfeatures.DATA / name).read_bytes()
            for name in (
                "sentiment_model.npz",
                "sentiment_model.json",
                "crisis_model.npz",
                "crisis_model.json",
            )
        )
    report("models_train_s", sum(seconds.values()))
    report("models_reproducible", same)


def _decide_rate(decide, posts, rule_set) -> float:
    classifier = _NoClassifier()
    started = time.perf_counter()
    for facts in posts:
        decide(facts, rule_set, classifier)
    return len(posts) / (time.perf_counter() - started)


class _NoClassifier:
    """The posts carry their classification; asking the classifier would be a benchmark bug."""

    version = 0

    def classify(self, facts):
        raise AssertionError("post without a classification")

    def classify_many(self, facts):
        raise AssertionError("posts without a classification")
