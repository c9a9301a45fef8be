"""The labelled routing evaluation set (bench/data/routing_eval.jsonl) is well formed and covers its claims.

Pure file checks: no database, no classifier.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from routing.facts import DEFAULT_INTENT_SEGMENTS, INTENTS

DATA = Path(__file__).resolve().parent.parent / "bench" / "data" / "routing_eval.jsonl"
FIELDS = {
    "id",
    "text",
    "intent",
    "owner_segment",
    "received_segment",
    "misdirected",
    "language",
    "network",
    "kind",
}
SEGMENTS = {
    "customer-relations",
    "crisis-management",
    "reputation-management",
    "event-coverage",
    "product-promotion",
    "issue-advocacy",
}
LANGUAGES = {"en", "es", "fr", "de", "pt", "it", "nl"}
UNOWNED = {"spam", "other"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with DATA.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_every_row_has_the_schema(rows):
    for row in rows:
        assert set(row) == FIELDS, row.get("id")
        assert isinstance(row["text"], str) and row["text"].strip(), row["id"]
        assert row["intent"] in INTENTS, row["id"]
        assert row["owner_segment"] in SEGMENTS, row["id"]
        assert row["received_segment"] in SEGMENTS, row["id"]
        assert isinstance(row["misdirected"], bool), row["id"]
        assert row["language"] in LANGUAGES, row["id"]
        assert row["network"] in {"x", "mastodon"}, row["id"]
        assert row["kind"] in {"mention", "reply", "dm"}, row["id"]


def test_ids_are_sequential(rows):
    assert [row["id"] for row in rows] == [f"e{n:04d}" for n in range(1, len(rows) + 1)]


def test_owner_follows_the_default_intent_map(rows):
    for row in rows:
        expected = DEFAULT_INTENT_SEGMENTS[row["intent"]] or row["received_segment"]
        assert row["owner_segment"] == expected, row["id"]
        assert row["misdirected"] == (row["owner_segment"] != row["received_segment"]), row["id"]
        if row["intent"] in UNOWNED:
            assert not row["misdirected"], row["id"]


def test_size_and_unique_texts(rows):
    assert len(rows) >= 600
    texts = Counter(" ".join(row["text"].casefold().split()) for row in rows)
    assert [text for text, count in texts.items() if count > 1] == []


def test_every_intent_and_segment_is_present(rows):
    intents = Counter(row["intent"] for row in rows)
    assert set(intents) == set(INTENTS)
    assert min(intents.values()) >= 30, intents
    assert {row["received_segment"] for row in rows} == SEGMENTS
    assert {row["owner_segment"] for row in rows} == SEGMENTS
    # Each owned intent also arrives misdirected, on more than one other segment.
    for intent in set(INTENTS) - UNOWNED:
        elsewhere = {r["received_segment"] for r in rows if r["intent"] == intent and r["misdirected"]}
        assert len(elsewhere) >= 2, intent


def test_misdirected_share(rows):
    share = sum(row["misdirected"] for row in rows) / len(rows)
    assert 0.25 <= share <= 0.30, share


def test_languages_and_networks(rows):
    languages = Counter(row["language"] for row in rows)
    assert set(languages) == LANGUAGES
    assert sum(count for language, count in languages.items() if language != "en") >= 60
    assert min(languages.values()) >= 10, languages
    assert {row["network"] for row in rows} == {"x", "mastodon"}
    assert {row["kind"] for row in rows} == {"mention", "reply", "dm"}
