"""Import mentions from a JSON Lines file into a channel, through the same ingest (and routing) as a pull.

The file format is an interface other tools rely on (docs/import-format.md). One JSON object per line:

- required: ``external_id`` (string), ``text`` (string), ``author_handle`` (string, a leading "@" is
  dropped), ``created_at`` (ISO-8601 date and time with a UTC offset, e.g. ``2026-05-01T09:30:00Z``);
- optional: ``author_id`` (string; when absent the author's id on the network is taken to be the handle,
  lowercased, without "@", so the same handle is the same author on every import), ``author_name``
  (string), ``author_followers`` (whole number, 0 or more), ``in_reply_to`` (external id of the parent
  post; it is also the post's conversation key, otherwise the post is its own), ``network`` (one of the
  Network values; the channel's network when absent), ``kind`` (mention, reply, dm or keyword; "mention"
  when absent), ``url`` (string).

Other fields are kept in the mention's raw payload. Blank lines are skipped; a UTF-8 byte order mark and
CRLF line ends are accepted. A line that cannot be stored is kept in the quarantine table with its line
number and the reason, the rest of the file is stored, and the command exits with status 1. So is a line
longer than ``--max-line-bytes`` (``SOCIALOPS_IMPORT_MAX_LINE_BYTES``, 64 KiB by default: it is not even
parsed), one nested more than 64 levels deep, one holding a lone surrogate escape, a ``text`` longer than
a post on its network can be (X 280 weighted characters, 10,000 in a DM; Mastodon 500), and a
``created_at`` before 2006 or more than a day ahead of now.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection, transaction
from tqdm import tqdm

from channels.command_args import channel_from_slug, positive_int
from channels.connectors.base import Post
from channels.connectors.registry import registered_networks
from channels.models import Channel, QuarantinedItem
from foundation.parsers import JsonRefused
from inbox.lines import LineRefused, json_type, line_loads, post_from_object
from inbox.payloads import storable_value
from inbox.services import mentions_ingest

DEFAULT_BATCH_SIZE = 500  # lines per ingest pass: set-based enough to be fast, short enough per transaction
REJECTIONS_SHOWN = 20  # enough to see what is wrong with an export; the rest is in the quarantine table
QUARANTINED_LINE_LIMIT = 10_000  # characters of an unparseable line kept: enough to see what it was
UTF8_BOM = b"\xef\xbb\xbf"  # editors on Windows start UTF-8 files with it; it is not part of the first line
READ_CHUNK = 1024 * 1024  # bytes read at a time while skipping the rest of an over-long line


@dataclass(frozen=True)
class Rejection:
    """A line that was not stored: where it is, why, and what it held, as the quarantine keeps it."""

    line_number: int
    reason: str
    raw: dict[str, Any]
    external_id: str
    network: str


@dataclass
class ImportTotals:
    """Counts over the whole file; every non-blank line is exactly one of inserted, duplicate, rejected."""

    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    shown: list[Rejection] = field(default_factory=list)  # the first REJECTIONS_SHOWN, in line order


@dataclass(frozen=True)
class _ParsedLine:
    line_number: int
    post: Post
    raw: dict[str, Any]


class Command(BaseCommand):
    help = (
        "Import mentions from a JSON Lines file into a channel's inbox, through the same ingest and routing "
        "as a pull. Each line is one JSON object with external_id, text, author_handle and created_at "
        "(ISO-8601 with a UTC offset, e.g. 2026-05-01T09:30:00Z), and optionally author_id, author_name, "
        "author_followers, in_reply_to, network, kind and url. Importing the same file again stores "
        "nothing new. Lines that cannot be stored are kept in the quarantine table with their line number "
        "and reason, and the command then exits with status 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE.jsonl", help="The JSON Lines file to import (UTF-8).")
        parser.add_argument(
            "--channel",
            required=True,
            metavar="SLUG",
            help="Slug of the channel (brand account) that received these mentions; its team owns them.",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=DEFAULT_BATCH_SIZE,
            metavar="N",
            help=f"Lines stored per ingest pass and transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--max-line-bytes",
            type=positive_int,
            default=None,
            metavar="N",
            help=(
                "Longest line read, in bytes; a longer one is quarantined without being parsed (default "
                "SOCIALOPS_IMPORT_MAX_LINE_BYTES, 65536)."
            ),
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw the progress bar on standard error."
        )

    def handle(self, *args: object, **options: Any) -> None:
        channel = channel_from_slug(options["channel"])
        path = Path(options["file"])
        batch_size: int = options["batch_size"]
        max_line_bytes: int = options["max_line_bytes"] or settings.SOCIALOPS_IMPORT_MAX_LINE_BYTES
        # The stream the command was given (call_command(stderr=...)) or the real one: tqdm redraws with
        # carriage returns, which Django's OutputWrapper would break by appending a newline to each write.
        bar_stream = options.get("stderr") or sys.stderr
        totals = ImportTotals()
        with (
            _open(path) as lines,
            tqdm(
                total=path.stat().st_size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"import {path.name}",
                file=bar_stream,
                disable=options["no_progress"],
            ) as bar,
        ):
            parsed: list[_ParsedLine] = []
            refused: list[Rejection] = []
            for line_number, (line, size, too_long) in enumerate(_read_lines(lines, max_line_bytes), start=1):
                bar.update(size)
                if line_number == 1:
                    line = line.removeprefix(UTF8_BOM)
                if too_long:
                    outcome = _too_long(line, size, line_number, channel.network, max_line_bytes)
                else:
                    outcome = _parse_line(line, line_number=line_number, default_network=channel.network)
                if outcome is None:
                    continue
                if isinstance(outcome, Rejection):
                    refused.append(outcome)
                else:
                    parsed.append(outcome)
                if len(parsed) + len(refused) >= batch_size:
                    _store_batch(channel, parsed, refused, totals)
                    parsed, refused = [], []
            _store_batch(channel, parsed, refused, totals)
        self._report(totals)

    def _report(self, totals: ImportTotals) -> None:
        self.stdout.write(
            f"inserted {totals.inserted}, duplicates {totals.duplicates}, rejected {totals.rejected}"
        )
        for rejection in totals.shown:
            self.stdout.write(f"line {rejection.line_number}: {rejection.reason}")
        if totals.rejected > len(totals.shown):
            self.stdout.write(f"... and {totals.rejected - len(totals.shown)} more")
        if totals.rejected:
            said = "line was rejected; it is" if totals.rejected == 1 else "lines were rejected; they are"
            raise CommandError(f"{totals.rejected} {said} kept in the quarantine table")


def _open(path: Path) -> IO[bytes]:
    """The file opened as bytes: lines are split on "\\n" only (a U+2028 inside a string is not a line end),
    their sizes feed the progress bar, and a line that is not UTF-8 is refused alone."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{path} is a directory, not a JSON Lines file") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_lines(file: IO[bytes], limit: int) -> Iterator[tuple[bytes, int, bool]]:
    """Each line, its size in bytes, and whether it is longer than ``limit`` bytes (its line end aside). A
    longer line is never held whole: its first bytes are kept for the quarantine, the rest is read past."""
    while True:
        line = file.readline(limit + 2)  # room for CRLF: a line of exactly ``limit`` bytes is read whole
        if not line:
            return
        size = len(line)
        if not line.endswith(b"\n"):
            while rest := file.readline(READ_CHUNK):
                size += len(rest)
                if rest.endswith(b"\n"):
                    break
        yield line, size, len(line.rstrip(b"\r\n")) > limit


# --- Parsing one line -------------------------------------------------------------------------------------


def _too_long(line: bytes, size: int, line_number: int, network: str, limit: int) -> Rejection:
    return _unparseable(
        line.decode("utf-8", "replace"),
        line_number,
        network,
        f"the line is {size:,} bytes long; at most {limit:,} are read (--max-line-bytes)",
    )


def _parse_line(line: bytes, *, line_number: int, default_network: str) -> _ParsedLine | Rejection | None:
    """A post, a rejection, or None for a blank line."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _unparseable(
            line.decode("utf-8", "replace"), line_number, default_network, f"not UTF-8 ({exc})"
        )
    text = text.rstrip("\r\n")  # so a JSON error points into the line, not at its end
    if not text.strip():
        return None
    try:
        value = line_loads(text)
    except JsonRefused as exc:  # valid JSON, but nested too deeply or holding a lone surrogate
        return _unparseable(text, line_number, default_network, str(exc))
    except ValueError as exc:  # json.JSONDecodeError and LineRefused are ValueErrors
        return _unparseable(text, line_number, default_network, f"not valid JSON: {_json_error(exc)}")
    if not isinstance(value, dict):
        return _unparseable(text, line_number, default_network, f"not a JSON object but {json_type(value)}")
    try:
        post = post_from_object(value, default_network=default_network)
    except LineRefused as exc:
        network = value.get("network")
        return Rejection(
            line_number=line_number,
            reason=str(exc),
            raw=value,
            external_id=_external_id_of(value),
            network=network if network in registered_networks() else default_network,
        )
    return _ParsedLine(line_number=line_number, post=post, raw=value)


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg}: column {exc.colno}"  # the line number is ours; JSON's own is always 1
    return str(exc)


def _external_id_of(item: Mapping[str, Any]) -> str:
    value = item.get("external_id")
    return "" if value is None else str(value)[:200]


def _unparseable(text: str, line_number: int, network: str, reason: str) -> Rejection:
    line = text.rstrip("\r\n")  # a line that was not UTF-8 still has its line end
    return Rejection(
        line_number=line_number,
        reason=reason,
        raw={"line": line[:QUARANTINED_LINE_LIMIT]},
        external_id="",
        network=network,
    )


# --- Storing a batch --------------------------------------------------------------------------------------


def _store_batch(
    channel: Channel, parsed: Sequence[_ParsedLine], refused: Sequence[Rejection], totals: ImportTotals
) -> None:
    """Ingest the batch's posts and quarantine its rejected lines in one transaction.

    Should the database refuse the batch anyway (a value no check above foresaw), the lines are stored one
    by one instead: the one it refuses is quarantined with the database's reason, and the batch's other
    lines, and the rest of the file, are still stored.
    """
    if not parsed and not refused:
        return
    # Django's errors, the driver's own (the COPY path talks to psycopg directly), and the ValueError of a
    # text the driver cannot encode.
    refusals = (DatabaseError, connection.Database.Error, ValueError)
    try:
        inserted, rejections = _store(channel, parsed, refused)
    except refusals:
        inserted, rejections = _store(channel, [], refused)
        for line in parsed:
            try:
                stored, refused_alone = _store(channel, [line], [])
            except refusals as exc:
                stored, refused_alone = _store(channel, [], [_unstorable(line, exc)])
            inserted += stored
            rejections += refused_alone
    rejections.sort(key=lambda rejection: rejection.line_number)
    totals.inserted += inserted
    # Counted here rather than taken from the ingest's duplicates, which leave out a post repeated within
    # the batch: every line must add up to inserted + duplicates + rejected.
    totals.duplicates += len(parsed) - inserted - (len(rejections) - len(refused))
    totals.rejected += len(rejections)
    totals.shown.extend(rejections[: REJECTIONS_SHOWN - len(totals.shown)])


def _store(
    channel: Channel, parsed: Sequence[_ParsedLine], refused: Sequence[Rejection]
) -> tuple[int, list[Rejection]]:
    """One transaction: the posts ingested, the refused lines and the posts the ingest refuses quarantined.
    Returns how many mentions are new and every line rejected.

    The ingest's own quarantine option is not used: it knows batch positions, not line numbers, and it
    keeps the post's payload rather than the line as it was written.
    """
    rejections = list(refused)
    with transaction.atomic():
        # cursor=None: an import is not a pull, and must not move where the channel's next pull starts.
        result = mentions_ingest(channel=channel, posts=[line.post for line in parsed], cursor=None)
        for refusal in result.rejected:
            line = parsed[refusal.index]
            rejections.append(
                Rejection(
                    line_number=line.line_number,
                    reason=refusal.reason,
                    raw=line.raw,
                    external_id=line.post.external_id[:200],
                    network=line.post.network,
                )
            )
        _quarantine(channel, rejections)
    return result.inserted, rejections


def _unstorable(line: _ParsedLine, exc: Exception) -> Rejection:
    # The line as JSON text (any character escaped), since its own values are what the database refused.
    text = json.dumps(line.raw, default=str)
    return Rejection(
        line_number=line.line_number,
        reason=f"the database refused it: {str(exc).strip() or type(exc).__name__}",
        raw={"line": text[:QUARANTINED_LINE_LIMIT]},
        external_id=line.post.external_id[:200].encode("utf-8", "replace").decode(),
        network=line.post.network,
    )


def _quarantine(channel: Channel, rejections: Sequence[Rejection]) -> None:
    """Keep each rejected line once: importing the same file again does not quarantine its lines twice."""
    if not rejections:
        return
    known = {
        (line_number, error, _canonical(raw))
        for line_number, error, raw in QuarantinedItem.objects.filter(
            channel=channel,
            source=QuarantinedItem.Source.IMPORT,
            line_number__in={rejection.line_number for rejection in rejections},
        ).values_list("line_number", "error", "raw")
    }
    items = []
    for rejection in rejections:
        raw, error = storable_value(rejection.raw), storable_value(rejection.reason)
        key = (rejection.line_number, error, _canonical(raw))
        if key in known:
            continue
        known.add(key)
        items.append(
            QuarantinedItem(
                channel=channel,
                source=QuarantinedItem.Source.IMPORT,
                network=rejection.network,
                external_id=storable_value(rejection.external_id),
                error=error,
                raw=raw,
                line_number=rejection.line_number,
            )
        )
    QuarantinedItem.objects.bulk_create(items)


def _canonical(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, default=str)
