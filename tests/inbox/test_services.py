"""The ingest service: set-based, idempotent, linked to every receiving channel, cursor in the same
transaction."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection

from channels.connectors.base import EARLIEST_POST_AT, AuthorData, Post
from channels.models import Channel, QuarantinedItem
from channels.services import Quarantine
from inbox.models import Author, Mention, MentionChannel
from inbox.services import mentions_ingest
from tests.factories import ChannelFactory, segment

POSTED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def make_post(n: int, *, by: int = 1, **changes: object) -> Post:
    fields: dict[str, object] = {
        "network": "simulated",
        "external_id": f"ext-{n}",
        "kind": "mention",
        "text": f"@northwind_help where is my order #{n}?",
        "created_at": POSTED + timedelta(seconds=n),
        "author": AuthorData(
            external_id=f"a-{by}",
            handle=f"person{by}",
            display_name=f"Person {by}",
            follower_count=100 * by,
        ),
        "conversation_key": f"ext-{n}",
        "raw": {"id": f"ext-{n}", "n": n},
    }
    fields.update(changes)
    return Post(**fields)  # type: ignore[arg-type]


@pytest.mark.django_db
def test_ingest_stores_new_posts_with_their_authors_and_owning_team() -> None:
    channel = ChannelFactory(segment=segment("product-promotion"))

    result = mentions_ingest(channel=channel, posts=[make_post(1, by=1), make_post(2, by=2)])

    mentions = list(Mention.objects.order_by("external_id"))
    assert [m.external_id for m in mentions] == ["ext-1", "ext-2"]
    assert sorted(result.inserted_ids) == sorted(m.id for m in mentions)
    assert result.duplicates == 0
    # Routed as they are stored: "where is my order?" belongs to customer care, whichever account got it.
    assert {m.team_id for m in mentions} == {segment("customer-relations").team_id}
    assert all(m.routed_at is not None and m.intent == "support_question" for m in mentions)
    assert {m.status for m in mentions} == {Mention.Status.NEW}
    assert mentions[0].raw == {"id": "ext-1", "n": 1}
    assert mentions[0].created_at == POSTED + timedelta(seconds=1)
    assert sorted(Author.objects.values_list("handle", "follower_count")) == [
        ("person1", 100),
        ("person2", 200),
    ]
    assert MentionChannel.objects.filter(channel=channel).count() == 2


@pytest.mark.django_db
def test_ingesting_the_same_page_twice_stores_each_post_once() -> None:
    channel = ChannelFactory()
    posts = [make_post(n) for n in range(5)]
    mentions_ingest(channel=channel, posts=posts)

    second = mentions_ingest(channel=channel, posts=posts)

    assert second.inserted_ids == ()
    assert second.duplicates == 5
    assert Mention.objects.count() == 5
    assert MentionChannel.objects.count() == 5
    assert Author.objects.count() == 1


@pytest.mark.django_db
def test_a_post_repeated_within_one_page_is_stored_once() -> None:
    channel = ChannelFactory()

    result = mentions_ingest(channel=channel, posts=[make_post(1), make_post(1)])

    assert result.inserted == 1
    assert Mention.objects.count() == 1


@pytest.mark.django_db
def test_a_post_received_on_two_channels_is_one_mention_linked_to_both() -> None:
    help_desk = ChannelFactory(segment=segment("customer-relations"))
    shop = ChannelFactory(segment=segment("product-promotion"))
    post = make_post(7, text="@northwind_help @northwind_shop does the tent come in green?")

    first = mentions_ingest(channel=help_desk, posts=[post])
    second = mentions_ingest(channel=shop, posts=[post])

    mention = Mention.objects.get()
    assert first.inserted_ids == (mention.id,)
    assert second.inserted_ids == ()
    assert second.duplicates == 1
    assert sorted(mention.channels.values_list("slug", flat=True)) == sorted([help_desk.slug, shop.slug])
    # The first channel to receive it decided the owning team; the second receipt does not move it.
    assert mention.team_id == segment("customer-relations").team_id


@pytest.mark.django_db
def test_author_details_are_refreshed_and_first_seen_is_kept() -> None:
    channel = ChannelFactory()
    mentions_ingest(channel=channel, posts=[make_post(1)])
    first_seen = Author.objects.get().first_seen_at
    renamed = AuthorData(
        external_id="a-1",
        handle="person1_new",
        display_name="New Name",
        follower_count=5000,
        is_verified=True,
    )

    mentions_ingest(channel=channel, posts=[make_post(2, author=renamed)])

    author = Author.objects.get()
    assert (author.handle, author.display_name, author.follower_count, author.is_verified) == (
        "person1_new",
        "New Name",
        5000,
        True,
    )
    assert author.first_seen_at == first_seen
    assert author.last_seen_at > first_seen


@pytest.mark.django_db
def test_the_cursor_is_saved_with_the_posts_it_covers() -> None:
    channel = ChannelFactory(cursor={"seq": 3})

    mentions_ingest(channel=channel, posts=[make_post(4)], cursor={"seq": 4})

    assert Channel.objects.get(pk=channel.pk).cursor == {"seq": 4}


@pytest.mark.django_db
def test_a_failed_write_keeps_neither_the_posts_nor_the_cursor() -> None:
    channel = ChannelFactory(cursor={"seq": 3})
    # A real database failure part-way through the transaction: linking the receipt raises.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_receipt() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'disk on fire'; END $$ LANGUAGE plpgsql; "
            "CREATE TRIGGER refuse_receipt BEFORE INSERT ON inbox_mentionchannel "
            "FOR EACH ROW EXECUTE FUNCTION refuse_receipt();"
        )

    with pytest.raises(DatabaseError, match="disk on fire"):
        mentions_ingest(channel=channel, posts=[make_post(4)], cursor={"seq": 4})

    assert Mention.objects.count() == 0
    assert Author.objects.count() == 0
    assert Channel.objects.get(pk=channel.pk).cursor == {"seq": 3}


@pytest.mark.django_db
def test_invalid_posts_are_refused_with_a_reason_and_the_rest_is_stored() -> None:
    channel = ChannelFactory()
    posts = [
        make_post(1),
        make_post(2, kind="retweet"),
        make_post(3, created_at=datetime(2026, 11, 20, 9, 30)),
        make_post(4, external_id=""),
        make_post(5, external_id="x" * 301),
        make_post(6),
    ]

    result = mentions_ingest(channel=channel, posts=posts)

    assert [(r.index, r.reason) for r in result.rejected] == [
        (1, "unknown kind 'retweet' (expected one of dm, keyword, mention, reply)"),
        (2, "created_at must be a timezone-aware datetime"),
        (3, "the post has no external id"),
        (4, "external id is longer than 300 characters"),
    ]
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["ext-1", "ext-6"]


@pytest.mark.django_db
def test_a_post_time_no_post_can_have_is_refused_and_quarantined_whoever_sent_it() -> None:
    channel = ChannelFactory()
    far_future = datetime.fromisoformat("9999-12-31T23:59:59-05:00")
    too_early = EARLIEST_POST_AT - timedelta(seconds=1)  # the window's own edge, whatever the day
    posts = [
        make_post(1, created_at=far_future),
        make_post(2, created_at=too_early),
        make_post(3),
    ]

    result = mentions_ingest(
        channel=channel, posts=posts, quarantine=Quarantine(source=QuarantinedItem.Source.PULL)
    )

    assert [r.index for r in result.rejected] == [0, 1]
    assert result.rejected[0].reason.startswith(
        "created_at 9999-12-31T23:59:59-05:00 is more than a day in the"
    )
    assert result.rejected[1].reason == (
        "created_at 2005-12-31T23:59:59+00:00 is before 2006-01-01, earlier than any social network"
    )
    assert list(Mention.objects.values_list("external_id", flat=True)) == ["ext-3"]
    assert sorted(QuarantinedItem.objects.values_list("external_id", flat=True)) == ["ext-1", "ext-2"]


@pytest.mark.django_db
def test_payload_values_postgresql_refuses_are_cleaned_not_fatal() -> None:
    channel = ChannelFactory()
    huge = AuthorData(external_id="a-9", handle="big", follower_count=10**12)

    mentions_ingest(
        channel=channel,
        posts=[make_post(1, text="nul\x00byte", raw={"score": float("nan"), "note": "a\x00b"}, author=huge)],
    )

    mention = Mention.objects.get()
    assert mention.text == "nulbyte"
    assert mention.raw == {"score": None, "note": "ab"}
    assert mention.author.follower_count == 2**31 - 1


@pytest.mark.usefixtures("six_segments")
def test_two_concurrent_ingests_of_the_same_posts_store_each_once() -> None:
    first_channel = ChannelFactory(segment=segment("customer-relations"))
    second_channel = ChannelFactory(segment=segment("crisis-management"))
    posts = [make_post(n, by=n % 7) for n in range(200)]
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def ingest(channel: Channel) -> None:
        try:
            barrier.wait(timeout=10)
            results[channel.slug] = mentions_ingest(channel=channel, posts=posts)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ingest, args=(c,)) for c in (first_channel, second_channel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert Mention.objects.count() == 200
    assert sum(r.inserted for r in results.values()) == 200  # type: ignore[attr-defined]
    assert sum(r.duplicates for r in results.values()) == 200  # type: ignore[attr-defined]
    assert MentionChannel.objects.count() == 400
    assert Author.objects.count() == 7


@pytest.mark.django_db
def test_a_reply_joins_the_conversation_of_the_post_it_answers() -> None:
    channel = ChannelFactory()
    mentions_ingest(channel=channel, posts=[make_post(1, conversation_key="thread-1")])

    mentions_ingest(
        channel=channel,
        posts=[
            make_post(2, kind="reply", in_reply_to="ext-1", conversation_key="ext-1"),
            make_post(3, kind="reply", in_reply_to="not-stored", conversation_key="not-stored"),
        ],
    )

    keys = dict(Mention.objects.values_list("external_id", "conversation_key"))
    assert keys == {"ext-1": "thread-1", "ext-2": "thread-1", "ext-3": "not-stored"}


@pytest.mark.django_db
def test_posts_stored_unrouted_are_routed_by_the_sweeper() -> None:
    from inbox.tasks import mentions_route_unrouted_task

    channel = ChannelFactory(segment=segment("event-coverage"))
    mentions_ingest(channel=channel, posts=[make_post(1)], route=False)
    mention = Mention.objects.get()
    assert mention.routed_at is None
    assert mention.team_id == channel.owning_team_id
    Mention.objects.update(received_at=mention.received_at - timedelta(minutes=5))

    assert mentions_route_unrouted_task() == 1

    mention.refresh_from_db()
    assert mention.routed_at is not None
    assert mention.team_id == segment("customer-relations").team_id  # "where is my order?" is support's


@pytest.mark.django_db
def test_a_routing_failure_never_loses_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    from inbox import route as routing

    def broken(**_: object) -> None:
        raise RuntimeError("a bug in routing")

    monkeypatch.setattr(routing, "posts_decide", broken)
    channel = ChannelFactory(segment=segment("event-coverage"))

    result = mentions_ingest(channel=channel, posts=[make_post(1), make_post(2)], cursor={"seq": 2})

    assert result.inserted == 2
    assert Mention.objects.filter(routed_at=None).count() == 2  # the sweeper decides them later
    channel.refresh_from_db()
    assert channel.cursor == {"seq": 2}


# --- Edits by the author -----------------------------------------------------------------------------------


class _PortableConnection:
    """The database connection as the portable ingest path (SQLite's) sees it, on the test's PostgreSQL."""

    vendor = "sqlite"

    def __getattr__(self, name: str) -> object:
        return getattr(connection, name)


@pytest.fixture(params=["postgresql", "portable"])
def ingest_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each edit test runs through the PostgreSQL COPY path and through the portable one."""
    if request.param == "portable":
        monkeypatch.setattr("inbox.services.connection", _PortableConnection())
    return request.param


EDITED = POSTED + timedelta(minutes=5)


@pytest.mark.django_db
def test_an_edited_post_replaces_the_stored_text_and_keeps_the_earlier_version(ingest_path: str) -> None:
    channel = ChannelFactory()
    mentions_ingest(channel=channel, posts=[make_post(1, raw={"v": 1}, language="en")])
    edit = make_post(1, text="@northwind_help order #1 arrived broken", edited_at=EDITED, raw={"v": 2})

    result = mentions_ingest(channel=channel, posts=[edit])

    mention = Mention.objects.get()
    assert (result.inserted_ids, result.duplicates, result.edited) == ((), 1, 1)
    assert (mention.text, mention.edited_at, mention.raw["v"]) == (
        "@northwind_help order #1 arrived broken",
        EDITED,
        2,
    )
    (earlier,) = mention.edit_history
    assert (earlier["external_id"], earlier["text"], earlier["edited_at"]) == (
        "ext-1",
        "@northwind_help where is my order #1?",
        None,
    )
    assert datetime.fromisoformat(earlier["replaced_at"]) > POSTED
    assert MentionChannel.objects.count() == 1


@pytest.mark.django_db
def test_an_older_version_arriving_after_an_edit_changes_nothing(ingest_path: str) -> None:
    channel = ChannelFactory()
    mentions_ingest(channel=channel, posts=[make_post(1)])
    mentions_ingest(channel=channel, posts=[make_post(1, text="second version", edited_at=EDITED)])

    first_edit_again = make_post(1, text="first edit", edited_at=EDITED - timedelta(minutes=1))
    result = mentions_ingest(channel=channel, posts=[first_edit_again, make_post(2)])
    again = mentions_ingest(channel=channel, posts=[make_post(1)])  # the original, never edited

    mention = Mention.objects.get(external_id="ext-1")
    assert (result.edited, again.edited) == (0, 0)
    assert (mention.text, mention.edited_at) == ("second version", EDITED)
    assert [version["text"] for version in mention.edit_history] == ["@northwind_help where is my order #1?"]


@pytest.mark.django_db
def test_a_post_first_seen_already_edited_is_stored_with_its_edit_time_and_no_history(
    ingest_path: str,
) -> None:
    result = mentions_ingest(channel=ChannelFactory(), posts=[make_post(1, edited_at=EDITED)])

    mention = Mention.objects.get()
    assert (result.inserted, result.edited) == (1, 0)
    assert (mention.edited_at, mention.edit_history) == (EDITED, [])


# --- One post, several servers: canonical ids ------------------------------------------------------------


def server_copy(server: str, local_id: int, **changes: object) -> Post:
    """The same post as two servers hand it out: an id per server, one canonical id."""
    fields: dict[str, object] = {
        "network": "mastodon",
        "external_id": f"{server}:{local_id}",
        "canonical_id": "https://trails.example/users/hiker/statuses/1",
        "author": AuthorData(external_id=f"{server}:42", handle="hiker@trails.example"),
    }
    return make_post(1, **{**fields, **changes})


@pytest.mark.django_db
def test_one_post_received_on_two_servers_is_one_mention_linked_to_both_channels(ingest_path: str) -> None:
    on_a, on_b = ChannelFactory(network="mastodon"), ChannelFactory(network="mastodon")
    first = mentions_ingest(channel=on_a, posts=[server_copy("a.example", 111)])

    second = mentions_ingest(
        channel=on_b, posts=[server_copy("b.example", 999), make_post(2, network="mastodon")]
    )
    again = mentions_ingest(channel=on_b, posts=[server_copy("b.example", 999)])

    mention = Mention.objects.get(canonical_id="https://trails.example/users/hiker/statuses/1")
    assert first.inserted_ids == (mention.pk,)
    assert (second.inserted, second.duplicates, again.inserted, again.duplicates) == (1, 1, 0, 1)
    assert mention.external_id == "a.example:111"
    assert Mention.objects.count() == 2
    assert sorted(
        MentionChannel.objects.filter(mention=mention).values_list("channel_id", "external_id")
    ) == [
        (on_a.pk, ""),
        (on_b.pk, "b.example:999"),  # replies from b go to b's id for the post
    ]


@pytest.mark.django_db
def test_copies_of_one_post_from_two_servers_in_one_page_are_stored_once(ingest_path: str) -> None:
    channel = ChannelFactory(network="mastodon")

    result = mentions_ingest(
        channel=channel, posts=[server_copy("a.example", 111), server_copy("b.example", 9)]
    )

    assert (result.inserted, result.duplicates, result.rejected) == (1, 0, ())  # as a post repeated in a page
    assert Mention.objects.get().external_id == "a.example:111"


@pytest.mark.django_db
def test_an_edit_arriving_through_another_server_edits_the_one_mention(ingest_path: str) -> None:
    on_a, on_b = ChannelFactory(network="mastodon"), ChannelFactory(network="mastodon")
    mentions_ingest(channel=on_a, posts=[server_copy("a.example", 111)])

    result = mentions_ingest(
        channel=on_b, posts=[server_copy("b.example", 999, text="edited on the way", edited_at=EDITED)]
    )

    mention = Mention.objects.get()
    assert result.edited == 1
    assert (mention.text, mention.external_id) == ("edited on the way", "a.example:111")


@pytest.mark.django_db
def test_a_canonical_id_too_long_to_store_leaves_the_post_stored_by_its_external_id(ingest_path: str) -> None:
    too_long = "https://trails.example/" + "x" * 600
    channel = ChannelFactory(network="mastodon")

    result = mentions_ingest(
        channel=channel,
        posts=[
            server_copy("a.example", 1, canonical_id=too_long),
            server_copy("b.example", 2, canonical_id=too_long),
        ],
    )

    assert (result.inserted, result.rejected) == (2, ())
    assert set(Mention.objects.values_list("canonical_id", flat=True)) == {""}


@pytest.mark.django_db
def test_a_reply_through_another_server_joins_the_conversation_of_its_parent_stored_under_another_id(
    ingest_path: str,
) -> None:
    on_a, on_b = ChannelFactory(network="mastodon"), ChannelFactory(network="mastodon")
    mentions_ingest(channel=on_a, posts=[server_copy("a.example", 111, conversation_key="a.example:111")])
    mentions_ingest(channel=on_b, posts=[server_copy("b.example", 999, conversation_key="b.example:999")])
    # b's only view of the thread: its own id for the parent.
    reply = make_post(
        2,
        network="mastodon",
        external_id="b.example:1000",
        canonical_id="https://b.example/users/walker/statuses/1000",
        kind="reply",
        in_reply_to="b.example:999",
        conversation_key="b.example:999",
        author=AuthorData(external_id="b.example:43", handle="walker@b.example"),
    )

    mentions_ingest(channel=on_b, posts=[reply])

    stored = Mention.objects.get(external_id="b.example:1000")
    assert (stored.conversation_key, stored.in_reply_to) == ("a.example:111", "b.example:999")


PICTURE = "https://files.example.social/accounts/avatars/1/original/a.png"


@pytest.mark.django_db
def test_an_author_s_avatar_is_stored_replaced_by_a_new_one_and_kept_when_a_post_has_none(
    ingest_path: str,
) -> None:
    channel = ChannelFactory()
    pictured = AuthorData(external_id="a-1", handle="person1", avatar_url=PICTURE)
    mentions_ingest(channel=channel, posts=[make_post(1, author=pictured)])
    stored = Author.objects.get(external_id="a-1").avatar_url

    mentions_ingest(channel=channel, posts=[make_post(2)])  # an import without a picture
    kept = Author.objects.get(external_id="a-1").avatar_url
    newer = PICTURE.replace("a.png", "b.png")
    mentions_ingest(channel=channel, posts=[make_post(3, author=replace(pictured, avatar_url=newer))])

    assert (stored, kept) == (PICTURE, PICTURE)
    assert Author.objects.get(external_id="a-1").avatar_url == newer
    assert Author.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address",
    [
        "http://files.example.social/a.png",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "https://user:secret@files.example.social/a.png",
        "https://files.example.social/a b.png",
        "//files.example.social/a.png",
        "https://files.example.social/" + "a" * 500,
    ],
)
def test_an_avatar_address_a_page_must_not_load_is_stored_empty(ingest_path: str, address: str) -> None:
    author = AuthorData(external_id="a-9", handle="person9", avatar_url=address)

    mentions_ingest(channel=ChannelFactory(), posts=[make_post(1, author=author)])

    assert Author.objects.get(external_id="a-9").avatar_url == ""
    assert Mention.objects.count() == 1
