"""Full-text search of mention text on SQLite (the embedded default) with PostgreSQL's ``websearch`` syntax.

On PostgreSQL the inbox search is ``to_tsvector('simple', text) @@ websearch_to_tsquery('simple', q)``. On
SQLite the text is indexed by FTS5 (the ``inbox_mention_fts`` table of migration 0009), and this module reads
the same syntax the way ``websearch_to_tsquery`` does, then writes it as FTS5 MATCH expressions:

- several words: all of them (``refund late``);
- ``"tent pole"``: the words next to each other in that order; a quote left open runs to the end;
- ``-late``: without it (also ``-"tent pole"``);
- ``or`` between two terms: either (``refund or return``); AND binds tighter than ``or``;
- everything else (``*``, ``:``, ``(``, ``^``, ``NEAR``, ``AND``, ``NOT``, column names, a lone ``-``) is
  plain text: only the words in it are searched for, each one quoted, so nothing a person types can reach
  FTS5's own syntax or make the query fail. A query with no word in it matches no text.

Words are runs of letters and digits, compared case-insensitively and accents kept (``café`` is not
``cafe``), as PostgreSQL's 'simple' configuration does. Where the two differ: PostgreSQL also keeps some
tokens whole that FTS5's unicode61 tokenizer splits at punctuation (e-mail addresses, host names, URLs, file
paths, ``3.5``, ``v1.2``; a hyphenated word is indexed whole and in parts), so ``example`` finds
``www.example.com`` here and not there, and ``"foo bar"`` finds ``foo.bar`` and ``foo bar`` here where
``foo.bar`` finds only ``foo.bar`` there. unicode61 keeps a digit such as ``²`` in the word (``x²``) where
PostgreSQL drops it, and knows Unicode 6.1: a symbol added since (a newer emoji) is a word character to it,
so ``x🤦`` is one word on SQLite and ``x`` on PostgreSQL. In a query such symbols are never words.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import reduce

from django.db.models import Q
from django.db.models.expressions import RawSQL

_OPERATOR_CHARS = frozenset("!&|()<")  # websearch_to_tsquery skips them as it would a space
_NO_BREAK_SPACES = frozenset("\u00a0\u2007\u202f")  # not spaces to PostgreSQL: they join words into a phrase


@dataclass(frozen=True)
class Phrase:
    """Words that must appear next to each other in this order (one word is a phrase of one)."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class Without:
    """Text that does not match ``term``."""

    term: Phrase


@dataclass(frozen=True)
class AllOf:
    """Text that matches every one of ``terms``."""

    terms: tuple[Phrase | Without, ...]


@dataclass(frozen=True)
class SearchQuery:
    """Text that matches any one of ``alternatives`` (the parts between ``or``)."""

    alternatives: tuple[AllOf, ...]


def _is_space(ch: str) -> bool:
    return ch.isspace() and ch not in _NO_BREAK_SPACES


def _is_token_char(ch: str) -> bool:
    # Letters, numbers and private use are unicode61's word characters; it keeps combining marks inside a
    # word too (a decomposed "café" is one word to it, as to PostgreSQL).
    category = unicodedata.category(ch)
    return category[0] in "LNM" or category == "Co"


def words_of(value: str) -> tuple[str, ...]:
    """The words of ``value`` as FTS5's unicode61 tokenizer splits them. Not lower-cased: FTS5 folds the
    case of a query's words as it folded the text's (Python's lower() differs from it, e.g. for "İ")."""
    words: list[str] = []
    current: list[str] = []
    for ch in value:
        if _is_token_char(ch):
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return tuple(words)


def _or_at(q: str, i: int) -> bool:
    """``or`` at ``i`` is the operator when it is a word of its own with something after it."""
    if q[i : i + 2].lower() != "or" or i + 2 >= len(q):
        return False
    after = q[i + 2]
    if after in "-_" or after.isalnum():
        return False  # part of a word: "order", "or-else"
    return any(not _is_space(ch) for ch in q[i + 3 :])


def websearch_parse(q: str) -> SearchQuery | None:
    """Read ``q`` the way PostgreSQL's websearch_to_tsquery does; None when it holds no word to look for."""
    alternatives: list[list[Phrase | Without]] = [[]]
    negated = False
    wants_term = True
    i = 0
    while i < len(q):
        ch = q[i]
        if not wants_term:
            if _is_space(ch) or ch in _OPERATOR_CHARS:
                i += 1
            elif _or_at(q, i):
                alternatives.append([])
                wants_term = True
                i += 2
            else:
                wants_term = True  # two terms side by side: both
            continue
        if ch == "-":
            negated = not negated
            i += 1
            continue
        if _is_space(ch) or ch in _OPERATOR_CHARS:
            i += 1
            continue
        if ch == '"':
            end = q.find('"', i + 1)
            end = len(q) if end == -1 else end
            value, i = q[i + 1 : end], end + 1
        else:
            end = i + 1
            while end < len(q) and not (_is_space(q[end]) or q[end] in _OPERATOR_CHARS or q[end] in '":'):
                end += 1
            value, i = q[i:end], end
        words = words_of(value)
        # A term without words ("*", "..."), negated or not, drops out, as PostgreSQL drops it.
        if words:
            alternatives[-1].append(Without(Phrase(words)) if negated else Phrase(words))
        negated = False
        wants_term = False
    kept = tuple(AllOf(tuple(terms)) for terms in alternatives if terms)
    return SearchQuery(kept) if kept else None


def _phrase(phrase: Phrase) -> str:
    # Only letters and digits inside the quotes, so the string cannot end early or carry FTS5 syntax.
    return '"' + " ".join(phrase.words) + '"'


def _all_of(terms: AllOf) -> str | None:
    """FTS5 has no unary NOT: ``a NOT b`` needs something to take ``b`` away from."""
    wanted = [_phrase(t) for t in terms.terms if isinstance(t, Phrase)]
    unwanted = [_phrase(t.term) for t in terms.terms if isinstance(t, Without)]
    if not wanted:
        return None
    expression = "(" + " AND ".join(wanted) + ")"
    if unwanted:
        expression = "(" + expression + " NOT (" + " OR ".join(unwanted) + "))"
    return expression


def fts5_match(query: SearchQuery) -> str | None:
    """One FTS5 MATCH expression for the whole query; None when a part of it only says what to leave out."""
    parts = [_all_of(terms) for terms in query.alternatives]
    if any(part is None for part in parts):
        return None
    return " OR ".join(parts)


def _fts(expression: str) -> Q:
    # The table of migration 0009; the MATCH expression is the only parameter.
    return Q(
        pk__in=RawSQL("SELECT rowid FROM inbox_mention_fts WHERE inbox_mention_fts MATCH %s", (expression,))
    )


def _all_of_filter(terms: AllOf) -> Q:
    expression = _all_of(terms)
    if expression is not None:
        return _fts(expression)
    # Only exclusions: what is left once every matching mention is taken away.
    return ~_fts(" OR ".join(_phrase(t.term) for t in terms.terms if isinstance(t, Without)))


def sqlite_text_filter(q: str) -> Q:
    """The mentions whose text matches ``q``, through the FTS5 index; none when ``q`` holds no word."""
    query = websearch_parse(q)
    if query is None:
        return Q(pk__in=[])
    expression = fts5_match(query)
    if expression is not None:
        return _fts(expression)
    return reduce(lambda a, b: a | b, (_all_of_filter(terms) for terms in query.alternatives))
