"""The simulated network: deterministic, continuous, realistic enough to route, and registered."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from channels.connectors.base import AuthorData, ChannelRef, Connector, ConnectorError, Post
from channels.connectors.registry import connector_for, registered_networks
from channels.connectors.simulated import (
    BRAND_TERMS,
    INTENT_HOME_SEGMENT,
    INTENTS,
    MAX_TEXT_LENGTH,
    SimulatedConnector,
)
from channels.connectors.text import reply_length, reply_limit
from inbox.models import Mention

SEED = 4242
NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
SEGMENTS = (
    "customer-relations",
    "crisis-management",
    "reputation-management",
    "event-coverage",
    "product-promotion",
    "issue-advocacy",
)


def fixed_clock() -> datetime:
    return NOW


def channel_for(segment: str, *, listening_queries: tuple[str, ...] = ()) -> ChannelRef:
    return ChannelRef(
        slug=f"northwind-{segment}",
        network="simulated",
        handle=f"@nw_{segment.split('-')[0]}",
        external_account_id=f"acct-{segment}",
        segment_slug=segment,
        listening_queries=listening_queries,
    )


def posts_for(
    segment: str, count: int, *, seed: int = SEED, listening_queries: tuple[str, ...] = ()
) -> list[Post]:
    """The first ``count`` posts of the segment's channel, in one pull."""
    connector = SimulatedConnector(seed=seed, clock=fixed_clock, page_size=count)
    channel = channel_for(segment, listening_queries=listening_queries)
    return list(connector.fetch(channel, {}).posts)


def truth(post: Post) -> dict:
    return post.raw["simulation"]


# Filters live in helpers so that the tests themselves stay free of conditions.
def with_intent(posts: list[Post], intent: str) -> list[Post]:
    return [post for post in posts if truth(post)["intent"] == intent]


def misdirected(posts: list[Post]) -> list[Post]:
    return [post for post in posts if truth(post)["misdirected"]]


def directed(posts: list[Post]) -> list[Post]:
    return [post for post in posts if not truth(post)["misdirected"]]


def of_kind(posts: list[Post], *kinds: str) -> list[Post]:
    return [post for post in posts if post.kind in kinds]


def not_of_kind(posts: list[Post], kind: str) -> list[Post]:
    return [post for post in posts if post.kind != kind]


def first_empty_pull_cursor(connector: SimulatedConnector, channel: ChannelRef) -> dict:
    """The cursor of the first trickle pull that returns nothing."""
    cursor: dict = {}
    page = connector.fetch(channel, cursor)
    while page.posts:
        cursor = dict(page.cursor)
        page = connector.fetch(channel, cursor)
    return cursor


PROMOTION = channel_for("product-promotion")


# --- Determinism and continuity -----------------------------------------------------------------------


def test_same_seed_channel_and_cursor_give_the_same_page() -> None:
    first = SimulatedConnector(seed=SEED, clock=fixed_clock).fetch(PROMOTION, {"seq": 37})
    second = SimulatedConnector(seed=SEED, clock=fixed_clock).fetch(PROMOTION, {"seq": 37})

    assert first == second
    paged_first = SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=50).fetch(PROMOTION, {})
    paged_second = SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=50).fetch(PROMOTION, {})
    assert paged_first.posts == paged_second.posts
    assert len(paged_first.posts) == 50


def test_a_different_seed_gives_different_texts() -> None:
    texts = [post.text for post in posts_for("product-promotion", 50)]
    other_texts = [post.text for post in posts_for("product-promotion", 50, seed=SEED + 1)]

    assert sum(a != b for a, b in zip(texts, other_texts, strict=True)) > 40


def test_a_different_channel_gets_different_posts() -> None:
    promotion = [post.text for post in posts_for("product-promotion", 50)]
    events = [post.text for post in posts_for("event-coverage", 50)]

    assert sum(a != b for a, b in zip(promotion, events, strict=True)) > 40


def test_post_content_does_not_depend_on_how_fetches_were_split() -> None:
    whole = SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=20).fetch(PROMOTION, {})
    half = SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=10).fetch(PROMOTION, {"seq": 10})

    assert half.posts == whole.posts[10:]
    assert half.cursor == {"seq": 20}


def test_trickle_pulls_add_up_to_one_big_pull() -> None:
    trickle = SimulatedConnector(seed=SEED, clock=fixed_clock)
    cursor: dict = {}
    trickled: list[Post] = []
    for _ in range(40):
        page = trickle.fetch(PROMOTION, cursor)
        trickled.extend(page.posts)
        cursor = dict(page.cursor)

    backfill = SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=cursor["seq"]).fetch(PROMOTION, {})
    assert trickled == list(backfill.posts)
    assert [truth(post)["seq"] for post in trickled] == list(range(1, cursor["seq"] + 1))


# --- Cursor and page size ------------------------------------------------------------------------------


def test_trickle_yields_zero_to_four_posts_and_the_cursor_advances_by_that_many() -> None:
    connector = SimulatedConnector(seed=SEED, clock=fixed_clock)
    sizes = []
    cursor: dict = {}
    for _ in range(300):
        seq = cursor.get("seq", 0)
        page = connector.fetch(PROMOTION, cursor)
        assert page.cursor["seq"] == seq + len(page.posts)
        assert [truth(post)["seq"] for post in page.posts] == list(range(seq + 1, seq + len(page.posts) + 1))
        assert page.has_more is False
        sizes.append(len(page.posts))
        cursor = dict(page.cursor)

    assert set(sizes) == {0, 1, 2, 3, 4}
    assert 1.2 <= sum(sizes) / len(sizes) <= 1.9
    assert cursor["seq"] == sum(sizes)


def test_an_empty_pull_counts_itself_so_the_next_pull_can_move_on() -> None:
    connector = SimulatedConnector(seed=SEED, clock=fixed_clock)
    cursor = first_empty_pull_cursor(connector, PROMOTION)
    seq = cursor["seq"]

    empty = connector.fetch(PROMOTION, cursor)
    assert empty.posts == ()
    assert empty.cursor == {"seq": seq, "idle": cursor.get("idle", 0) + 1}
    assert connector.fetch(PROMOTION, cursor) == empty
    pulls = [connector.fetch(PROMOTION, {"seq": seq, "idle": idle}) for idle in range(1, 20)]
    assert max(len(page.posts) for page in pulls) > 0
    assert {page.cursor["seq"] == seq + len(page.posts) for page in pulls} == {True}


def test_page_size_gives_exactly_that_many_posts() -> None:
    page = SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=7).fetch(PROMOTION, {"seq": 93})

    assert len(page.posts) == 7
    assert page.cursor == {"seq": 100}
    assert [truth(post)["seq"] for post in page.posts] == [94, 95, 96, 97, 98, 99, 100]
    assert page.has_more is False
    assert page.rejected == ()


def test_a_channel_can_ask_for_fixed_size_pulls_in_its_credentials() -> None:
    channel = ChannelRef(
        slug="bench-pull",
        network="simulated",
        handle="@bench",
        external_account_id="bench",
        segment_slug="customer-relations",
        credentials={"posts_per_pull": 500},
    )

    page = SimulatedConnector(seed=SEED, clock=fixed_clock).fetch(channel, {"seq": 1000})

    assert len(page.posts) == 500
    assert page.cursor == {"seq": 1500}
    assert SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=2).fetch(channel, {}).cursor == {
        "seq": 2
    }


@pytest.mark.parametrize("size", [-1, "500", True])
def test_a_malformed_posts_per_pull_is_a_connector_error(size: object) -> None:
    channel = ChannelRef(
        slug="bench-pull",
        network="simulated",
        handle="@bench",
        external_account_id="bench",
        segment_slug="customer-relations",
        credentials={"posts_per_pull": size},
    )

    with pytest.raises(ConnectorError, match="posts_per_pull must be a non-negative integer"):
        SimulatedConnector(seed=SEED, clock=fixed_clock).fetch(channel, {})


def test_an_empty_cursor_starts_at_the_first_post() -> None:
    page = SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=3).fetch(PROMOTION, {})

    assert [truth(post)["seq"] for post in page.posts] == [1, 2, 3]
    assert page.cursor == {"seq": 3}


@pytest.mark.parametrize(
    "cursor", [{"seq": -1}, {"seq": "12"}, {"seq": 1.5}, {"seq": True}, {"seq": 3, "idle": -1}]
)
def test_a_malformed_cursor_is_a_connector_error(cursor: dict) -> None:
    with pytest.raises(ConnectorError, match="non-negative integer seq and idle"):
        SimulatedConnector(seed=SEED, clock=fixed_clock).fetch(PROMOTION, cursor)


# --- The mix of intents ---------------------------------------------------------------------------------


def test_the_promotion_account_receives_misdirected_support_questions_and_some_spam() -> None:
    posts = posts_for("product-promotion", 2000)
    strays = misdirected(posts)
    spam = with_intent(posts, "spam")

    assert 0.12 <= len(strays) / len(posts) <= 0.30
    assert "support_question" in {truth(post)["intent"] for post in strays}
    assert 0.02 <= len(spam) / len(posts) <= 0.10
    assert {truth(post)["intent"] for post in directed(posts)} == {"purchase_question", "spam"}


def test_every_intent_appears_across_the_six_segments() -> None:
    seen = {truth(post)["intent"] for segment in SEGMENTS for post in posts_for(segment, 300)}

    assert seen == set(INTENTS)


@pytest.mark.parametrize("segment", SEGMENTS)
def test_ground_truth_says_misdirected_exactly_when_the_home_segment_differs(segment: str) -> None:
    posts = posts_for(segment, 400)

    for post in posts:
        sim = truth(post)
        assert sim["home_segment"] == (INTENT_HOME_SEGMENT[sim["intent"]] or segment)
        assert sim["misdirected"] is (sim["home_segment"] != segment)
    assert {truth(post)["home_segment"] for post in directed(posts)} == {segment}


def test_spam_belongs_to_the_channel_that_received_it() -> None:
    spam = with_intent(posts_for("event-coverage", 1000), "spam")

    assert len(spam) > 20
    assert {truth(post)["home_segment"] for post in spam} == {"event-coverage"}
    assert {truth(post)["misdirected"] for post in spam} == {False}


def test_intents_and_their_homes_cover_the_six_segments() -> None:
    assert set(INTENT_HOME_SEGMENT) == set(INTENTS)
    assert set(INTENT_HOME_SEGMENT.values()) == {*SEGMENTS, None}


def test_advocacy_has_both_supporters_and_detractors() -> None:
    advocacy = with_intent(posts_for("issue-advocacy", 400), "advocacy")

    assert {truth(post)["stance"] for post in advocacy} == {"for", "against"}


def test_posts_come_in_several_tones() -> None:
    tones = {truth(post)["tone"] for segment in SEGMENTS for post in posts_for(segment, 300)}

    assert {"polite", "angry", "sarcastic", "terse", "emoji", "shouting", "multilingual"} <= tones


def test_some_texts_carry_characters_that_need_html_escaping() -> None:
    texts = [post.text for segment in SEGMENTS for post in posts_for(segment, 300)]

    assert sum("&" in text for text in texts) > 5
    assert sum("<" in text for text in texts) > 5
    assert sum('"' in text for text in texts) > 5


# --- Shape of each post ---------------------------------------------------------------------------------


def test_external_ids_are_unique_across_channels_and_seqs() -> None:
    ids = [post.external_id for segment in SEGMENTS for post in posts_for(segment, 500)]

    assert len(ids) == 3000
    assert len(set(ids)) == 3000
    assert max(len(external_id) for external_id in ids) <= 64


def test_texts_fit_the_network_limit() -> None:
    long_query = "northwind " + "ultralight " * 30
    posts = [post for segment in SEGMENTS for post in posts_for(segment, 400)]
    posts += posts_for("customer-relations", 400, listening_queries=(long_query,))

    assert max(len(post.text) for post in posts) <= MAX_TEXT_LENGTH
    assert min(len(post.text) for post in posts) > 0


def test_created_at_is_aware_and_a_few_seconds_before_the_clock() -> None:
    posts = posts_for("crisis-management", 500)

    assert {post.created_at.utcoffset() for post in posts} == {timedelta(0)}
    assert max(post.created_at for post in posts) <= NOW
    assert min(post.created_at for post in posts) >= NOW - timedelta(seconds=10)
    assert {post.created_at.microsecond % 1000 for post in posts} == {0}


def test_the_default_clock_is_now() -> None:
    from django.utils import timezone

    before = timezone.now() - timedelta(seconds=10)
    page = SimulatedConnector(seed=SEED, page_size=20).fetch(PROMOTION, {})

    assert min(post.created_at for post in page.posts) >= before
    assert max(post.created_at for post in page.posts) <= timezone.now()


def test_replies_answer_an_earlier_post_on_the_same_channel_and_join_its_conversation() -> None:
    posts = posts_for("customer-relations", 600)
    by_id = {post.external_id: post for post in posts}
    replies = of_kind(posts, "reply")

    assert len(replies) > 50
    for reply in replies:
        parent = by_id[reply.in_reply_to]
        assert 1 <= truth(reply)["seq"] - truth(parent)["seq"] <= 5
        assert reply.conversation_key == parent.conversation_key
        assert reply.raw["referenced_tweets"] == [{"type": "replied_to", "id": parent.external_id}]
        assert reply.raw["in_reply_to_user_id"] == parent.author.external_id


def test_posts_that_are_not_replies_start_their_own_conversation() -> None:
    starters = not_of_kind(posts_for("customer-relations", 600), "reply")

    assert len(starters) > 400
    assert {post.conversation_key == post.external_id for post in starters} == {True}
    assert {post.in_reply_to for post in starters} == {""}


def test_a_reply_at_the_start_of_a_page_finds_its_thread_in_an_earlier_page() -> None:
    whole = {post.external_id: post for post in posts_for("customer-relations", 600)}
    connector = SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=1)
    channel = channel_for("customer-relations")
    singles = [connector.fetch(channel, {"seq": seq}).posts[0] for seq in range(600)]

    assert singles == list(whole.values())


def test_kinds_are_the_mention_kinds_and_all_occur() -> None:
    kinds = Counter(post.kind for post in posts_for("customer-relations", 1000))

    assert set(kinds) == set(Mention.Kind.values)
    assert kinds["mention"] > kinds["reply"] > 0
    assert kinds["mention"] > kinds["dm"] > 0
    assert kinds["mention"] > kinds["keyword"] > 0


def test_mentions_name_the_account_and_dms_do_not() -> None:
    posts = posts_for("event-coverage", 500)

    assert {"@nw_event" in post.text for post in of_kind(posts, "mention", "reply")} == {True}
    assert {"@nw_event" in post.text for post in of_kind(posts, "dm", "keyword")} == {False}


def test_keyword_hits_contain_the_listening_query_term() -> None:
    queries = ('"#Trailfest" -is:retweet lang:en',)
    hits = of_kind(posts_for("event-coverage", 600, listening_queries=queries), "keyword")

    assert len(hits) > 20
    assert {"#trailfest" in post.text.lower() for post in hits} == {True}
    assert {"is:retweet" in post.text for post in hits} == {False}


def test_keyword_hits_use_brand_terms_without_listening_queries() -> None:
    hits = of_kind(posts_for("product-promotion", 600), "keyword")

    assert len(hits) > 20
    assert {any(term.lower() in post.text.lower() for term in BRAND_TERMS) for post in hits} == {True}


def test_raw_is_a_json_serialisable_x_style_tweet_with_ground_truth() -> None:
    post = posts_for("reputation-management", 1)[0]

    raw = json.loads(json.dumps(post.raw))
    assert raw["id"] == post.external_id
    assert raw["text"] == post.text
    assert raw["author_id"] == post.author.external_id
    assert raw["conversation_id"] == post.conversation_key
    assert datetime.fromisoformat(raw["created_at"]) == post.created_at
    assert raw["created_at"].endswith("Z")
    assert set(raw["simulation"]) == {"seq", "intent", "home_segment", "tone", "misdirected", "stance"}
    assert raw["simulation"]["seq"] == 1
    assert post.network == "simulated"


def test_urls_point_at_the_simulated_host() -> None:
    posts = posts_for("product-promotion", 300)

    public = not_of_kind(posts, "dm")
    private = of_kind(posts, "dm")

    assert {
        post.url == f"https://sim.socialops.invalid/{post.author.handle}/status/{post.external_id}"
        for post in public
    } == {True}
    assert {post.url == f"https://sim.socialops.invalid/messages/{post.external_id}" for post in private} == {
        True
    }


# --- Authors --------------------------------------------------------------------------------------------


def test_authors_recur_and_are_the_same_people_on_every_channel() -> None:
    authors_by_id: dict[str, set[AuthorData]] = defaultdict(set)
    segments_by_author: dict[str, set[str]] = defaultdict(set)
    for segment in SEGMENTS:
        for post in posts_for(segment, 500):
            authors_by_id[post.author.external_id].add(post.author)
            segments_by_author[post.author.external_id].add(segment)

    assert {len(versions) for versions in authors_by_id.values()} == {1}
    assert 200 <= len(authors_by_id) <= 320
    assert max(len(segments) for segments in segments_by_author.values()) == 6


def test_author_reach_is_skewed_and_few_are_verified() -> None:
    authors = {post.author for segment in SEGMENTS for post in posts_for(segment, 500)}
    followers = sorted(author.follower_count for author in authors)

    assert followers[len(followers) // 2] < 2_000
    assert sum(count >= 100_000 for count in followers) >= 2
    assert 0.01 <= sum(author.is_verified for author in authors) / len(authors) <= 0.08
    assert max(len(author.handle) for author in authors) <= 15
    assert len({author.handle for author in authors}) == len(authors)


def test_the_same_seed_gives_the_same_authors_and_another_seed_other_ids() -> None:
    first = {post.author for post in posts_for("customer-relations", 200)}
    again = {post.author for post in posts_for("customer-relations", 200)}
    other = {post.author for post in posts_for("customer-relations", 200, seed=SEED + 1)}

    assert first == again
    assert {author.external_id for author in first}.isdisjoint({author.external_id for author in other})


# --- Registry and settings ------------------------------------------------------------------------------


def test_the_registry_builds_a_simulated_connector() -> None:
    connector = connector_for("simulated")

    assert isinstance(connector, SimulatedConnector)
    assert isinstance(connector, Connector)
    assert connector.network == "simulated"
    assert "simulated" in registered_networks()


def test_the_seed_defaults_to_the_setting(settings) -> None:
    settings.SOCIALOPS_SIMULATED_SEED = 777

    assert SimulatedConnector().seed == 777
    assert SimulatedConnector(page_size=5, clock=fixed_clock).fetch(PROMOTION, {}) == SimulatedConnector(
        seed=777, page_size=5, clock=fixed_clock
    ).fetch(PROMOTION, {})


# --- Bluesky-shaped posts ----------------------------------------------------------------------------------


def _bluesky_channel() -> ChannelRef:
    return ChannelRef(
        slug="northwind-bsky",
        network="simulated",
        handle="@northwind.bsky.social",
        external_account_id="sim-northwind-bsky",
        segment_slug="customer-relations",
        credentials={"shape": "bluesky"},
    )


def _bluesky_posts(count: int) -> list[Post]:
    return list(
        SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=count).fetch(_bluesky_channel(), {}).posts
    )


def test_a_bluesky_shaped_channel_gets_at_uris_dids_and_bsky_social_handles() -> None:
    posts = _bluesky_posts(200)
    public = [p for p in posts if p.kind != "dm"]
    dms = [p for p in posts if p.kind == "dm"]

    assert all(
        re.fullmatch(r"at://did:plc:[a-z2-7]{24}/app\.bsky\.feed\.post/3[a-z2-7]{12}", p.external_id)
        for p in public
    )
    assert all(len(p.external_id) == 70 for p in public)
    assert all(p.external_id.startswith(f"at://{p.author.external_id}/") for p in public)
    assert all(p.author.handle.endswith(".bsky.social") for p in posts)
    assert all(re.fullmatch(r"chat:sim-convo-[a-z2-7]{24}:3[a-z2-7]{12}", p.external_id) for p in dms)
    assert len({p.external_id for p in posts}) == len(posts)
    assert max(reply_length("bluesky", p.text) for p in posts) <= reply_limit("bluesky")
    assert {"@northwind.bsky.social" in p.text for p in public if p.kind == "mention"} == {True}


def test_bluesky_shaped_replies_carry_root_and_parent_in_the_notification_record() -> None:
    posts = _bluesky_posts(200)
    by_id = {p.external_id: p for p in posts}
    replies = [p for p in posts if p.kind == "reply"]

    assert replies
    for reply in replies:
        record = reply.raw["record"]
        assert reply.raw["uri"] == reply.external_id
        assert reply.raw["reason"] == "reply"
        assert record["reply"]["parent"]["uri"] == reply.in_reply_to
        assert record["reply"]["root"]["uri"] == reply.conversation_key
        assert reply.in_reply_to in by_id
        assert record["langs"] == [reply.raw["lang"]]


def test_the_bluesky_shape_changes_how_posts_look_not_what_the_stream_holds() -> None:
    x_shaped = SimulatedConnector(seed=SEED, clock=fixed_clock, page_size=120).fetch(
        ChannelRef(**{**_bluesky_channel().__dict__, "credentials": {}}), {}
    )

    bluesky_shaped = _bluesky_posts(120)

    assert [truth(p) for p in bluesky_shaped] == [truth(p) for p in x_shaped.posts]
    # A reply to a direct message cannot be threaded on Bluesky: it arrives as a mention.
    assert {(x.kind, b.kind) for x, b in zip(x_shaped.posts, bluesky_shaped, strict=True)} == {
        ("mention", "mention"),
        ("reply", "reply"),
        ("reply", "mention"),
        ("dm", "dm"),
        ("keyword", "keyword"),
    }
    assert {p.external_id[:4] for p in x_shaped.posts} == {"sim-"}


@pytest.mark.django_db
def test_bluesky_shaped_posts_are_stored_with_their_long_ids() -> None:
    from inbox.pulls import channel_pull
    from tests.factories import ChannelFactory

    channel = ChannelFactory(
        network="simulated",
        handle="@northwind.bsky.social",
        credentials={"shape": "bluesky", "posts_per_pull": 40},
    )

    result = channel_pull(channel_id=channel.pk, max_pages=1)

    assert (result.outcome, result.inserted, result.rejected) == ("ok", 40, 0)
    assert Mention.objects.filter(external_id__startswith="at://did:plc:").count() > 30
