"""Readers for the development data the shipped models are trained and measured on (``../shared/data``).
The data itself is never copied into the repository."""

from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
# Beside the repository, as for `make eval`; SOCIALOPS_SHARED_DATA points elsewhere (a git worktree).
SHARED = Path(os.environ.get("SOCIALOPS_SHARED_DATA", REPO.parent / "shared" / "data"))
SEMEVAL = "semeval_sentiment_train"
CRISISLEX = "crisislex_t26_dev"
CUSTOMER_CARE = "twitter_customer_care_cdp"

INFORMATIVE = "Related and informative"
NOT_RELATED = "Not related"
# The informative tweets a crisis team must hear about: the recall of the crisis signal is measured on them.
CRISIS_TYPES = ("Caution and advice", "Affected individuals", "Infrastructure and utilities")


def read_semeval(path: Path) -> list[tuple[str, str]]:
    """(text, label) rows of a SemEval/TweetEval sentiment file (tab-separated, CSV quoting)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle, delimiter="\t")]


@dataclass(frozen=True)
class CrisisTweet:
    event: str
    text: str
    type: str
    informativeness: str


def read_crisislex(folder: Path) -> list[CrisisTweet]:
    """Every labelled tweet of every event folder, in event-name order; a tweet id seen before is skipped."""
    seen: set[str] = set()
    tweets = []
    for path in sorted(folder.glob("*/*-tweets_labeled.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            header = [name.strip() for name in next(reader)]
            for record in reader:
                row = dict(zip(header, record, strict=False))
                tweet_id = row.get("Tweet ID", "")
                if not row.get("Tweet Text") or tweet_id in seen:
                    continue
                seen.add(tweet_id)
                tweets.append(
                    CrisisTweet(
                        event=path.parent.name,
                        text=row["Tweet Text"],
                        type=row.get("Information Type", ""),
                        informativeness=row.get("Informativeness", ""),
                    )
                )
    return tweets


@dataclass(frozen=True)
class CarePost:
    text: str
    conversation: str

    @property
    def fold_key(self) -> int:
        """A stable number per conversation (turns of one conversation are never split apart)."""
        return zlib.crc32(self.conversation.encode())


def read_customer_care(path: Path) -> list[CarePost]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            CarePost(text=row["text"], conversation=row["conversation_id"])
            for row in csv.DictReader(handle, delimiter="\t")
        ]
