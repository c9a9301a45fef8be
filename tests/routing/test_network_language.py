"""The language a network tags a post with reaches routing, stored on the mention; only a post without a
tag has its language guessed from its words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from channels.connectors.base import AuthorData, Post
from inbox.models import Mention
from inbox.route import mentions_facts, posts_decide
from inbox.services import mentions_ingest
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

ENGLISH_WORDS = "where is my order, it is late and the tracking does not move"


def post(external_id: str, *, language: str = "", raw: dict | None = None, text: str = ENGLISH_WORDS) -> Post:
    return Post(
        network="x",
        external_id=external_id,
        kind="mention",
        text=text,
        created_at=datetime.now(UTC) - timedelta(minutes=3),
        author=AuthorData(external_id="2001", handle="alice"),
        raw=raw if raw is not None else {"tweet": {"id": external_id, "lang": language}, "author": {}},
        language=language,
    )


def test_the_network_s_tag_is_used_before_any_guess() -> None:
    channel = ChannelFactory(network="x")
    # X nests its lang inside raw["tweet"]: routing read raw["lang"] and guessed "en" from the words.
    routed = posts_decide(channel=channel, posts=[post("1", language="id"), post("2", language="pt-BR")])

    assert [r.facts.language for r in routed] == ["id", "pt"]


def test_a_post_without_a_tag_is_still_guessed_and_an_import_s_top_level_lang_still_counts() -> None:
    channel = ChannelFactory(network="x")

    routed = posts_decide(
        channel=channel,
        posts=[post("1", language=""), post("2", raw={"lang": "fr"}), post("3", raw={"lang": "qme"})],
    )

    assert [r.facts.language for r in routed] == ["en", "fr", "en"]


def test_the_tag_is_stored_on_the_mention_and_used_when_it_is_routed_again() -> None:
    channel = ChannelFactory(network="x")
    mentions_ingest(channel=channel, posts=[post("1", language="de"), post("2")], cursor={})

    stored = dict(Mention.objects.values_list("external_id", "language"))
    facts = dict(mentions_facts(mention_ids=list(Mention.objects.values_list("id", flat=True)), routed=True))

    assert stored == {"1": "de", "2": ""}
    by_external_id = {Mention.objects.get(pk=pk).external_id: f.language for pk, f in facts.items()}
    assert by_external_id == {"1": "de", "2": "en"}
