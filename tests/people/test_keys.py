"""The keys that find one person behind several handles (pure functions)."""

from __future__ import annotations

from people import keys as K


def test_a_handle_keeps_its_name_across_networks() -> None:
    assert {K.handle_key(h) for h in ("@Ann_Lee", "ann_lee@mastodon.social", "ann-lee.bsky.social")} == {
        "annlee"
    }


def test_a_short_handle_or_name_gives_no_key() -> None:
    assert (K.handle_key("@abc"), K.name_key("Sam"), K.name_key("Jo Li")) == ("", "", "")


def test_a_name_folds_case_accents_and_punctuation() -> None:
    assert K.name_key("  Zoë  O'Brien ") == K.name_key("ZOE O BRIEN") == "zoe o brien"


def test_emails_come_from_direct_messages() -> None:
    keys = K.author_keys(
        K.AuthorFacts(
            author_id=1, network="x", handle="someone1", direct_messages=("mail me at Ann.Lee@Example.com",)
        )
    )

    assert (K.EMAIL, "ann.lee@example.com") in keys


def test_a_profile_naming_another_handle_gives_a_named_handle_key() -> None:
    keys = K.author_keys(
        K.AuthorFacts(
            author_id=1,
            network="mastodon",
            handle="annlee@mastodon.social",
            profile="Also https://x.com/AnnTweets and bsky.app/profile/ann-sky.bsky.social; I am @annlee",
        )
    )

    assert {v for k, v in keys if k == K.NAMED_HANDLE} == {"anntweets", "annsky"}


def test_confidence_adds_independent_reasons() -> None:
    assert K.confidence_of([K.NAME]) == 0.5
    assert K.confidence_of([K.NAME, K.HANDLE]) == 0.8
    assert K.confidence_of([K.NAME, K.NAME]) == 0.5
