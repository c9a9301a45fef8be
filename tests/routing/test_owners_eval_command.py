"""owners_eval: a labelled TSV becomes teams, routed posts, history and corrections, a trained model version
and a held-out accuracy; bad rows are skipped with their line numbers; nothing stays in the database."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from inbox.models import Mention
from routing.models import Correction, ModelVersion
from teams.models import Team
from tests.factories import MentionFactory

pytestmark = pytest.mark.django_db

# Three owners, each with words of its own; every post also has words all of them share.
OWNER_WORDS = {
    "Billing": ("invoice", "refund", "charged", "payment", "receipt", "subscription"),
    "Shipping": ("parcel", "courier", "delivery", "tracking", "package", "shipped"),
    "Accounts": ("password", "login", "locked", "reset", "username", "verification"),
}
SHARED_WORDS = ("hello", "please", "help", "today", "again", "thanks", "still", "waiting")
POSTS_PER_OWNER = 40
HEADER = "id\towner\tcreated_at\ttext\tconversation_id\n"


def labelled_rows() -> list[str]:
    rng = random.Random(3)
    start = timezone.now() - timedelta(days=30)
    rows = []
    for n in range(POSTS_PER_OWNER * len(OWNER_WORDS)):
        owner = list(OWNER_WORDS)[n % len(OWNER_WORDS)]
        words = [*rng.sample(OWNER_WORDS[owner], 2), *rng.sample(SHARED_WORDS, 3)]
        rng.shuffle(words)
        created = (start + timedelta(minutes=n)).isoformat()
        rows.append(f"{n}\t{owner}\t{created}\t@someone {' '.join(words)}\tconv-{n // 2}\n")
    return rows


def run(path: Path, *args: str) -> tuple[dict, str]:
    out, err = StringIO(), StringIO()
    call_command("owners_eval", str(path), "--no-progress", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


@pytest.fixture(scope="module")
def evaluated(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None, django_db_blocker
) -> tuple[dict, str, int]:
    """One run of the command on the labelled file with two bad rows (at lines 5 and 9), shared by the
    tests below: it rolls back all it did. Also the number of teams before it ran."""
    rows = labelled_rows()
    rows.insert(3, "x\t\t2026-01-01T00:00:00Z\tno owner here\tconv-x\n")
    rows.insert(7, "y\tBilling\tonly three fields\n")
    path = tmp_path_factory.mktemp("owners") / "labelled.tsv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    with django_db_blocker.unblock():
        teams_before = Team.objects.count()
        result, summary = run(
            path, "--test-share", "0.3", "--history-share", "0.5", "--split-column", "conversation_id"
        )
    return result, summary, teams_before


def test_the_owner_model_learns_the_owners_and_nothing_is_kept(evaluated: tuple[dict, str, int]) -> None:
    result, summary, teams_before = evaluated

    assert result["rows"]["usable"] == POSTS_PER_OWNER * 3
    assert result["rows"]["train"] + result["rows"]["test"] == POSTS_PER_OWNER * 3
    assert result["rows"]["bad"] == 2
    assert result["rows"]["bad_shown"] == [
        {"line": 5, "reason": "owner is empty"},
        {"line": 9, "reason": "3 fields where the header has 5"},
    ]
    assert result["owners"] == 3
    assert result["fed"]["history"] + result["fed"]["corrections"] == result["rows"]["train"]
    assert result["fed"]["history"] > 0
    assert result["fed"]["corrections"] > 0
    assert result["model_version"]["active"] is True
    # Chance is a third; the distinctive words make the owner plain once the model has learned them.
    assert result["owner_model_accuracy"] >= 0.9
    assert "owner model's likeliest team right" in summary
    # Rolled back: no team, post, correction or model version stays behind.
    assert Team.objects.count() == teams_before
    assert not Mention.objects.exists()
    assert not Correction.objects.exists()
    assert not ModelVersion.objects.exists()


def test_routing_sends_the_held_out_posts_to_their_owners(evaluated: tuple[dict, str, int]) -> None:
    result, _, _ = evaluated

    # Chance is a third: routing moved the held-out posts off the shared account to the team that owns them.
    assert result["owner_accuracy"] >= 0.8
    assert result["moved_right"] >= 0.8 * result["test_posts"]
    assert result["left_in_shared_inbox"] <= 0.2 * result["test_posts"]


def test_refuses_a_file_without_the_owner_column(tmp_path: Path) -> None:
    path = tmp_path / "unlabelled.tsv"
    path.write_text("id\ttext\n1\thello\n", encoding="utf-8")

    with pytest.raises(CommandError, match="lacks the column owner; its header has: id, text"):
        run(path)


def test_refuses_a_missing_split_column(tmp_path: Path) -> None:
    path = tmp_path / "labelled.tsv"
    path.write_text(HEADER + "".join(labelled_rows()), encoding="utf-8")

    with pytest.raises(CommandError, match="lacks the column thread"):
        run(path, "--split-column", "thread")


def test_refuses_a_database_that_holds_mentions(tmp_path: Path) -> None:
    MentionFactory()
    path = tmp_path / "labelled.tsv"
    path.write_text(HEADER + "".join(labelled_rows()), encoding="utf-8")

    with pytest.raises(CommandError, match="already holds 1 mention, "):
        run(path)
    assert Mention.objects.count() == 1
    assert not ModelVersion.objects.exists()
