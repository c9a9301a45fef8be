"""Is a post about a disaster, an accident, an outage, a hazard: something a crisis team must hear about?

A linear model over the same hashed features as sentiment (``routing.textfeatures``), trained by
``make models`` (``routing.training``) on:

* CrisisLexT26, development half (``../shared/data/crisislex_t26_dev/``, 13 disasters): tweets related to
  the disaster (informative or not) against the tweets sharing its hashtags that are not related;
* our seed corpus (``routing/data/seed_examples.jsonl``): its crisis-signal posts (safety, breaches,
  outages that hit everyone, backlash) against every other intent, so that one customer's angry complaint
  ("worst service ever, my order is late") is not a crisis;
* customer-care tweets addressed to 25 brands (``../shared/data/twitter_customer_care_cdp/``), as
  everyday support traffic that is not a crisis, except those the crisis patterns call an outage.

Its output is the log-odds that the post is crisis talk, with the classes weighted equally; the intent
classifier (``routing.classifier``) adds it, weighted, to the crisis-signal intent's score beside the
patterns. Leave-events-out figures (trained on some disasters, scored on the others) are in the model's
JSON file and in ``make eval``.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from routing import textfeatures
from routing.textfeatures import LinearTextModel, Rows

MODEL_NPZ = textfeatures.DATA / "crisis_model.npz"
MODEL_JSON = textfeatures.DATA / "crisis_model.json"
CLASSES = ("crisis",)


class CrisisDetector:
    """Log-odds of crisis talk for batches of posts."""

    def __init__(self, model: LinearTextModel) -> None:
        if model.classes != CLASSES:
            raise ValueError(f"a crisis detector's classes are {CLASSES}, not {model.classes}")
        self.model = model

    @property
    def n_features(self) -> int:
        return self.model.n_features

    def log_odds(self, batch: Rows) -> np.ndarray:
        """One number per post of a hashed batch: above 0, crisis talk is the likelier reading."""
        return self.model.logits(batch)[:, 0]

    def log_odds_many(self, texts: list[str]) -> np.ndarray:
        return self.log_odds(textfeatures.rows(texts, self.n_features))


@cache
def shipped_detector() -> CrisisDetector:
    """The detector ``make models`` built, read once per process."""
    return CrisisDetector(LinearTextModel.load(MODEL_NPZ, MODEL_JSON))
