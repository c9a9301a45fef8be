"""Reply lengths counted as each network counts them, and the networks' limits."""

from __future__ import annotations

import time

import pytest

from channels.connectors.text import reply_length, reply_limit

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man, woman, girl, boy joined by ZWJ
THUMBS_UP_MEDIUM = "\U0001f44d\U0001f3fd"  # thumbs up with a skin tone
JAPAN = "\U0001f1ef\U0001f1f5"  # two regional indicators
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # black flag and tags
KEYCAP_ONE = "1\ufe0f\u20e3"
RED_HEART = "\u2764\ufe0f"


# --- Limits ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "is_direct", "limit"),
    [
        ("x", False, 280),
        ("x", True, 10_000),
        ("mastodon", False, 500),
        ("mastodon", True, 500),
        ("simulated", False, 280),
        ("simulated", True, 10_000),
        ("bluesky", False, 300),  # declared by its connector (capabilities.reply_rules)
        ("bluesky", True, 1000),
        ("friendster", False, 280),  # a network nobody registered gets the strictest limit
    ],
)
def test_each_network_has_its_limit(network: str, is_direct: bool, limit: int) -> None:
    assert reply_limit(network, is_direct=is_direct) == limit


# --- X ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("Hello", 5),
        ("Thanks for waiting, @alice! Your order #1234 ships today.", 57),
        # Scripts up to U+10FF weigh 1: Latin, Cyrillic, Greek (escaped, or ruff takes it for Latin),
        # Hebrew, Arabic, Devanagari (by code point, marks included).
        ("Ça va? Привет! \u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5! שלום مرحبا नमस्ते", 42),
        ("こんにちは", 10),
        ("你好", 4),
        ("안녕하세요", 10),
        ("Hi 你好", 7),
        ("em dash \u2014 and \u2018quotes\u2019", 22),  # General Punctuation in the light ranges weighs 1
        ("wait\u2026", 6),  # the ellipsis is outside them and weighs 2
    ],
)
def test_x_weighs_light_scripts_1_and_others_2(text: str, length: int) -> None:
    assert reply_length("x", text) == length


def test_x_counts_140_cjk_characters_as_the_full_280() -> None:
    assert reply_length("x", "字" * 140) == reply_limit("x")
    assert reply_length("x", "字" * 141) == 282


@pytest.mark.parametrize(
    "emoji",
    ["\U0001f44d", THUMBS_UP_MEDIUM, FAMILY, JAPAN, SCOTLAND, KEYCAP_ONE, RED_HEART, "\u00a9\ufe0f"],
    ids=[
        "plain",
        "skin-tone",
        "zwj-family",
        "flag",
        "subdivision-flag",
        "keycap",
        "with-selector",
        "copyright",
    ],
)
def test_x_counts_every_emoji_sequence_as_2(emoji: str) -> None:
    assert reply_length("x", emoji) == 2
    assert reply_length("x", f"Thanks {emoji}!") == 10


def test_x_counts_text_style_copyright_as_a_latin_character_and_two_flags_as_two_emoji() -> None:
    assert reply_length("x", "\u00a9 2026") == 6
    assert reply_length("x", JAPAN * 2) == 4
    assert reply_length("x", JAPAN + "\U0001f1eb") == 4  # a lone indicator after a flag is a character


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("https://example.com", 23),
        ("https://support.northwind.example/orders/track?id=1234567890&lang=en#status", 23),
        ("http://t.co", 23),
        ("Track it here: https://example.com/track/1234.", 39),  # 15 + 23 + the full stop
        ("(see https://en.wikipedia.org/wiki/Foo_(bar))", 29),  # balanced brackets stay in the link
        ("https://example.com https://example.org", 47),
        ("example.com", 23),  # X links a bare address on a generic domain
        ("www.northwind.co.uk/returns", 23),
        ("t.co", 23),
        ("bit.ly/3xYz", 23),
        ("docs.python.org", 23),
    ],
)
def test_x_counts_every_link_as_23(text: str, length: int) -> None:
    assert reply_length("x", text) == length


@pytest.mark.parametrize(
    "text",
    [
        "see file.py",  # a short address on a country code without a path is not linked
        "node.js",
        "write to help@northwind.com",  # an e-mail address is not a link
        "e.g. i.e.",
        "config.yaml",
        "#northwind.com",
    ],
)
def test_x_counts_what_it_does_not_link_as_text(text: str) -> None:
    assert reply_length("x", text) == len(text)


def test_x_counts_the_nfc_form_of_the_text() -> None:
    decomposed = "Cafe\u0301 cre\u0300me bru\u0302le\u0301e"
    assert len(decomposed) == 21
    assert reply_length("x", decomposed) == 17


def test_the_simulated_network_counts_as_x() -> None:
    text = f"こんにちは {FAMILY} https://example.com/very/long/path"
    assert reply_length("simulated", text) == reply_length("x", text) == 37


# --- Mastodon --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("Hello", 5),
        ("こんにちは", 5),  # one each: Mastodon counts characters, not weights
        (FAMILY, 1),
        (THUMBS_UP_MEDIUM, 1),
        (JAPAN * 2, 2),
        (SCOTLAND, 1),
        (KEYCAP_ONE, 1),
        ("Cafe\u0301", 4),
        ("\u1100\u1161\u11a8", 1),  # a Hangul syllable spelled in jamo
        ("line\r\nbreak", 10),
    ],
)
def test_mastodon_counts_user_perceived_characters(text: str, length: int) -> None:
    assert reply_length("mastodon", text) == length


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("@alice@mastodon.social thanks!", 14),  # counted as "@alice thanks!"
        ("@alice thanks!", 14),
        ("cc @bob.smith@social.example.org and @carol_1@fosstodon.org.", 27),
        ("write to help@northwind.example", 31),  # an e-mail address is not a mention
    ],
)
def test_mastodon_counts_a_remote_mention_as_its_local_part(text: str, length: int) -> None:
    assert reply_length("mastodon", text) == length


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("https://support.northwind.example/orders/track?id=1234567890", 23),
        ("Track it: https://example.com/t/1.", 34),
        ("example.com", 11),  # Mastodon only counts links written with their scheme as 23
        ("@ann@example.org https://example.org/@ann", 28),
    ],
)
def test_mastodon_counts_every_link_as_23(text: str, length: int) -> None:
    assert reply_length("mastodon", text) == length


def test_mastodon_fits_500_characters_of_any_script() -> None:
    assert reply_length("mastodon", "字" * 500) == reply_limit("mastodon")
    assert reply_length("mastodon", "a" * 501) == 501


# --- Cost ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("network", ["x", "mastodon"])
@pytest.mark.parametrize("text", ["a." * 5000, "ab.cd-" * 1666, "é" * 10_000, "\U0001f44d" * 5000])
def test_a_direct_message_at_the_limit_is_counted_quickly(network: str, text: str) -> None:
    started = time.perf_counter()
    reply_length(network, text)
    assert time.perf_counter() - started < 0.2
