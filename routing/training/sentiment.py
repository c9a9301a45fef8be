"""Train the sentiment model on SemEval tweets (``train.tsv``), choose and calibrate it on ``val.tsv``.

scikit-learn's ``LinearSVC`` (one weight column per label against the others, classes weighted by their
inverse frequency: negative tweets are 16% of the data and the official metric, macro-averaged recall,
counts each label equally) over ``routing.textfeatures``. The penalty C is the one of ``C_GRID`` with the
best macro recall on ``val.tsv``; the temperature that turns scores into probabilities is the one that
maximises the likelihood of ``val.tsv``'s labels (it changes no label). Deterministic: liblinear with a
fixed seed. VADER's score is a feature of posts with a negation or a "but" only (``routing.textfeatures``):
on every post it would cost more than the whole model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import optimize
from sklearn.svm import LinearSVC

from routing import sentiment, textfeatures
from routing.textfeatures import LinearTextModel, softmax
from routing.training.data import read_semeval

C_GRID = (0.1, 0.2, 0.3)
LICENCE = (
    "Trained on SemEval-2013..2016 Task 4 subtask A tweets (Rosenthal, Farra & Nakov, SemEval-2017 Task 4; "
    "CC BY 3.0) and tuned on the TweetEval sentiment validation split (Barbieri et al., Findings of EMNLP "
    "2020). See routing/data/README.md."
)


def macro_recall(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Recall of each label and their unweighted mean (the SemEval/TweetEval metric)."""
    figures = {}
    for label in sentiment.LABELS:
        rows = [p for g, p in zip(gold, predicted, strict=True) if g == label]
        figures[label] = round(sum(p == label for p in rows) / len(rows), 4) if rows else 0.0
    figures["macro"] = round(sum(figures[label] for label in sentiment.LABELS) / len(sentiment.LABELS), 4)
    return figures


def _rounded(model: LinearSVC, spec: dict) -> LinearTextModel:
    """The model as it will be read back: weights stored as float32."""
    return LinearTextModel(
        weights=model.coef_.T.astype(np.float32).astype(np.float64),
        intercept=model.intercept_.astype(np.float64),
        classes=tuple(str(c) for c in model.classes_),
        spec=spec,
    )


def train_sentiment(folder: Path) -> tuple[LinearTextModel, dict]:
    """The sentiment model and its figures, from ``folder``'s train.tsv and val.tsv."""
    train = read_semeval(folder / "train.tsv")
    val = read_semeval(folder / "val.tsv")
    x = textfeatures.rows([text for text, _ in train]).matrix()
    y = np.array([label for _, label in train])
    val_rows = textfeatures.rows([text for text, _ in val])
    val_gold = [label for _, label in val]
    spec = {
        "model": "sentiment",
        "features_version": textfeatures.FEATURES_VERSION,
        "n_features": textfeatures.N_FEATURES,
        "classes": list(sentiment.LABELS),
    }
    best: tuple[float, float, LinearTextModel] | None = None
    grid = {}
    for c in C_GRID:
        fitted = LinearSVC(C=c, class_weight="balanced", random_state=0, max_iter=5000).fit(x, y)
        candidate = _rounded(fitted, spec)
        predicted = [sentiment.LABELS[i] for i in candidate.logits(val_rows).argmax(axis=1)]
        score = macro_recall(val_gold, predicted)["macro"]
        grid[str(c)] = score
        if best is None or score > best[0]:
            best = (score, c, candidate)
    assert best is not None
    _, c, model = best
    logits = model.logits(val_rows)
    gold_index = np.array([sentiment.LABELS.index(label) for label in val_gold])

    def nll(temperature: float) -> float:
        p = softmax(logits / temperature)
        return -float(np.log(p[np.arange(len(gold_index)), gold_index] + 1e-12).mean())

    temperature = float(optimize.minimize_scalar(nll, bounds=(0.05, 5.0), method="bounded").x)
    predicted = [sentiment.LABELS[i] for i in logits.argmax(axis=1)]
    model.spec.update(
        {
            "temperature": round(temperature, 4),
            "learner": f"sklearn LinearSVC(C={c}, class_weight='balanced', random_state=0)",
            "c_grid_val_macro_recall": grid,
            "train_tweets": len(train),
            "val_tweets": len(val),
            "val_recall": macro_recall(val_gold, predicted),
            "val_nll": round(nll(temperature), 4),
            "licence": LICENCE,
        }
    )
    return model, model.spec
