"""What one post adds to the radar's counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from crisis.signals import (
    ALL,
    CRI,
    MAX_TERMS_PER_POST,
    NEG,
    REACH,
    N,
    counts_add,
    counts_by_minute,
    key,
    post_signal,
    reposts_dropped,
    split_key,
    terms_of,
    text_key,
)


def test_terms_are_words_and_two_word_phrases_without_handles_links_or_stopwords() -> None:
    terms = terms_of("@northwind_help My HEADLAMP melted!! https://t.co/x #recall the headlamp melted")

    assert "headlamp" in terms and "melted" in terms and "headlamp melted" in terms
    assert "#recall" in terms
    assert not any("northwind_help" in t or "http" in t or "t.co" in t for t in terms)
    assert "the" not in terms and "my" not in terms
    assert len(terms) == len(set(terms))  # each term once per post, however often it is written


def test_no_phrase_spans_a_dropped_word_or_a_hashtag() -> None:
    terms = terms_of("site is down #outage today")

    assert "site down" not in terms  # "is" was dropped between them
    assert not any(" " in t and "#" in t for t in terms)


def test_a_long_post_counts_a_bounded_number_of_terms() -> None:
    text = " ".join(f"word{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(300))

    assert len(terms_of(text)) <= MAX_TERMS_PER_POST + 1


def test_a_post_counts_in_every_scope_it_belongs_to() -> None:
    signal = post_signal(
        minute=100,
        text="Recall of the stove",
        channel="help",
        segment="customer-relations",
        negative=True,
        crisis=False,
        reach=250,
    )
    counts: Counter = Counter()
    counts_add(counts, signal)

    for scope in (ALL, "channel:help", "segment:customer-relations"):
        assert counts[key(scope, N)] == 1
        assert counts[key(scope, NEG)] == 1
        assert counts[key(scope, CRI)] == 0
        assert counts[key(scope, REACH)] == 250
    assert counts[key("term:recall", N)] == 1
    assert split_key(key("term:headlamp melted", N)) == ("term:headlamp melted", N)


def test_a_batch_is_counted_per_minute() -> None:
    signals = [
        post_signal(minute=m, text="hello there", channel="c", negative=False, crisis=True) for m in (5, 5, 6)
    ]

    by_minute = counts_by_minute(signals)

    assert sorted(by_minute) == [5, 6]
    assert by_minute[5][key(ALL, CRI)] == 2 and by_minute[6][key("channel:c", N)] == 1


def test_a_repost_has_the_text_key_of_its_post_and_adds_reach_only() -> None:
    post = "Headlamp MELTED in my tent https://t.co/abc"
    repost = "RT @camper: headlamp melted in my tent https://t.co/xyz"
    other = "headlamp works fine in my tent"
    assert text_key(post) == text_key(repost) != text_key(other)

    signals = [
        post_signal(minute=1, text=t, channel="help", negative=True, crisis=False)
        for t in (post, repost, other)
    ]
    signals[1] = replace(signals[1], reach=700)
    counts = counts_by_minute(reposts_dropped(signals, [True, False, True]))[1]

    # The repost is the same voice again: reach only.
    assert counts[key(ALL, N)] == 2 and counts[key(ALL, NEG)] == 2 and counts[key(ALL, REACH)] == 700
    assert counts[key("term:melted", N)] == 1 and counts[key("term:tent", N)] == 2
