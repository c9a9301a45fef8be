"""``python manage.py crisis_replay EVENTS_DIR``: the crisis radar's evaluation (see ``crisis.replay``).

Prints one line per event and seed, the false alarms of each background seed, and the figures; writes the
figures and every row as JSON (``--out``). No database is used.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crisis import replay
from crisis.detector import Policy
from routing.training.data import SEMEVAL, SHARED, read_semeval


def listening_texts(shared: Path) -> list[str]:
    path = shared / SEMEVAL / "train.tsv"
    if not path.exists():
        raise CommandError(f"the listening query's real tweets are missing: {path}")
    return [text for text, _ in read_semeval(path)]


def replay_figures(
    *,
    events_dir: Path,
    shared: Path = SHARED,
    seeds: tuple[int, ...] = (1,),
    background_seeds: tuple[int, ...] = (11, 12, 13),
    background_weeks: int = 2,
    posts_per_hour: float = 150.0,
    policy: Policy | None = None,
    progress=None,
) -> dict:
    """The figures and rows of a replay of ``events_dir`` (what ``bench.eval`` records as well)."""
    events = replay.events_read(events_dir)
    if not events:
        raise CommandError(f"no events in {events_dir} (expected <event>/<event>-tweets_labeled.csv)")
    started = time.perf_counter()
    pools = replay.pools_build(listening_texts=listening_texts(shared))
    figures = replay.evaluate(
        events=events,
        pools=pools,
        seeds=seeds,
        background_seeds=background_seeds,
        background_weeks=background_weeks,
        posts_per_hour=posts_per_hour,
        policy=policy,
        progress=progress,
    )
    return {
        **figures.summary(len(events)),
        "crisis.replay": {
            "events_dir": events_dir.name,
            "seeds": list(seeds),
            "background_seeds": list(dict.fromkeys([*seeds, *background_seeds])),
            "background_weeks_per_seed": max(2, background_weeks),
            "posts_per_hour": posts_per_hour,
            "policy": {k: v for k, v in vars(policy or Policy()).items() if not isinstance(v, dict)},
            "seconds": round(time.perf_counter() - started, 1),
            "events": figures.events,
            "background": figures.background,
        },
    }


def policy_with(settings: list[str]) -> Policy:
    """The default policy with ``name=value`` changes (numbers; ``windows`` as comma-separated minutes)."""
    changes = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        if name not in Policy.__dataclass_fields__ or not value:
            raise CommandError(f"not a detector setting: {setting}")
        if name == "windows":
            changes[name] = tuple(int(v) for v in value.split(","))
        else:
            changes[name] = type(getattr(Policy(), name))(value)
    return replace(Policy(), **changes)


class Command(BaseCommand):
    help = "Replay crisis events (a CrisisLexT26-shaped folder) into background traffic; print the figures."

    def add_arguments(self, parser):
        parser.add_argument("events_dir", type=Path)
        parser.add_argument("--shared", type=Path, default=SHARED, help="folder of the development data")
        parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="seeds of the event runs")
        parser.add_argument("--background-seeds", type=int, nargs="+", default=[11, 12, 13])
        parser.add_argument(
            "--background-weeks", type=int, default=2, help="evaluation weeks per background seed"
        )
        parser.add_argument("--posts-per-hour", type=float, default=150.0, help="the brand's average traffic")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a detector threshold other than the default (crisis.detector.Policy), e.g. term_min=6",
        )
        parser.add_argument("--out", type=Path, default=Path("crisis_replay_results.json"))

    def handle(self, *args, **options):
        results = replay_figures(
            events_dir=options["events_dir"],
            shared=options["shared"],
            seeds=tuple(options["seeds"]),
            background_seeds=tuple(options["background_seeds"]),
            background_weeks=options["background_weeks"],
            posts_per_hour=options["posts_per_hour"],
            policy=policy_with(options["set"]),
            progress=lambda line: self.stdout.write(line),
        )
        for name, value in results.items():
            if name.startswith("crisis.") and name != "crisis.replay":
                self.stdout.write(f"{name}: {value}")
        options["out"].write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self.stdout.write(f"written to {options['out']}")
