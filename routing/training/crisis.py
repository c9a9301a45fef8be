"""Train the crisis detector (``routing.crisis``) and measure it on disasters it never saw.

Examples (see ``routing.crisis`` for why each source is there):

* CrisisLexT26 development half: related-and-informative tweets are crisis talk, "Not related" ones are
  not; "Related - but not informative" (prayers, jokes, opinions about the disaster) and "Not applicable"
  (no majority) are left out: they are neither what a crisis team must hear nor chatter it must not;
* the seed corpus: crisis-signal posts against every other intent;
* customer-care tweets: not crisis talk, except those the crisis patterns call a crisis by a strong term
  (an outage, a hack): left out, for the patterns to judge.

scikit-learn's ``LogisticRegression`` (liblinear, L2, fixed seed). Examples are weighted so that, within the
disaster tweets and within the brand posts (seed corpus and customer care) apart, crisis and not crisis
weigh the same: the few brand crises (outages, hazards, breaches) count as much as the many complaints, and
the unrelated tweets of a disaster's stream as much as its informative ones.

**Split by event.** ``train_detector`` trains one detector on some of the examples and chooses its C and its
decision threshold on them alone: their disasters are dealt, in name order, into ``INNER_FOLDS`` groups
(brand posts by their fold), and each group is scored by a model trained on the others. For each C of
``C_GRID``, the threshold is the lowest at which the classifier (patterns, seed model and detector, exactly
as ``routing.classifier`` decides) calls at most ``routing.crisis.FALSE_ALARM_BUDGET`` of those disasters'
unrelated tweets a crisis signal (mean over the disasters); C is the one whose threshold leaves the best
mean recall over them. The detector is then trained on all of them with that C and carries that threshold.
``make models`` calls it on every example; ``make eval`` calls it once per disaster on everything else
(fold k holds out the k-th disaster plus a k-th share of the seed corpus and of the customer-care
conversations), so no choice made for a scored disaster has seen it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, sparse
from sklearn.linear_model import LogisticRegression

from routing import crisis, textfeatures
from routing.classifier import CRISIS_WEIGHT, IntentClassifier, crisis_evidence, read_seed_corpus
from routing.facts import INTENTS, Facts
from routing.lexicons import STRONG, intent_hits
from routing.textfeatures import LinearTextModel
from routing.training.data import (
    CRISIS_TYPES,
    CRISISLEX,
    CUSTOMER_CARE,
    INFORMATIVE,
    NOT_RELATED,
    read_crisislex,
    read_customer_care,
)

C_GRID = (1.0, 3.0, 10.0, 30.0)
# Decision thresholds tried (log-odds), lowest first: the first that keeps within the false-alarm budget wins.
THRESHOLDS = np.round(np.arange(-3.0, 8.0001, 0.05), 2)
# Groups of training disasters that choose C: `make eval` chooses again for each of 13 held-out disasters,
# and 3 groups keep that to about a minute (12 groups of one disaster cost four times as much).
INNER_FOLDS = 3
LICENCE = (
    "Trained on CrisisLexT26 (Olteanu, Vieweg & Castillo, CSCW 2015; MIT licence), our seed corpus, and "
    "customer-care tweets from IBM's Twitter CDP data (Ganhotra et al., EMNLP 2020; Apache 2.0). See "
    "routing/data/README.md."
)


@dataclass(frozen=True)
class Examples:
    texts: list[str]
    labels: np.ndarray  # 1 crisis talk, 0 not
    source: np.ndarray  # "crisislex" | "seed" | "care"
    event: np.ndarray  # the disaster of a CrisisLex tweet, "" otherwise
    informative_type: np.ndarray  # CrisisLex "Information Type" of informative tweets, "" otherwise
    fold: np.ndarray  # leave-one-event-out fold of each example
    events: tuple[str, ...]
    intents: np.ndarray  # the seed corpus intent, "" otherwise
    weights: np.ndarray  # crisis and not crisis weigh the same within disaster tweets and within brand posts
    # What the classifier says without the detector (``decision_inputs``): the crisis-signal logit less the
    # best other intent's, and whether a strong pattern reports an incident (the detector may not overrule).
    margin: np.ndarray
    floor: np.ndarray


def _strong_crisis_term(text: str) -> bool:
    hits = intent_hits(text.lower())[INTENTS.index("crisis_signal")]
    return any(weight >= STRONG for _, weight in hits)


def crisis_examples(shared: Path) -> Examples:
    """Every training example with its fold, in a fixed order."""
    tweets = [
        t for t in read_crisislex(shared / CRISISLEX) if t.informativeness in (INFORMATIVE, NOT_RELATED)
    ]
    events = tuple(sorted({t.event for t in tweets}))
    folds = len(events)
    texts, labels, source, event, kind, fold, intents = [], [], [], [], [], [], []
    for tweet in tweets:
        texts.append(tweet.text)
        labels.append(int(tweet.informativeness == INFORMATIVE))
        source.append("crisislex")
        event.append(tweet.event)
        kind.append(tweet.type if tweet.informativeness == INFORMATIVE else "")  # informative ones
        fold.append(events.index(tweet.event))
        intents.append("")
    for index, (text, intent) in enumerate(read_seed_corpus()):
        texts.append(text)
        labels.append(int(intent == "crisis_signal"))
        source.append("seed")
        event.append("")
        kind.append("")
        fold.append(index % folds)
        intents.append(intent)
    for post in read_customer_care(shared / CUSTOMER_CARE / "posts.tsv"):
        if _strong_crisis_term(post.text):
            continue
        texts.append(post.text)
        labels.append(0)
        source.append("care")
        event.append("")
        kind.append("")
        fold.append(post.fold_key % folds)
        intents.append("")
    margin, floor = decision_inputs(texts)
    labels_array, source_array = np.array(labels), np.array(source)
    weights = np.zeros(len(texts))
    for group in (source_array == "crisislex", source_array != "crisislex"):
        for label in (0, 1):
            rows = group & (labels_array == label)
            weights[rows] = group.sum() / (2 * rows.sum())
    return Examples(
        weights=weights,
        texts=texts,
        labels=np.array(labels),
        source=np.array(source),
        event=np.array(event),
        informative_type=np.array(kind),
        fold=np.array(fold),
        events=events,
        intents=np.array(intents),
        margin=margin,
        floor=floor,
    )


def decision_inputs(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per text: the crisis-signal logit less the best other intent's from the classifier without a detector,
    and whether a strong pattern reports an incident (``routing.classifier.crisis_evidence`` floors these).
    With a detector, the classifier calls a post a crisis signal exactly when
    ``margin + CRISIS_WEIGHT * evidence > 0`` (``called``)."""
    classifier = IntentClassifier(crisis=None)
    column = INTENTS.index("crisis_signal")
    margin = np.zeros(len(texts))
    floor = np.zeros(len(texts), dtype=bool)
    for start in range(0, len(texts), 500):
        chunk = list(texts[start : start + 500])
        results = classifier.classify_many([Facts(text=text, network="x") for text in chunk])
        for offset, (text, result) in enumerate(zip(chunk, results, strict=True)):
            scores = dict(result.scores)
            log_p = np.log(np.maximum([scores[intent] for intent in INTENTS], 1e-300))
            margin[start + offset] = log_p[column] - np.delete(log_p, column).max()
            lower = text.lower()
            floored = crisis_evidence(np.array([-1.0]), 0.0, [lower], [intent_hits(lower)])
            floor[start + offset] = floored[0] == 0.0
    return margin, floor


def called(examples: Examples, log_odds: np.ndarray, threshold: float) -> np.ndarray:
    """Which examples the classifier calls a crisis signal, given the detector's log-odds and threshold."""
    evidence = np.where(examples.floor, np.maximum(log_odds - threshold, 0.0), log_odds - threshold)
    return examples.margin + CRISIS_WEIGHT * evidence > 0


def fit(x: sparse.csr_matrix, y: np.ndarray, c: float, weights: np.ndarray) -> LinearTextModel:
    """One detector on rows ``x`` (``textfeatures.rows(...).matrix()``), weights stored as float32."""
    model = LogisticRegression(C=c, solver="liblinear", random_state=0).fit(x, y, sample_weight=weights)
    return LinearTextModel(
        weights=model.coef_.T.astype(np.float32).astype(np.float64),
        intercept=model.intercept_.astype(np.float64),
        classes=crisis.CLASSES,
        spec={
            "model": "crisis",
            "features_version": textfeatures.FEATURES_VERSION,
            "n_features": textfeatures.N_FEATURES,
            "classes": list(crisis.CLASSES),
        },
    )


def out_of_fold(examples: Examples, c: float, batch: textfeatures.Rows | None = None) -> np.ndarray:
    """Each example's log-odds from the model of the fold that held it out (its event's fold)."""
    batch = batch if batch is not None else textfeatures.rows(examples.texts)
    x = batch.matrix()
    log_odds = np.zeros(len(examples.texts))
    for k in range(len(examples.events)):
        held = examples.fold == k
        detector = crisis.CrisisDetector(fit(x[~held], examples.labels[~held], c, examples.weights[~held]))
        log_odds[held] = detector.log_odds(_subset(batch, np.flatnonzero(held)))
    return log_odds


def _subset(batch: textfeatures.Rows, rows: np.ndarray) -> textfeatures.Rows:
    ends = np.append(batch.starts[1:], len(batch.flat))
    pieces = [batch.flat[batch.starts[r] : ends[r]] for r in rows]
    lengths = np.array([len(p) for p in pieces], dtype=np.intp)
    return textfeatures.Rows(
        flat=np.concatenate(pieces) if pieces else np.zeros(0, np.intp),
        starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp),
        scale=batch.scale[rows],
        n_features=batch.n_features,
    )


def detector_figures(examples: Examples, flagged: Sequence[bool]) -> dict:
    """Recall on related-and-informative tweets of the crisis types (``CRISIS_TYPES``), false alarms on
    unrelated ones, per held-out event and their mean; and false alarms on the held-out customer-care tweets
    and seed complaints."""
    flagged = np.asarray(flagged, dtype=bool)
    per_event = {}
    for event in examples.events:
        mine = examples.event == event
        informative = mine & np.isin(examples.informative_type, CRISIS_TYPES)
        unrelated = mine & (examples.labels == 0)
        per_event[event] = {
            "informative": int(informative.sum()),
            "recall": round(float(flagged[informative].mean()), 4) if informative.any() else None,
            "not_related": int(unrelated.sum()),
            "false_alarm_rate": round(float(flagged[unrelated].mean()), 4) if unrelated.any() else None,
        }
    recalls = [v["recall"] for v in per_event.values() if v["recall"] is not None]
    alarms = [v["false_alarm_rate"] for v in per_event.values() if v["false_alarm_rate"] is not None]
    care = examples.source == "care"
    complaints = examples.intents == "complaint"
    return {
        "recall_mean_over_events": round(float(np.mean(recalls)), 4),
        "false_alarm_rate_mean_over_events": round(float(np.mean(alarms)), 4),
        "customer_care_false_alarm_rate": round(float(flagged[care].mean()), 4),
        "seed_complaint_false_alarm_rate": round(float(flagged[complaints].mean()), 4),
        "by_event": per_event,
    }


def _inner_folds(examples: Examples, rows: np.ndarray) -> np.ndarray:
    """Groups of ``rows`` (a boolean mask) for choosing C: their disasters dealt in name order, brand posts by
    their fold; -1 outside ``rows``."""
    inner = examples.fold % INNER_FOLDS
    present = [e for e in examples.events if (rows & (examples.event == e)).any()]
    for index, event in enumerate(present):
        inner = np.where(examples.event == event, index % INNER_FOLDS, inner)
    return np.where(rows, inner, -1)


def _called_below(examples: Examples, log_odds: np.ndarray) -> np.ndarray:
    """Per example, the threshold below which ``called`` calls it a crisis signal (inf: at any threshold)."""
    below = log_odds + examples.margin / CRISIS_WEIGHT
    return np.where(examples.floor & (examples.margin > 0), np.inf, below)


def operating_point(
    examples: Examples, log_odds: np.ndarray, rows: np.ndarray, budget: float = crisis.FALSE_ALARM_BUDGET
) -> tuple[float, float, float]:
    """The lowest threshold of ``THRESHOLDS`` at which the classifier's mean false-alarm rate over the
    disasters of ``rows`` is within ``budget``, given out-of-fold ``log_odds``; and the mean recall and
    false alarms over those disasters there (the highest threshold if none is within the budget)."""
    below = _called_below(examples, log_odds)
    recalls, alarms = [], []
    for event in examples.events:
        mine = rows & (examples.event == event)
        informative = mine & np.isin(examples.informative_type, CRISIS_TYPES)
        unrelated = mine & (examples.labels == 0)
        if informative.any() and unrelated.any():
            recalls.append((below[informative][:, None] > THRESHOLDS).mean(axis=0))
            alarms.append((below[unrelated][:, None] > THRESHOLDS).mean(axis=0))
    recall, alarm = np.mean(recalls, axis=0), np.mean(alarms, axis=0)
    within = np.flatnonzero(alarm <= budget)
    index = int(within[0]) if len(within) else len(THRESHOLDS) - 1
    return float(THRESHOLDS[index]), float(recall[index]), float(alarm[index])


def train_detector(
    examples: Examples, x: sparse.csr_matrix, rows: np.ndarray
) -> tuple[LinearTextModel, dict]:
    """A detector trained on ``rows`` (a boolean mask) only, its C and decision threshold chosen on them
    alone (see the module docstring); and the choice: C, threshold, the inner recall and false alarms of
    each C at its threshold, and the inner log-odds at the chosen C."""
    inner = _inner_folds(examples, rows)
    grid: dict[str, dict] = {}
    best: tuple[float, float, float, np.ndarray] | None = None
    for c in C_GRID:
        log_odds = np.zeros(len(examples.texts))
        for k in range(INNER_FOLDS):
            held, train = inner == k, rows & (inner != k)
            model = fit(x[train], examples.labels[train], c, examples.weights[train])
            log_odds[held] = x[held] @ model.weights[:-1, 0] + model.intercept[0]
        threshold, recall, alarms = operating_point(examples, log_odds, rows)
        grid[str(c)] = {
            "threshold": threshold,
            "recall": round(recall, 4),
            "false_alarm_rate": round(alarms, 4),
        }
        if best is None or recall > best[0]:
            best = (recall, c, threshold, log_odds)
    assert best is not None
    _, c, threshold, log_odds = best
    model = fit(x[rows], examples.labels[rows], c, examples.weights[rows])
    model.spec["decision_threshold"] = threshold
    return model, {"c": c, "threshold": threshold, "grid": grid, "inner_log_odds": log_odds}


def train_crisis(shared: Path) -> tuple[LinearTextModel, dict]:
    """The detector trained on every example, C and decision threshold chosen on the 13 disasters in
    ``INNER_FOLDS`` groups (``train_detector``)."""
    examples = crisis_examples(shared)
    x = textfeatures.rows(examples.texts).matrix()
    model, chosen = train_detector(examples, x, np.ones(len(examples.texts), dtype=bool))
    model.spec.update(
        {
            "learner": f"sklearn LogisticRegression(C={chosen['c']}, solver='liblinear'), sample weights: "
            "classes balanced within disaster tweets and within brand posts",
            "decision_threshold_rule": "the lowest log-odds at which the classifier calls at most "
            f"{crisis.FALSE_ALARM_BUDGET:.0%} of the unrelated tweets a crisis signal (mean over the "
            f"disasters, each scored by a detector trained without it, {INNER_FOLDS} groups)",
            f"c_grid_at_the_threshold_{INNER_FOLDS}_groups_of_events": chosen["grid"],
            "examples": {
                source: int((examples.source == source).sum()) for source in ("crisislex", "seed", "care")
            },
            "crisis_examples": int(examples.labels.sum()),
            f"leave_events_out_{INNER_FOLDS}_groups_classifier": detector_figures(
                examples, called(examples, chosen["inner_log_odds"], chosen["threshold"])
            ),
            "licence": LICENCE,
        }
    )
    return model, model.spec


def fit_crisis_weight(shared: Path, c: float) -> dict:
    """The weight of the detector's log-odds in the intent blend (``routing.classifier.CRISIS_WEIGHT``) that
    maximises the likelihood of crisis / not crisis, classes weighted equally, on the CrisisLex and
    customer-care examples (text the intent model never saw), each scored by the detector of the fold that
    held it out. The seed corpus is left out: the intent model was trained on it."""
    examples = crisis_examples(shared)
    log_odds = out_of_fold(examples, c)
    unseen = np.flatnonzero(examples.source != "seed")
    classifier = IntentClassifier(crisis=None)
    log_p = []
    for start in range(0, len(unseen), 500):
        chunk = [Facts(text=examples.texts[i], network="x") for i in unseen[start : start + 500]]
        for result in classifier.classify_many(chunk):
            scores = dict(result.scores)
            log_p.append([np.log(max(scores[intent], 1e-300)) for intent in INTENTS])
    base = np.array(log_p)
    labels = examples.labels[unseen]
    hits = [intent_hits(examples.texts[i].lower()) for i in unseen]
    odds = crisis_evidence(log_odds[unseen], 0.0, [examples.texts[i].lower() for i in unseen], hits)
    column = INTENTS.index("crisis_signal")

    def nll(weight: float) -> float:
        logits = base.copy()
        logits[:, column] += weight * odds
        logits -= logits.max(axis=1, keepdims=True)
        log_crisis = logits[:, column] - np.log(np.exp(logits).sum(axis=1))
        log_rest = np.log1p(-np.minimum(np.exp(log_crisis), 1 - 1e-12))
        return -float((log_crisis[labels == 1].mean() + log_rest[labels == 0].mean()) / 2)

    weight = float(optimize.minimize_scalar(nll, bounds=(0.0, 5.0), method="bounded").x)
    return {"crisis_weight": round(weight, 3), "balanced_nll": round(nll(weight), 4), "nll_at_0": nll(0.0)}
