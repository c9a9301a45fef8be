"""import_mentions: a JSON Lines file goes through the ingest into the channel's inbox; bad lines are
quarantined with their line numbers and reasons, and make the command fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from channels.models import Channel, QuarantinedItem
from inbox.management.commands import import_mentions
from inbox.models import Author, Mention, MentionChannel
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, segment

POSTED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def line(n: int, **changes: Any) -> dict[str, Any]:
    """One well-formed line of the import format; ``changes`` set (or, with None, drop) fields."""
    item: dict[str, Any] = {
        "external_id": f"imp-{n}",
        "text": f"@northwind_help my order #{n} never arrived",
        "author_handle": f"@Walker{n}",
        "created_at": (POSTED + timedelta(minutes=n)).isoformat().replace("+00:00", "Z"),
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not None}


def jsonl(tmp_path: Path, *lines: dict[str, Any] | str, name: str = "mentions.jsonl") -> Path:
    """A JSON Lines file: dicts are written as JSON, strings as they are (for lines that are not JSON)."""
    path = tmp_path / name
    path.write_text(
        "".join((json.dumps(item) if isinstance(item, dict) else item) + "\n" for item in lines),
        encoding="utf-8",
    )
    return path


def run(path: Path, *, channel: str = "northwind-help", **options: Any) -> tuple[str, str]:
    """Run the command with the progress bar off; return what it wrote to stdout and stderr."""
    out, err = StringIO(), StringIO()
    call_command(
        "import_mentions", str(path), channel=channel, no_progress=True, stdout=out, stderr=err, **options
    )
    return out.getvalue(), err.getvalue()


def run_failing(path: Path, **options: Any) -> tuple[str, CommandError]:
    """Run a command that must fail; return its stdout and the error."""
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command(
            "import_mentions",
            str(path),
            channel="northwind-help",
            no_progress=True,
            stdout=out,
            stderr=StringIO(),
            **options,
        )
    return out.getvalue(), failure.value


@pytest.fixture
def channel(db: None) -> Channel:
    return ChannelFactory(
        slug="northwind-help", segment=segment("customer-relations"), cursor={"seq": 7}, network="simulated"
    )


def test_each_line_becomes_a_mention_of_the_channel_owned_by_its_team(
    tmp_path: Path, channel: Channel
) -> None:
    path = jsonl(tmp_path, line(1), line(2), line(3))

    out, _ = run(path)

    assert out == "inserted 3, duplicates 0, rejected 0\n"
    mentions = list(Mention.objects.order_by("external_id"))
    assert [(m.external_id, m.network, m.team_id) for m in mentions] == [
        (f"imp-{n}", "simulated", segment("customer-relations").team_id) for n in (1, 2, 3)
    ]
    assert sorted(
        MentionChannel.objects.filter(channel=channel).values_list("mention__external_id", flat=True)
    ) == [
        "imp-1",
        "imp-2",
        "imp-3",
    ]
    assert QuarantinedItem.objects.count() == 0
    channel.refresh_from_db()
    assert channel.cursor == {"seq": 7}  # an import is not a pull: where the next pull starts is untouched


def test_optional_fields_fill_the_mention_and_its_author(tmp_path: Path, channel: Channel) -> None:
    full = line(
        1,
        author_id="991",
        author_name="Robin Walker",
        author_followers=1520,
        in_reply_to="imp-0",
        network="x",
        kind="reply",
        url="https://x.com/Walker1/status/991",
        created_at="2026-11-20T11:30:00+02:00",
        extra={"lang": "en"},
    )
    path = jsonl(tmp_path, full, line(2))

    run(path)

    replied = Mention.objects.select_related("author").get(external_id="imp-1")
    assert (replied.network, replied.kind, replied.url) == ("x", "reply", "https://x.com/Walker1/status/991")
    assert (replied.in_reply_to, replied.conversation_key) == ("imp-0", "imp-0")
    assert replied.created_at == POSTED
    assert replied.raw == full
    assert (replied.author.external_id, replied.author.handle, replied.author.display_name) == (
        "991",
        "Walker1",
        "Robin Walker",
    )
    assert replied.author.follower_count == 1520
    plain = Mention.objects.select_related("author").get(external_id="imp-2")
    assert (plain.network, plain.kind, plain.url) == ("simulated", "mention", "")
    assert (plain.in_reply_to, plain.conversation_key) == ("", "imp-2")
    # Without author_id the author is named by the handle, lowercased and without "@".
    assert (plain.author.external_id, plain.author.handle, plain.author.follower_count) == (
        "walker2",
        "Walker2",
        0,
    )


def test_importing_the_same_file_again_stores_nothing_new(tmp_path: Path, channel: Channel) -> None:
    path = jsonl(tmp_path, line(1), line(2), line(3))
    run(path)
    first_ids = sorted(Mention.objects.values_list("id", flat=True))

    out, _ = run(path)

    assert out == "inserted 0, duplicates 3, rejected 0\n"
    assert sorted(Mention.objects.values_list("id", flat=True)) == first_ids
    assert MentionChannel.objects.count() == 3
    assert Author.objects.count() == 3


def test_a_post_already_stored_from_a_pull_counts_as_a_duplicate(tmp_path: Path, channel: Channel) -> None:
    MentionFactory(network="simulated", external_id="imp-2", text="pulled earlier")
    path = jsonl(tmp_path, line(1), line(2))

    out, _ = run(path)

    assert out == "inserted 1, duplicates 1, rejected 0\n"
    assert Mention.objects.get(external_id="imp-2").text == "pulled earlier"


BAD_LINES: list[dict[str, Any] | str] = [
    line(1),
    '{"external_id": "imp-2", "text": "cut off',
    line(3, text=None),
    line(4, created_at="2026-11-20T09:34:00"),
    line(5, author_followers=-5),
    line(6, network="myspace"),
    line(7),
    line(8, created_at="2026-11-20"),
    "[1, 2]",
    line(10, kind="retweet"),
    line(11, text=42, external_id=11),
]

EXPECTED_REASONS = [
    (2, "not valid JSON: Unterminated string starting at: column 34"),
    (3, "missing required field text"),
    (
        4,
        "created_at '2026-11-20T09:34:00' has no UTC offset; add one (Z for UTC, or e.g. +02:00) so the "
        "time is not guessed",
    ),
    (5, "author_followers must be a whole number, 0 or more, not -5"),
    (6, "unknown network 'myspace' (expected one of bluesky, mastodon, simulated, x)"),
    (
        8,
        "created_at '2026-11-20' is a date without a time; give a time with a UTC offset, "
        "e.g. 2026-11-20T09:30:00Z",
    ),
    (9, "not a JSON object but an array"),
    (10, "unknown kind 'retweet' (expected one of dm, keyword, mention, reply)"),
    (11, "external_id must be a string, not a number; text must be a string, not a number"),
]


def test_bad_lines_are_quarantined_with_line_and_reason_and_the_rest_is_stored(
    tmp_path: Path, channel: Channel
) -> None:
    path = jsonl(tmp_path, *BAD_LINES)

    out, error = run_failing(path)

    assert str(error) == "9 lines were rejected; they are kept in the quarantine table"
    assert out.splitlines() == [
        "inserted 2, duplicates 0, rejected 9",
        *(f"line {number}: {reason}" for number, reason in EXPECTED_REASONS),
    ]
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["imp-1", "imp-7"]
    quarantined = QuarantinedItem.objects.order_by("line_number")
    assert [(q.line_number, q.error) for q in quarantined] == EXPECTED_REASONS
    assert {(q.channel_id, q.source) for q in quarantined} == {(channel.pk, "import")}
    assert [(q.line_number, q.external_id, q.network) for q in quarantined] == [
        (2, "", "simulated"),
        (3, "imp-3", "simulated"),
        (4, "imp-4", "simulated"),
        (5, "imp-5", "simulated"),
        (6, "imp-6", "simulated"),  # not a known network, so the channel's
        (8, "imp-8", "simulated"),
        (9, "", "simulated"),
        (10, "imp-10", "simulated"),
        (11, "11", "simulated"),
    ]
    by_line = {q.line_number: q.raw for q in quarantined}
    assert by_line[2] == {"line": '{"external_id": "imp-2", "text": "cut off'}
    assert by_line[9] == {"line": "[1, 2]"}
    assert by_line[5] == line(5, author_followers=-5)
    assert by_line[10] == line(10, kind="retweet")


def test_importing_a_file_with_bad_lines_again_does_not_quarantine_them_twice(
    tmp_path: Path, channel: Channel
) -> None:
    path = jsonl(tmp_path, *BAD_LINES)
    run_failing(path)

    out, error = run_failing(path)

    assert out.splitlines()[0] == "inserted 0, duplicates 2, rejected 9"
    assert str(error) == "9 lines were rejected; they are kept in the quarantine table"
    assert QuarantinedItem.objects.count() == 9
    assert Mention.objects.count() == 2


def test_only_the_first_twenty_rejections_are_listed(tmp_path: Path, channel: Channel) -> None:
    path = jsonl(tmp_path, *(line(n, text=None) for n in range(1, 26)))

    out, error = run_failing(path)

    assert out.splitlines() == [
        "inserted 0, duplicates 0, rejected 25",
        *(f"line {n}: missing required field text" for n in range(1, 21)),
        "... and 5 more",
    ]
    assert str(error) == "25 lines were rejected; they are kept in the quarantine table"
    assert QuarantinedItem.objects.count() == 25


def test_lines_refused_by_the_ingest_keep_their_line_numbers_across_batches(
    tmp_path: Path, channel: Channel
) -> None:
    path = jsonl(tmp_path, line(1), line(2), line(3), line(4, kind="retweet"), line(5), line(3))

    out, _ = run_failing(path, batch_size=2)

    assert out.splitlines() == [
        "inserted 4, duplicates 1, rejected 1",
        "line 4: unknown kind 'retweet' (expected one of dm, keyword, mention, reply)",
    ]
    assert list(QuarantinedItem.objects.values_list("line_number", "external_id")) == [(4, "imp-4")]
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == [
        "imp-1",
        "imp-2",
        "imp-3",
        "imp-5",
    ]


def test_a_byte_order_mark_blank_lines_and_crlf_line_ends_are_read(tmp_path: Path, channel: Channel) -> None:
    path = tmp_path / "windows.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(line(1)).encode()
        + b"\r\n\r\n   \r\n"
        + json.dumps(line(4, created_at="2026-11-20T09:34:00")).encode()
        + b"\r\n\n"
        + json.dumps(line(6)).encode()  # no line end after the last line
    )

    out, error = run_failing(path)

    assert out.splitlines() == [
        "inserted 2, duplicates 0, rejected 1",
        "line 4: created_at '2026-11-20T09:34:00' has no UTC offset; add one (Z for UTC, or e.g. +02:00) so "
        "the time is not guessed",
    ]
    assert str(error) == "1 line was rejected; it is kept in the quarantine table"
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["imp-1", "imp-6"]


def test_values_postgresql_cannot_store_are_quarantined_not_fatal(tmp_path: Path, channel: Channel) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(
        b'{"external_id": "imp-1", "author_followers": NaN}\n'
        + b"\xff\xfe not utf-8\n"
        + json.dumps(line(3, text="nul \x00 inside", created_at="2026-11-20")).encode()
        + b"\n"
        + b'{"external_id": "imp-4", "author_followers": 1e999}\n'
        + json.dumps(line(5)).encode()
        + b"\n"
    )

    out, _ = run_failing(path)

    assert out.splitlines()[0] == "inserted 1, duplicates 0, rejected 4"
    quarantined = {q.line_number: (q.error, q.raw) for q in QuarantinedItem.objects.all()}
    assert quarantined[1] == (
        "not valid JSON: NaN is not a JSON value",
        {"line": '{"external_id": "imp-1", "author_followers": NaN}'},
    )
    assert quarantined[2][1] == {"line": "\ufffd\ufffd not utf-8"}
    assert quarantined[3][1]["text"] == "nul  inside"
    assert quarantined[4][1]["author_followers"] is None
    assert Mention.objects.get().external_id == "imp-5"


def test_the_progress_bar_is_drawn_on_stderr(tmp_path: Path, channel: Channel) -> None:
    path = jsonl(tmp_path, line(1))
    err = StringIO()

    call_command("import_mentions", str(path), channel="northwind-help", stdout=StringIO(), stderr=err)

    assert "import mentions.jsonl: 100%" in err.getvalue()


def test_an_unknown_channel_is_named_with_the_known_ones(tmp_path: Path, channel: Channel) -> None:
    ChannelFactory(slug="northwind-shop")
    path = jsonl(tmp_path, line(1))

    with pytest.raises(CommandError) as failure:
        run(path, channel="northwind-hlep")

    assert (
        str(failure.value)
        == "no channel with slug 'northwind-hlep'; known channels: northwind-help, northwind-shop"
    )
    assert Mention.objects.count() == 0


def test_a_missing_file_is_named(tmp_path: Path, channel: Channel) -> None:
    path = tmp_path / "nowhere.jsonl"

    with pytest.raises(CommandError) as failure:
        run(path)

    assert str(failure.value) == f"{path}: no such file"
    assert QuarantinedItem.objects.count() == 0


# --- Hostile lines (issue 11) ------------------------------------------------------------------------------


def test_a_post_time_outside_2006_to_a_day_from_now_is_quarantined_and_the_rest_stored(
    tmp_path: Path, channel: Channel
) -> None:
    late = (timezone.now() + timedelta(days=1, hours=1)).isoformat()
    nearly_tomorrow = (timezone.now() + timedelta(hours=23)).isoformat()
    path = jsonl(
        tmp_path,
        line(1, created_at="9999-12-31T23:59:59-05:00"),  # year 10000 in UTC
        line(2, created_at="0001-01-01T00:00:00+05:00"),  # 1 BC in UTC
        line(3, created_at="2005-12-31T23:59:59Z"),
        line(4, created_at=late),
        line(5, created_at=nearly_tomorrow),
        line(6),
    )

    out, _ = run_failing(path)

    assert out.splitlines()[0] == "inserted 2, duplicates 0, rejected 4"
    reasons = dict(QuarantinedItem.objects.values_list("line_number", "error"))
    assert reasons[1].startswith(
        "created_at 9999-12-31T23:59:59-05:00 is more than a day in the future (now is "
    )
    assert reasons[2] == (
        "created_at 0001-01-01T00:00:00+05:00 is before 2006-01-01, earlier than any social network"
    )
    assert (
        reasons[3]
        == "created_at 2005-12-31T23:59:59+00:00 is before 2006-01-01, earlier than any social network"
    )
    assert reasons[4].startswith(f"created_at {late} is more than a day in the future")
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["imp-5", "imp-6"]


def test_the_inbox_still_answers_after_importing_a_post_from_year_9999(
    tmp_path: Path, channel: Channel, client: Any
) -> None:
    member = MembershipFactory(team=segment("customer-relations").team).user
    run_failing(jsonl(tmp_path, line(1, created_at="9999-12-31T23:59:59-05:00"), line(2)))
    client.force_login(member)

    responses = [client.get(url) for url in ("/inbox/?queue=all", "/api/v1/mentions/")]

    assert [response.status_code for response in responses] == [200, 200]
    assert [m["external_id"] for m in responses[1].json()["results"]] == ["imp-2"]


def test_nesting_and_lone_surrogates_are_quarantined_and_their_batch_and_the_file_go_on(
    tmp_path: Path, channel: Channel
) -> None:
    path = jsonl(
        tmp_path,
        line(1),
        "[" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        json.dumps(line(4)).replace('"text": "', '"text": "\\ud800'),
        line(5),
        line(6),
    )

    out, error = run_failing(path, batch_size=5, max_line_bytes=1_000_000)  # longer than 256 KiB lines

    assert out.splitlines() == [
        "inserted 3, duplicates 0, rejected 3",
        "line 2: the JSON nests 100000 levels deep; at most 64 are accepted",
        "line 3: the JSON nests 50000 levels deep; at most 64 are accepted",
        "line 4: the JSON at text holds a lone surrogate escape (\\ud800-\\udfff), not a character",
    ]
    assert str(error) == "3 lines were rejected; they are kept in the quarantine table"
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["imp-1", "imp-5", "imp-6"]
    quarantined = {q.line_number: q.raw["line"] for q in QuarantinedItem.objects.all()}
    assert quarantined[2] == "[" * 10_000  # the first 10,000 characters
    assert quarantined[4] == json.dumps(line(4)).replace('"text": "', '"text": "\\ud800')


def test_a_line_the_database_refuses_costs_only_that_line(
    tmp_path: Path, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the loader's check a lone surrogate reaches PostgreSQL, which cannot encode it: the stand-in
    # for any value no check foresaw.
    monkeypatch.setattr(import_mentions, "line_loads", json.loads)
    path = jsonl(
        tmp_path,
        line(1),
        json.dumps(line(2)).replace('"text": "', '"text": "\\ud800'),
        line(3),
        line(4),
    )

    out, _ = run_failing(path, batch_size=3)

    assert out.splitlines()[0] == "inserted 3, duplicates 0, rejected 1"
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["imp-1", "imp-3", "imp-4"]
    (item,) = QuarantinedItem.objects.all()
    assert (item.line_number, item.external_id) == (2, "imp-2")
    assert item.error.startswith("the database refused it: ")
    assert json.loads(item.raw["line"])["external_id"] == "imp-2"


def test_a_line_over_the_limit_is_not_parsed_and_the_file_goes_on(tmp_path: Path, channel: Channel) -> None:
    path = jsonl(tmp_path, line(1), line(2, text="x" * 1_000_000), line(3))

    out, _ = run_failing(path)

    assert out.splitlines() == [
        "inserted 2, duplicates 0, rejected 1",
        f"line 2: the line is {len(json.dumps(line(2, text='x' * 1_000_000))) + 1:,} bytes long; at most "
        "262,144 are read (--max-line-bytes)",
    ]
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["imp-1", "imp-3"]
    assert QuarantinedItem.objects.get().raw["line"].startswith('{"external_id": "imp-2", "text": "xxxx')


EXACTLY_AT_THE_LIMIT = json.dumps(line(1, text="y" * 100))
OVER_THE_LIMIT = json.dumps(line(2, text="y" * 101))
LIMIT = len(EXACTLY_AT_THE_LIMIT)


@pytest.mark.parametrize(
    ("options", "setting"),
    [({"max_line_bytes": LIMIT}, 1_000_000), ({}, LIMIT)],
    ids=["option", "setting"],
)
def test_the_line_limit_is_an_option_and_a_setting(
    tmp_path: Path, channel: Channel, settings: Any, options: dict[str, int], setting: int
) -> None:
    settings.SOCIALOPS_IMPORT_MAX_LINE_BYTES = setting
    path = jsonl(tmp_path, EXACTLY_AT_THE_LIMIT, OVER_THE_LIMIT, line(3))

    out, _ = run_failing(path, **options)

    assert out.splitlines() == [
        "inserted 2, duplicates 0, rejected 1",
        f"line 2: the line is {LIMIT + 2} bytes long; at most {LIMIT} are read (--max-line-bytes)",
    ]


@pytest.mark.parametrize(
    ("network", "kind", "longest", "too_long", "limit", "length"),
    [
        ("x", "mention", "a" * 25_000, "a" * 25_001, "25,000", "25,001"),  # X's long posts
        ("x", "mention", "字" * 25_000, "字" * 25_001, "25,000", "25,001"),  # characters, not X's weights
        ("x", "dm", "a" * 10_000, "a" * 10_001, "10,000", "10,001"),
        ("mastodon", "mention", "a" * 25_000, "a" * 25_001, "25,000", "25,001"),  # servers set their own
        ("simulated", "mention", "a" * 25_000, "a" * 25_001, "25,000", "25,001"),
    ],
)
def test_a_text_longer_than_its_network_allows_is_quarantined(
    tmp_path: Path,
    channel: Channel,
    network: str,
    kind: str,
    longest: str,
    too_long: str,
    limit: str,
    length: str,
) -> None:
    path = jsonl(
        tmp_path,
        line(1, network=network, kind=kind, text=longest),
        line(2, network=network, kind=kind, text=too_long),
    )

    out, _ = run_failing(path)

    assert out.splitlines() == [
        "inserted 1, duplicates 0, rejected 1",
        f"line 2: text is {length} characters long; a {network} {kind} has at most {limit}",
    ]
    assert list(Mention.objects.values_list("external_id", flat=True)) == ["imp-1"]
