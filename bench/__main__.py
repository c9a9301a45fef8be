"""Run the benchmarks against PostgreSQL and Redis and write bench/results.json.

Each ``bench/bench_<area>.py`` module has ``run(report)``; ``report(name, samples_or_value)`` records a figure
under ``<area>.<name>``. A figure is a number (a flag or a count as it is), or {median, min, max, samples}
when it was measured several times. The benchmarks run in a throwaway database (``test_<name>``) that is
dropped afterwards, except the inbox benchmark, which keeps its million mentions in a database of its own
between runs (bench/README.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"

Figure = bool | int | float | dict[str, float]
Report = Callable[[str, "bool | int | float | list[float]"], None]


def simulated_channel(slug: str, **credentials: Any) -> Any:
    """A simulated brand account on the customer-relations segment, for a benchmark round."""
    from channels.models import Channel, Network, Segment

    return Channel.objects.create(
        slug=slug,
        network=Network.SIMULATED,
        handle=f"@{slug.replace('-', '_')}",
        external_account_id=slug,
        segment=Segment.objects.get(slug="customer-relations"),
        credentials=credentials,
    )


@contextmanager
def area_database(template: str, area: str) -> Iterator[None]:
    """Run one area in a fresh copy of the migrated benchmark database, so that what one area leaves behind
    (1,000 published rules, a hundred thousand mentions, changed segment owners) cannot slow or skew the
    next; and with this process's routing caches (keyed by row ids the copy reuses) forgotten."""
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection

    from routing.pipeline import caches_forget

    name = f"{template}_{area}"[:63]
    connection.close()
    with _maintenance_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    settings.DATABASES[connection.alias]["NAME"] = name
    connection.settings_dict["NAME"] = name
    caches_forget()
    cache.clear()
    try:
        yield
    finally:
        connection.close()
        settings.DATABASES[connection.alias]["NAME"] = template
        connection.settings_dict["NAME"] = template
        caches_forget()
        with _maintenance_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextmanager
def _maintenance_cursor() -> Iterator[Any]:
    """A cursor on the server's "postgres" database, outside any transaction (CREATE/DROP DATABASE)."""
    from django.db import connection

    with connection._nodb_cursor() as cursor:
        yield cursor


def summarise(value: bool | int | float | list[float]) -> Figure:
    if isinstance(value, bool | int):  # a flag or a count (rows, queries) stays what it is
        return value
    if isinstance(value, list):
        return {
            "median": round(statistics.median(value), 3),
            "min": round(min(value), 3),
            "max": round(max(value), 3),
            "samples": len(value),
        }
    return round(value, 3)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", help="areas to run (default: all), e.g. foundation")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialops.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # task logs would drown the figures
    os.environ.setdefault("DEBUG", "false")  # as in production: DEBUG keeps a copy of every query
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        print(
            "Benchmarks run against PostgreSQL and Redis: use `make bench` or set DATABASE_URL and REDIS_URL."
        )
        return 2

    areas = [
        name.removeprefix("bench_")
        for _, name, _ in pkgutil.iter_modules([str(Path(__file__).parent)])
        if name.startswith("bench_") and (not args.only or name.removeprefix("bench_") in args.only)
    ]
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    original_name = connection.settings_dict["NAME"]
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    print(f"benchmark database: {db_name} (each area runs in a copy of it)")
    try:
        for area in areas:
            module = importlib.import_module(f"bench.bench_{area}")
            figures: dict[str, Figure] = {}

            def report(
                name: str,
                value: bool | int | float | list[float],
                _figures: dict[str, Figure] = figures,
                _area: str = area,
            ) -> None:
                _figures[name] = summarise(value)
                print(f"  {_area}.{name} = {json.dumps(_figures[name])}", flush=True)

            print(f"{area}:", flush=True)
            started = time.perf_counter()
            with area_database(db_name, area):
                module.run(report, quick=args.quick)
            print(f"  ({time.perf_counter() - started:.1f}s)")
            results[area] = figures
            # Written after each area: a later area (or the clean-up) failing keeps the figures measured.
            _write(results, quick=args.quick)
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)
    print(f"wrote {RESULTS}")
    return 0


def _write(results: dict[str, Any], *, quick: bool) -> None:
    results["_meta"] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "quick": quick,
    }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.exit(main())
