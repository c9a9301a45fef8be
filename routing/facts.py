"""The values the routing engine works on. Plain frozen dataclasses: no ORM, cheap to build and compare.

``Facts`` is what is known about one post when it is routed; ``Classification`` is what the classifier says
about its text; ``Decision`` is what the engine concluded, with an explanation a person can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# Intents the classifier knows, in the order the UI lists them.
INTENTS: tuple[str, ...] = (
    "support_question",
    "complaint",
    "praise",
    "purchase_question",
    "event_question",
    "press_question",
    "crisis_signal",
    "advocacy",
    "spam",
    "other",
)

# A label: what agents type and rules add, stored trimmed and in lower case so that one written "Recall" by a
# rule is the "recall" an agent removes. Short enough for a badge in the list.
LABEL_MAX = 40
_LABEL = re.compile(rf"[\w][\w .:/-]{{0,{LABEL_MAX - 1}}}")


class LabelRefused(ValueError):
    """Text that is not a label; the message quotes it and says what a label is."""


def label_normalized(value: str) -> str:
    """``value`` as a label is stored (trimmed, lower case), or :class:`LabelRefused`. The one check of a
    label, for agents (triage) and for rules (``add_labels``)."""
    label = value.strip().lower()
    if not _LABEL.fullmatch(label):
        raise LabelRefused(
            f"{label[:60]!r} is not a label: up to {LABEL_MAX} letters, digits, spaces and . : / - _, "
            "starting with a letter or digit."
        )
    return label


# The segment that owns each intent, seeded from the segment playbooks; admins can edit the map.
DEFAULT_INTENT_SEGMENTS: dict[str, str] = {
    "support_question": "customer-relations",
    "complaint": "customer-relations",
    "praise": "customer-relations",
    "purchase_question": "product-promotion",
    "event_question": "event-coverage",
    "press_question": "reputation-management",
    "crisis_signal": "crisis-management",
    "advocacy": "issue-advocacy",
    "spam": "",  # spam is owned by nobody: it stays where it landed, labelled
    "other": "",  # no owner: it stays with the receiving account's team
}

# Priorities, matching inbox.models.Mention.Priority values.
PRIORITIES: dict[str, int] = {"low": 10, "normal": 20, "high": 30, "urgent": 40}

AUTHOR_TAGS: tuple[str, ...] = ("vip", "influencer", "detractor", "advocate", "employee")
KINDS: tuple[str, ...] = ("mention", "reply", "dm", "keyword")
# What the people app says of an author's person: computed from behaviour with thresholds admins set, and
# VIP set by hand. Kept on inbox.Author.segments (people writes it), so the inbox and routing, floors below
# people, read it without importing people.
AUTHOR_SEGMENTS: tuple[str, ...] = (
    "influencer",
    "advocate",
    "detractor",
    "customer",
    "prospect",
    "press",
    "vip",
)


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier says about a post's text."""

    intent: str
    confidence: float  # 0..1, the model's probability for ``intent``
    sentiment: float  # the sentiment model's score (routing.sentiment), -1..1
    sentiment_label: str  # "negative" | "neutral" | "positive"
    terms: tuple[str, ...] = ()  # the words or patterns that drove the intent, strongest first
    model_version: int = 0  # 0: patterns + the seed-trained model; n: after n trainings on corrections
    scores: tuple[tuple[str, float], ...] = ()  # every intent's probability, highest first


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about one post when it is routed. Text comes from the networks: untrusted."""

    text: str
    network: str  # "x" | "mastodon" | "simulated" | ...
    kind: str = "mention"  # one of KINDS
    channel: str = ""  # slug of the receiving channel
    segment: str = ""  # slug of the receiving channel's segment
    team: str = ""  # slug of the receiving channel's team
    language: str = ""  # ISO 639-1 code when known, "" otherwise
    author_handle: str = ""
    author_followers: int = 0
    author_verified: bool = False
    author_tags: frozenset[str] = frozenset()
    author_segments: frozenset[str] = frozenset()  # AUTHOR_SEGMENTS the people app gave the author's person
    created_at: datetime | None = None
    crisis_mode: bool = False
    classification: Classification | None = None  # filled in by the classifier before rules run


class Classifier(Protocol):
    """Sentiment and intent for posts. ``classify_many`` is the fast path: it works on a whole batch."""

    version: int

    def classify(self, facts: Facts) -> Classification: ...

    def classify_many(self, facts: list[Facts]) -> list[Classification]: ...


@dataclass(frozen=True, slots=True)
class Notification:
    """An email or an outgoing webhook a rule asked for."""

    kind: str  # "email" | "webhook" | "handoff"
    target: str  # address, URL, or a hand-off integration's slug


@dataclass(frozen=True, slots=True)
class Decision:
    """What the engine concluded about one post."""

    segment: str  # owning segment slug (the receiving segment when nobody owns the intent)
    team: str  # owning team slug
    intent: str
    confidence: float
    sentiment: float
    sentiment_label: str
    priority: str = "normal"  # a key of PRIORITIES
    labels: tuple[str, ...] = ()
    is_misdirected: bool = False
    escalate_to: str = ""  # team slug; "" when there is no escalation
    escalation_reason: str = ""
    assignee: str = ""  # username a rule assigned to
    require_approval: bool = False
    notifications: tuple[Notification, ...] = ()
    rules_fired: tuple[int, ...] = ()  # rule ids, in the order they fired
    explanation: tuple[str, ...] = ()  # sentences a person can read
    rule_set_version: int = 0
    model_version: int = 0
    owner_source: str = ""  # what decided the owner: "rule" | "learned" | "intent" ("": no owner model)
    needs_decision: bool = False  # the owner is uncertain: the receiving team's lead decides
    extra: dict = field(default_factory=dict, compare=False, hash=False)
