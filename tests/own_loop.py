"""Running a coroutine to completion in an event loop of its own, on a thread of its own.

Playwright's sync API (the browser tests) leaves an event loop running in the main thread for the rest of
the session, where ``asyncio.run`` and ``async_to_sync`` refuse to start another; a thread of its own has
none."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any


def run_in_own_loop(scenario: Callable[[], Awaitable[Any]], *, timeout: float = 60.0) -> Any:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(scenario())
        except BaseException as error:  # handed to the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="own-event-loop", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():  # a clear failure rather than the test's timeout
        raise TimeoutError(f"the scenario's event loop did not finish within {timeout:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
