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

Its output is the log-odds that the post is crisis talk, with the classes weighted equally. A crisis signal
pages a team, so the detector does not decide at even odds: it carries a **decision threshold**, chosen by
``make models`` on disasters each scored by a detector that never saw them, as the lowest at which the
classifier calls at most ``FALSE_ALARM_BUDGET`` of their unrelated tweets a crisis signal (mean over the
disasters). The intent classifier (``routing.classifier``) adds ``log-odds - threshold``, weighted, to the
crisis-signal intent's score beside the patterns.

**Which patterns the detector may not overrule.** A strong crisis pattern that reports an incident ("outage",
"down for everyone", "hacked", "caught fire", "recall") keeps the crisis signal whatever the detector says:
it learned crisis talk from disasters and knows too few brand incidents for its "no" to count there. A word
that only *names* a disaster or its toll ("fire", "flood", "earthquake", "killed": ``DISASTER_TOPICS``), or
any term inside a hashtag ("#wildfire" is also a phone and a TV series; a hashtag says which stream a tweet
was posted to), does not: whether such a post reports a disaster is the question the detector was trained
on. Leave-events-out figures (trained on some disasters, scored on the others) are in the model's JSON file
and in ``make eval``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import numpy as np

from routing import textfeatures
from routing.textfeatures import LinearTextModel, Rows

MODEL_NPZ = textfeatures.DATA / "crisis_model.npz"
MODEL_JSON = textfeatures.DATA / "crisis_model.json"
CLASSES = ("crisis",)
# The share of a disaster stream's unrelated tweets the crisis signal may call a crisis (see the docstring).
# Held out (make eval), 5% heard 46% of the informative tweets and missed brand crises ("Earthquake just hit,
# buildings damaged downtown, people trapped"); 10% hears 64% at 11% false alarms (it was 71% at 19%).
FALSE_ALARM_BUDGET = 0.10

# Words that name a disaster or its toll, in the seven languages of the crisis patterns: on their own they say
# what a post is about, not that it reports one ("a fire in Australia has been burning for 6,000 years").
DISASTER_TOPICS = re.compile(
    r"(?:fire|on fire|flood\w*|earthquake|wildfire|bushfire|storm|typhoon|tornado|hurricane|tsunami|"
    r"killed|dead|deaths?|victims?|shooting|hospital\w*|emergency|evacuat\w*|explo\w+|injur\w*|hurt|"
    r"danger|dangerous|safety|"
    r"sismo|terremoto|incendio|inundaci[oó]n\w*|evacua\w*|herid[oa]s?|explosi[oó]n|peligro\w*|incendie|"
    r"inondation\w*|bless[ée]s?|[üu]berschwemmung|verletzt|inc[êe]ndio|enchente|ferid[oa]s?|explos[ãa]o|"
    r"alluvione|esplosione|ferit[oa]|overstroming|explosie|gewond)"
)


class CrisisDetector:
    """Log-odds of crisis talk for batches of posts."""

    def __init__(self, model: LinearTextModel) -> None:
        if model.classes != CLASSES:
            raise ValueError(f"a crisis detector's classes are {CLASSES}, not {model.classes}")
        self.model = model
        # Log-odds at which the crisis signal is called (0 in a detector trained before thresholds).
        self.threshold = float(model.spec.get("decision_threshold", 0.0))

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


def incident_reported(text_lower: str, strong_terms: Sequence[str]) -> bool:
    """Whether one of a post's strong crisis terms reports an incident the detector may not overrule: a term
    that is not a disaster's name (``DISASTER_TOPICS``) and stands outside a hashtag."""
    for term in strong_terms:
        if DISASTER_TOPICS.fullmatch(term):
            continue
        words = r"\s+".join(map(re.escape, term.split()))
        if re.search(r"(?<![#\w])" + words + r"(?!\w)", text_lower):
            return True
    return False
