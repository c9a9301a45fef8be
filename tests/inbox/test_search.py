"""Inbox search with the websearch syntax on both databases: PostgreSQL (its own full-text search) and SQLite,
the embedded default (inbox/search.py over an FTS5 index). The same searches must find the same mentions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from inbox.search import AllOf, Phrase, SearchQuery, Without, fts5_match, websearch_parse, words_of
from inbox.selectors import InboxFilters, mentions_for_inbox
from tests.factories import AuthorFactory, MentionFactory, UserFactory

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Stored before the text-search migration runs (its fill must index them), then the rest after it.
BEFORE = {
    "refund": "I want a refund for my order",
    "late_refund": "The refund was late again",
    "plural": "What is your refunds policy?",
    "tent": "Lovely tent, thanks",
    "tent_pole": "The tent pole snapped on day one",
    "cafe": "Best café in town",
    "edited": "Original words here",
}
AFTER = {
    "pole_tent": "Pole of the tent is fine",
    "cafe_plain": "Best cafe in town",
    "near": "We are near the store",
    "text": "The text of the receipt",
    "rating": "Five * rating, would not buy again",
    "return": "Return or refund, either is fine",
    "deleted": "Refund requested, then deleted",
}
EDITS = {"edited": "New tent pole arrived"}
DELETES = ["deleted"]
HANDLES = {external_id: f"person{n}" for n, external_id in enumerate(sorted({**BEFORE, **AFTER}))}
HANDLES["near"] = "zed_near"

EVERYTHING = {"refund", "late_refund", "plural", "tent", "tent_pole", "cafe", "edited"} | {
    "pole_tent",
    "cafe_plain",
    "near",
    "text",
    "rating",
    "return",
}

SEARCHES = [
    ("refund late", {"late_refund"}),  # several words: all of them
    ('"tent pole"', {"tent_pole", "edited"}),  # a phrase: together, in this order
    ("tent pole", {"tent_pole", "pole_tent", "edited"}),
    ("refund -late", {"refund", "return"}),
    ("-tent", EVERYTHING - {"tent", "tent_pole", "pole_tent", "edited"}),  # nothing but an exclusion
    ("tent or refund", {"refund", "late_refund", "tent", "tent_pole", "pole_tent", "return", "edited"}),
    ("refund or -tent", EVERYTHING - {"tent", "tent_pole", "pole_tent", "edited"}),
    ("or", {"return"}),  # alone it is a word
    ("refunds", {"plural"}),  # no stemming
    ("café", {"cafe"}),  # accents count, case does not
    ("CAFÉ", {"cafe"}),
    ("cafe", {"cafe_plain"}),
    ("original", set()),  # the words an edit replaced
    ("deleted", set()),  # a deleted mention
    ("@zed", {"near"}),  # an author's handle
    # Hostile input: what FTS5 would read as its own syntax is plain text.
    ('refund "late', {"late_refund"}),  # a quote left open runs to the end
    ('"refund was', {"late_refund"}),
    ('"', set()),
    ("-", set()),
    ("*", set()),
    ("refund*", {"refund", "late_refund", "return"}),
    ("NEAR(", {"near"}),
    ("NEAR(refund late, 2)", set()),
    ("text:", {"text"}),
    ("text:refund", set()),  # not a column filter: both words
    ("{text}: tent", set()),
    ("refund AND late", set()),  # "and" is a word
    ("refund NOT late", set()),
    ("^refund", {"refund", "late_refund", "return"}),
    ("refund + late", {"late_refund"}),
    ("refund ) (", {"refund", "late_refund", "return"}),
]
QUERIES = [q for q, _ in SEARCHES]


@pytest.fixture(scope="module")
def embedded_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The searches run on SQLite, in a process of its own on a new embedded database (the suite's own
    database is PostgreSQL)."""
    data_dir = tmp_path_factory.mktemp("embedded")
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "TEST_DATABASE_NAME", "SOCIALOPS_ENV"}
    }
    env.update(SOCIALOPS_DATA_DIR=str(data_dir), PYTHONPATH=str(BASE_DIR))
    spec = {
        "before": BEFORE,
        "after": AFTER,
        "edits": EDITS,
        "deletes": DELETES,
        "handles": HANDLES,
        "queries": QUERIES,
    }
    out = data_dir / "results.json"
    done = subprocess.run(
        [sys.executable, str(BASE_DIR / "tests" / "inbox" / "embedded_search.py"), str(out)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture
def admin(db):
    """PostgreSQL with the mentions as they end up on SQLite: edited, and without the deleted ones."""
    stored = {**BEFORE, **AFTER, **EDITS}
    for external_id in sorted(stored.keys() - set(DELETES)):
        MentionFactory(
            external_id=external_id,
            text=stored[external_id],
            author=AuthorFactory(handle=HANDLES[external_id]),
        )
    return UserFactory(admin=True)


def found_on_postgresql(user, q: str) -> set[str]:
    page = mentions_for_inbox(user=user, filters=InboxFilters(queue="all", q=q), limit=200)
    return {m.external_id for m in page.mentions}


@pytest.mark.slow
@pytest.mark.parametrize(("q", "expected"), SEARCHES, ids=QUERIES)
def test_the_same_search_finds_the_same_mentions_on_postgresql_and_on_sqlite(
    admin, embedded_results, q, expected
):
    assert found_on_postgresql(admin, q) == expected
    assert set(embedded_results["found"][q]) == expected


@pytest.mark.slow
def test_on_sqlite_the_index_follows_every_insert_edit_and_deletion_and_ignores_duplicates(embedded_results):
    assert embedded_results["stored"] == [len(BEFORE), len(AFTER), 0]
    assert embedded_results["index"] == "consistent"


@pytest.mark.slow
def test_no_search_fails_on_sqlite_in_the_inbox_page_or_the_api(embedded_results):
    assert embedded_results["status"] == {q: [200, 200] for q in QUERIES}


def test_the_text_search_migration_does_nothing_on_postgresql(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'inbox_mention_fts%%'")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'inbox_mention_fts%%'")
        assert cursor.fetchone() == (0,)


# --- Reading the syntax (no database) -----------------------------------------------------------------------


def test_words_split_at_punctuation_keep_accents_and_leave_case_to_fts5():
    assert words_of("Don't stop: CAFÉ-crème, x2!") == ("Don", "t", "stop", "CAFÉ", "crème", "x2")
    assert words_of("cafe\u0301") == ("cafe\u0301",)  # a combining accent stays in its word
    assert words_of("* ( ) : 🎉 ...") == ()


PARSES = [
    ("refund late", SearchQuery((AllOf((Phrase(("refund",)), Phrase(("late",)))),))),
    ('"tent pole" -late', SearchQuery((AllOf((Phrase(("tent", "pole")), Without(Phrase(("late",))))),))),
    (
        "a b or -c",
        SearchQuery((AllOf((Phrase(("a",)), Phrase(("b",)))), AllOf((Without(Phrase(("c",))),)))),
    ),
    ("--late", SearchQuery((AllOf((Phrase(("late",)),)),))),
    ("order or", SearchQuery((AllOf((Phrase(("order",)), Phrase(("or",)))),))),
    ("a orange", SearchQuery((AllOf((Phrase(("a",)), Phrase(("orange",)))),))),
    ('"a -b or c', SearchQuery((AllOf((Phrase(("a", "b", "or", "c")),)),))),
    ("a:b", SearchQuery((AllOf((Phrase(("a",)), Phrase(("b",)))),))),
    ("a^b", SearchQuery((AllOf((Phrase(("a", "b")),)),))),
]


@pytest.mark.parametrize(("q", "expected"), PARSES, ids=[p[0] for p in PARSES])
def test_the_syntax_is_read_as_websearch_to_tsquery_reads_it(q, expected):
    assert websearch_parse(q) == expected


@pytest.mark.parametrize("q", ["", "   ", "-", '"', '""', "*", "( ) : ! & | <", "🎉", "- -"])
def test_a_query_without_a_word_looks_for_no_text(q):
    assert websearch_parse(q) is None


FTS5 = [
    ("refund late", '("refund" AND "late")'),
    ('"tent pole" -late -"was late"', '(("tent pole") NOT ("late" OR "was late"))'),
    ("tent or refund -late", '("tent") OR (("refund") NOT ("late"))'),
    ('text:refund NEAR(a b) "x', '("text" AND "refund" AND "NEAR" AND "a" AND "b" AND "x")'),
    ('AND OR NOT * ^x +y "', '("AND") OR ("NOT" AND "x" AND "y")'),  # "or" between terms
]


@pytest.mark.parametrize(("q", "expected"), FTS5, ids=[f[0] for f in FTS5])
def test_fts5_sees_only_quoted_words_and_its_own_operators(q, expected):
    assert fts5_match(websearch_parse(q)) == expected


def test_a_part_that_only_excludes_has_no_fts5_expression_of_its_own():
    assert fts5_match(websearch_parse("-late")) is None
    assert fts5_match(websearch_parse("refund or -late")) is None
