"""Measure how well routing learns owners on your own labelled posts, through the product's own paths.

``python manage.py owners_eval FILE.tsv [--test-share 0.3] [--history-share 0.5] [--split-column NAME]``

The file is tab-separated with a header row: ``text`` and ``owner`` (the team that owns the post) are
required, ``created_at`` (ISO-8601 with a UTC offset) is optional, and so is the column named by
``--split-column`` (a conversation id, say: rows sharing it stay on one side of the split). Rows are held
out by a fixed hash of that column (of the text without it), so a run is repeatable.

What it does, in the database ``DATABASE_URL`` names (an empty, migrated one: it refuses a database that
already holds mentions, whose teams' history would mix into the training):

1. Each owner becomes a team with a segment of its own; the posts arrive on one simulated account owned by a
   separate team ("Shared inbox"), and no team owns any intent (the intent map is cleared): only what the
   teams do teaches routing who owns what. Each owner team has an agent, also a member of the shared team.
2. The training part is imported through the ingest ``import_mentions`` uses (so it is routed as it
   arrives), in time order. A ``--history-share`` of it becomes history: the post is placed with its owner
   team, as routing would have placed it, and that team closes it. The rest become corrections: the owner
   team's agent re-routes the post to their team.
3. ``routing.learning.models_train`` trains a model version from all of it (backtested and calibrated on
   the newest corrections, as the training task does).
4. The test part is imported the same way, and routed by the version trained in step 3.

Reported (JSON on stdout, a summary on stderr): the share of test posts routed to their owner team
(``mention.team``), and the share whose likeliest team in the owner model is their owner (what routing
would do if it moved every post, however unsure). Everything is rolled back at the end unless ``--keep``
(then, as in the product, each re-route has queued the training task; it finds nothing new to train on).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from tqdm import tqdm

from channels.models import Channel, Network, Segment
from inbox import history
from inbox.actions.routing import mention_reroute, mention_team_replay
from inbox.actions.triage import mention_close
from inbox.lines import LineRefused, parse_created_at, post_from_object
from inbox.models import Mention
from inbox.services import mentions_ingest
from routing import learning
from routing.facts import INTENTS
from routing.models import ModelVersion
from routing.owner_eval import handles_masked, is_test
from routing.owners import OwnerExample, owners_predict
from routing.pipeline import caches_forget
from routing.rulesets import intent_routes_save, rule_set_current, rule_set_publish
from teams.models import Membership, Team

IMPORT_BATCH = 500  # posts per ingest pass, as import_mentions stores them
BAD_ROWS_SHOWN = 20  # enough to see what is wrong with a file; the count says how many more
NETWORK = Network.SIMULATED
EXTERNAL_ID_PREFIX = "owners-eval-"


@dataclass(frozen=True)
class Row:
    line: int
    text: str
    owner: str
    created_at: str  # ISO-8601 as written ("" when the file has no created_at column)
    key: str  # the split key


class Command(BaseCommand):
    help = (
        "Measure owner learning on a labelled TSV (columns text, owner, optionally created_at and a split "
        "column): owners become teams, the training part is imported and fed as history and corrections, a "
        "model version is trained, and the test part is imported and routed. Prints owner accuracy as JSON "
        "on stdout. Runs on an empty, migrated database (DATABASE_URL) and rolls back unless --keep."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE.tsv", help="Tab-separated, UTF-8, with a header row.")
        parser.add_argument(
            "--test-share", type=_share, default=0.3, help="Share of rows held out (default 0.3)."
        )
        parser.add_argument(
            "--history-share",
            type=_share,
            default=0.5,
            help="Share of the training rows fed as posts the owner team handled; the rest are corrections "
            "(default 0.5; 0: all corrections).",
        )
        parser.add_argument(
            "--split-column",
            default="",
            metavar="NAME",
            help="Column whose value keeps rows together on one side of the split (default: the text).",
        )
        parser.add_argument(
            "--owner-column",
            default="owner",
            metavar="NAME",
            help="Column that names each post's owner (default: owner).",
        )
        parser.add_argument(
            "--mask-handles",
            action="store_true",
            help='Replace every @handle by "@user" (a post addressed to its owner\'s own account names it).',
        )
        parser.add_argument(
            "--keep",
            action="store_true",
            help="Keep the teams, posts and model version (default: roll back).",
        )
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars on stderr.")

    def handle(self, *args: object, **options: Any) -> None:
        path = Path(options["file"])
        self.bar_stream = options.get("stderr") or sys.stderr
        self.no_progress = options["no_progress"]
        rows, bad, columns = _read(path, options["split_column"], options["owner_column"])
        if options["mask_handles"]:
            rows = [Row(r.line, handles_masked(r.text), r.owner, r.created_at, r.key) for r in rows]
        test = [row for row in rows if is_test(row.key, options["test_share"])]
        train = [row for row in rows if not is_test(row.key, options["test_share"])]
        owners = sorted({row.owner for row in rows})
        if len(owners) < 2 or not test or not train:
            raise CommandError(
                f"{path}: {len(rows)} usable rows, {len(owners)} owners, {len(train)} to train on and "
                f"{len(test)} to test on: at least 2 owners and a row on each side are needed"
            )
        existing = Mention.objects.count()
        if existing:
            raise CommandError(
                f"the database already holds {existing} mention{'s' if existing != 1 else ''}, whose teams' "
                "history would be trained on too: point DATABASE_URL at an empty database (createdb, then "
                "manage.py migrate)"
            )
        with transaction.atomic():
            result = self._run(path, train, test, owners, options)
            if not options["keep"]:
                transaction.set_rollback(True)
        caches_forget()  # the rolled-back versions' ids must not be taken for live ones
        result["rows"] = {
            "usable": len(rows),
            "train": len(train),
            "test": len(test),
            "bad": len(bad),
            "bad_shown": [{"line": line, "reason": reason} for line, reason in bad[:BAD_ROWS_SHOWN]],
        }
        result["settings"] = {
            "file": str(path),
            "owner_column": options["owner_column"],
            "columns": columns,
            "test_share": options["test_share"],
            "history_share": options["history_share"],
            "split_column": options["split_column"] or "(the text)",
            "mask_handles": options["mask_handles"],
            "kept": options["keep"],
        }
        self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False))
        self._summary(result)

    # --- the run -------------------------------------------------------------------------------------------

    def _run(
        self, path: Path, train: list[Row], test: list[Row], owners: list[str], options: dict[str, Any]
    ) -> dict[str, Any]:
        shared, teams, agents = _organisation(owners, path.name)
        # No team owns an intent: the file's owners are the teams, and only what they do teaches routing.
        intent_routes_save(user=None, segments=dict.fromkeys(INTENTS))
        rule_set_publish(summary=f"owners_eval: {len(owners)} owner teams from {path.name}")
        channel = _shared_channel(shared)

        train = sorted(train, key=_arrival)
        ids = self._import(channel, train, "import training part")
        history_share = options["history_share"]
        fed = Counter()
        for row in self._progress(train, "history and corrections"):
            mention = Mention.objects.get(pk=ids[row.line])
            team = teams[row.owner]
            if is_test(f"history:{row.key}:{row.line}", history_share):
                # History is what a team handled where routing had put it: here the file says where that is.
                mention = mention_team_replay(mention=mention, team=team)
                mention_close(actor=agents[row.owner], mention=mention)
                fed["history"] += 1
            else:
                mention_reroute(
                    actor=agents[row.owner], mention=mention, team=team, reason="owner in the labelled file"
                )
                fed["corrections"] += 1

        self.bar_stream.write("training a model version...\n")
        version = history.classifier_train(reason="owners_eval", force=True)
        assert version is not None  # forced
        active = ModelVersion.objects.filter(is_active=True).first()

        test = sorted(test, key=_arrival)
        test_ids = self._import(channel, test, "import test part")
        mentions = Mention.objects.in_bulk(test_ids.values())
        slug_of = dict(Team.objects.values_list("id", "slug"))
        routed = [slug_of.get(mentions[test_ids[row.line]].team_id, "") for row in test]
        truth = [teams[row.owner].slug for row in test]
        decisions = [mentions[test_ids[row.line]].decision or {} for row in test]
        moved = [d.get("owner_source") == "learned" for d in decisions]
        right = [r == t for r, t in zip(routed, truth, strict=True)]

        rule_set = rule_set_current()
        examples = [
            OwnerExample(row.text, shared.slug, teams[row.owner].slug, key=(0, row.line)) for row in test
        ]
        likeliest = owners_predict(
            learning.trained_load(version),
            examples,
            intent_teams=dict(rule_set.intent_teams),
            teams=rule_set.teams,
        )
        model_right = [team == e.team for team, e in zip(likeliest, examples, strict=True)]
        return {
            "owner_accuracy": round(sum(right) / len(test), 4),
            "owner_model_accuracy": round(sum(model_right) / len(test), 4),
            "owner_model_likeliest_shared_inbox": sum(team == shared.slug for team in likeliest),
            "test_posts": len(test),
            "moved_to_a_learned_owner": sum(moved),
            "moved_right": sum(m and r for m, r in zip(moved, right, strict=True)),
            "left_in_shared_inbox": sum(r == shared.slug for r in routed),
            "needs_decision": sum(bool(d.get("needs_decision")) for d in decisions),
            "owners": len(owners),
            "chance": round(1 / len(owners), 4),
            "largest_owner_share_of_test": round(Counter(truth).most_common(1)[0][1] / len(test), 4),
            "fed": {"history": fed["history"], "corrections": fed["corrections"]},
            "model_version": {
                "number": version.number,
                "active": version.is_active,
                "active_number": active.number if active else None,
                "verdict": version.verdict,
                "held_back": version.held_back,
                "held_back_accuracy": version.held_back_accuracy,
                "temperature": round(version.temperature, 4),
                "training_seconds": version.training_seconds,
            },
            "threshold": rule_set.misdirect_threshold,
        }

    def _import(self, channel: Channel, rows: Sequence[Row], what: str) -> dict[int, int]:
        """Ingest the rows as posts on the shared account (routed as they arrive); line -> mention id."""
        now = timezone.now().isoformat()
        ids: dict[int, int] = {}
        with self._bar(len(rows), what) as bar:
            for start in range(0, len(rows), IMPORT_BATCH):
                batch = rows[start : start + IMPORT_BATCH]
                posts = [_post(row, now) for row in batch]
                mentions_ingest(channel=channel, posts=posts, cursor=None)
                stored = dict(
                    Mention.objects.filter(
                        network=NETWORK, external_id__in=[post.external_id for post in posts]
                    ).values_list("external_id", "id")
                )
                ids.update((row.line, stored[_external_id(row)]) for row in batch)
                bar.update(len(batch))
        return ids

    def _bar(self, total: int, what: str) -> tqdm:
        return tqdm(total=total, desc=what, unit="post", file=self.bar_stream, disable=self.no_progress)

    def _progress(self, rows: Sequence[Row], what: str) -> Iterator[Row]:
        with self._bar(len(rows), what) as bar:
            for row in rows:
                yield row
                bar.update(1)

    def _summary(self, result: dict[str, Any]) -> None:
        write = self.bar_stream.write
        rows, version = result["rows"], result["model_version"]
        write(
            f"\n{result['owners']} owners; {rows['train']} rows to train on ({result['fed']['history']} as "
            f"history, {result['fed']['corrections']} as corrections), {rows['test']} held out; "
            f"{rows['bad']} bad rows skipped\n"
        )
        for bad in rows["bad_shown"]:
            write(f"  line {bad['line']}: {bad['reason']}\n")
        if rows["bad"] > len(rows["bad_shown"]):
            write(f"  ... and {rows['bad'] - len(rows['bad_shown'])} more\n")
        write(
            f"model version {version['number']} ({'active' if version['active'] else 'not made active'}): "
            f"{version['verdict']}\n"
        )
        write(
            f"owner accuracy (routed to the owner team): {result['owner_accuracy']:.1%} of "
            f"{result['test_posts']} held-out posts; {result['moved_to_a_learned_owner']} moved by the owner "
            f"model ({result['moved_right']} rightly), {result['left_in_shared_inbox']} left in the shared "
            f"inbox (confidence under {result['threshold']:.2f}), {result['needs_decision']} flagged for a "
            f"lead's decision\n"
        )
        write(
            f"owner model's likeliest team right: {result['owner_model_accuracy']:.1%} (chance "
            f"{result['chance']:.1%}, largest owner alone {result['largest_owner_share_of_test']:.1%}); the "
            f"shared inbox, which owns nothing, is the likeliest for "
            f"{result['owner_model_likeliest_shared_inbox']}\n"
        )


# --- reading the file -------------------------------------------------------------------------------------


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= share < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, not {share}")
    return share


def _read(
    path: Path, split_column: str, owner_column: str = "owner"
) -> tuple[list[Row], list[tuple[int, str]], list[str]]:
    """The usable rows, the bad ones (line number, reason), and the header; refuses a file without the
    columns it needs."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows: list[Row] = []
    bad: list[tuple[int, str]] = []
    with handle:
        reader = csv.reader(handle, delimiter="\t")
        try:
            header = [name.strip() for name in next(reader, [])]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot read the header row: {exc}") from None
        wanted = ["text", owner_column, *([split_column] if split_column else [])]
        missing = [name for name in wanted if name not in header]
        if missing:
            raise CommandError(
                f"{path} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; its header "
                f"has: {', '.join(header) or 'nothing'} (tab-separated; text and {owner_column} are required)"
            )
        index = {name: header.index(name) for name in header}
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                bad.append((reader.line_num, f"unreadable: {exc}"))
                continue
            line = reader.line_num
            if not any(field.strip() for field in record):
                continue
            problem, row = _row(record, line, index, split_column, owner_column)
            if problem:
                bad.append((line, problem))
            else:
                rows.append(row)
    return rows, bad, header


def _row(
    record: list[str], line: int, index: dict[str, int], split_column: str, owner_column: str
) -> tuple[str, Row | None]:
    if len(record) != len(index):
        return f"{len(record)} fields where the header has {len(index)}", None
    text = record[index["text"]].strip()
    owner = record[index[owner_column]].strip()
    created_at = record[index["created_at"]].strip() if "created_at" in index else ""
    if not text:
        return "text is empty", None
    if not owner:
        return f"{owner_column} is empty", None
    if not slugify(owner):
        return f"owner {owner!r} has no letters or digits to name a team by", None
    key = record[index[split_column]].strip() if split_column else text
    if split_column and not key:
        return f"{split_column} is empty", None
    row = Row(line, text, owner, created_at, key)
    try:
        _post(row, timezone.now().isoformat())
    except LineRefused as exc:
        return str(exc), None
    return "", row


def _arrival(row: Row) -> tuple:
    """Time order (rows without a time keep the file's order, after those with one)."""
    if not row.created_at:
        return (1, row.line)
    return (0, parse_created_at(row.created_at), row.line)


def _external_id(row: Row) -> str:
    return f"{EXTERNAL_ID_PREFIX}{row.line}"


def _post(row: Row, now: str):
    """The row as the import format's post (the same checks as import_mentions)."""
    return post_from_object(
        {
            "external_id": _external_id(row),
            "text": row.text,
            "author_handle": f"customer{row.line}",
            "created_at": row.created_at or now,
        },
        default_network=NETWORK,
    )


# --- the organisation -------------------------------------------------------------------------------------


def _unique(value: str, taken: set[str], limit: int) -> str:
    candidate, n = value[:limit], 1
    while candidate in taken:
        n += 1
        candidate = f"{value[: limit - len(str(n)) - 1]}-{n}"
    taken.add(candidate)
    return candidate


def _organisation(owners: Sequence[str], source: str) -> tuple[Team, dict[str, Team], dict[str, Any]]:
    """The shared inbox's team, a team (with a segment) per owner, and an agent per owner team."""
    team_slugs = set(Team.objects.values_list("slug", flat=True))
    team_names = set(Team.objects.values_list("name", flat=True))
    segment_slugs = set(Segment.objects.values_list("slug", flat=True))
    segment_names = set(Segment.objects.values_list("name", flat=True))
    position = len(segment_slugs)

    def team_with_segment(name: str, description: str) -> Team:
        nonlocal position
        team = Team.objects.create(
            name=_unique(name, team_names, 120),
            slug=_unique(slugify(name) or "team", team_slugs, 60),
            description=description,
        )
        position += 1
        Segment.objects.create(
            slug=_unique(team.slug, segment_slugs, 40),
            name=_unique(team.name, segment_names, 80),
            follow=description,
            create="",
            engage="",
            team=team,
            position=position,
        )
        return team

    shared = team_with_segment("Shared inbox", f"Receives every post of {source}; owns no intent.")
    teams = {owner: team_with_segment(owner, f"Owner {owner!r} in {source}.") for owner in owners}
    users = get_user_model()
    usernames = set(users.objects.values_list("username", flat=True))
    agents = {}
    for owner, team in teams.items():
        agent = users.objects.create(username=_unique(f"{team.slug}-agent", usernames, 150), is_active=True)
        Membership.objects.create(user=agent, team=team)
        Membership.objects.create(user=agent, team=shared)
        agents[owner] = agent
    return shared, teams, agents


def _shared_channel(team: Team) -> Channel:
    segment = team.segments.get()
    taken = set(Channel.objects.filter(network=NETWORK).values_list("external_account_id", flat=True))
    slugs = set(Channel.objects.values_list("slug", flat=True))
    return Channel.objects.create(
        slug=_unique("owners-eval-shared", slugs, 60),
        network=NETWORK,
        handle="@shared_inbox",
        external_account_id=_unique("owners-eval-shared", taken, 64),
        segment=segment,
    )
