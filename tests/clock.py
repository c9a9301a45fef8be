"""The suite's clock. `make test-future` sets SOCIALOPS_TEST_CLOCK_SHIFT_DAYS=365: the test process then runs
a year ahead from before the tests are collected (dates built at import time move too), so a test that
compares a literal calendar date with "now" fails today rather than next year.

time-machine moves Python's wall clock (``time.time``, ``datetime.now``, ``date.today``) in every thread of
the test process, the in-process Celery worker and live server included; monotonic clocks and sleeping stay
real, so timeouts keep their length. What the clock does not reach, and why that is sound:
- PostgreSQL's and Redis's own clocks: the code never asks them for the time (no ``now()`` defaults or
  queries; Redis only counts relative TTLs), so every stored time comes from this process.
- Processes the tests start (the embedded stack, ``check --deploy``, the SQLite search check) run on the
  real clock: they keep their own times, and those tests compare none of them with this process's clock.
- Chromium: each browser context's page clock is moved to this process's (tests/browser/inbox_page.py).
libfaketime was tried first and dropped: under it Python's ``time.sleep`` fails with EINVAL or never wakes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import time_machine

SHIFT_VARIABLE = "SOCIALOPS_TEST_CLOCK_SHIFT_DAYS"

_traveller: time_machine.travel | None = None


def clock_shift_days() -> int:
    return int(os.environ.get(SHIFT_VARIABLE, "0") or 0)


def clock_shift_start() -> None:
    """Move the process's clock by the shift (if any), ticking on from there."""
    global _traveller
    days = clock_shift_days()
    if days and _traveller is None:
        _traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)
        _traveller.start()


def clock_shift_stop() -> None:
    global _traveller
    if _traveller is not None:
        _traveller.stop()
        _traveller = None
