"""Rebuild the report rollups from scratch: every mention's report state recomputed from its rows, the
rollups summed from them, and the rollups' consumer set where it goes on without missing or doubling."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand
from tqdm import tqdm

from inbox.models import Mention
from reports.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Rebuild the report rollups from the mentions (PostgreSQL)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, no_progress: bool = False, **options: Any) -> None:
        started = time.perf_counter()
        total = Mention.objects.count()
        with tqdm(total=total, desc="mentions", unit="mention", file=sys.stderr, disable=no_progress) as bar:
            rebuilt = rollups_rebuild(progress=bar.update)
        self.stdout.write(
            f"Rebuilt the rollups of {rebuilt.mentions:,} mentions in {time.perf_counter() - started:.1f}s: "
            f"{rebuilt.hour_rows:,} hourly rows, {rebuilt.day_rows:,} daily, "
            f"{rebuilt.agent_rows:,} per agent and day, "
            f"{rebuilt.tally_rows:,} rule and intent tallies."
        )
