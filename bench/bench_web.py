"""web.*: the web server as the Dockerfile runs it (``manage.py serve``: gunicorn, 2 uvicorn workers) holding
open inbox event streams while another client loads pages, and live events reaching every stream.

- ``streams_held``: streams opened (``STREAMS``, each a signed-in browser's ``/inbox/events/``) that stayed
  open and received every event published while pages were measured.
- ``page_p95_ms_idle`` and ``page_p95_ms_under_streams``: the whole ``/inbox/`` page for a signed-in agent
  (the demo organisation), by nearest rank over ``PAGES`` sequential loads, first with no stream open, then
  while the streams are held.
- ``event_latency_p95_ms``: from ``event_publish`` (what an action calls after commit) until the event has
  reached all the streams; p95 over ``EVENTS`` events published one every 200 ms.

The streams are raw sockets of this process (asyncio), the server is a separate process group; both share
the machine's two cores.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.__main__ import Report

STREAMS = 1000
PAGES = 60
EVENTS = 30
OPEN_CONCURRENCY = 40  # streams being opened at once (each opening reads the session from PostgreSQL)
ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(rb'"bench_seq": (\d+)')


def run(report: Report, *, quick: bool = False) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from teams.models import Membership

    streams = 100 if quick else STREAMS
    call_command("demo_setup", stdout=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    agent = Membership.objects.filter(user__username="casey").select_related("user").first().user
    team_ids = list(Membership.objects.filter(user=agent).values_list("team_id", flat=True))
    browser = Client()
    browser.force_login(agent)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    connection.close()

    port = _free_port()
    server = _serve(port, connection.settings_dict)
    try:
        _wait_until_up(port)
        _page_times(port, cookie, 5)  # warm-up: imports, connections
        report("page_p95_ms_idle", _p95(_page_times(port, cookie, PAGES)))
        held, page_p95, latency_p95 = asyncio.run(_under_streams(port, cookie, streams, team_ids))
        report("streams_held", held)
        report("streams_opened_of", streams)
        report("page_p95_ms_under_streams", page_p95)
        report("event_latency_p95_ms", latency_p95)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def _serve(port: int, database: dict) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
            f"/{database['NAME']}"
        ),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "serve", "--bind", f"127.0.0.1:{port}", "--no-access-log"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                probe.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if probe.recv(16).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the web server did not come up")


def _page_times(port: int, cookie: str, count: int) -> list[float]:
    """Milliseconds for each of ``count`` sequential loads of the whole inbox page (body read)."""
    import http.client

    times = []
    for _ in range(count):
        started = time.perf_counter()
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        client.request("GET", "/inbox/", headers={"Cookie": cookie})
        response = client.getresponse()
        body = response.read()
        client.close()
        if response.status != 200 or b"inbox" not in body:
            raise RuntimeError(f"/inbox/ answered {response.status}")
        times.append((time.perf_counter() - started) * 1000)
    return times


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 1)


async def _under_streams(port: int, cookie: str, count: int, team_ids: list[int]) -> tuple[int, float, float]:
    from foundation.live import event_publish

    arrivals: dict[int, dict[int, float]] = {}  # event -> stream -> when it arrived
    open_streams: set[int] = set()
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def stream(number: int) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET /inbox/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                "Accept: text/event-stream\r\n\r\n".encode()
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                writer.close()
                return
            while b"retry:" not in await reader.read(4096):
                pass
        open_streams.add(number)
        try:
            while chunk := await reader.read(65536):
                now = time.perf_counter()
                for seq in MARK.findall(chunk):
                    arrivals.setdefault(int(seq), {})[number] = now
        finally:
            open_streams.discard(number)
            writer.close()

    tasks = [asyncio.create_task(stream(n)) for n in range(count)]
    deadline = time.monotonic() + 300
    while len(open_streams) < count and time.monotonic() < deadline:
        if all(task.done() for task in tasks):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # the last streams subscribed

    # Pages in a thread while this loop keeps reading the streams; events published meanwhile.
    page_times: list[float] = []
    pages = threading.Thread(target=lambda: page_times.extend(_page_times(port, cookie, PAGES)))
    pages.start()
    published: dict[int, float] = {}
    for seq in range(EVENTS):
        published[seq] = time.perf_counter()
        event_publish("bench.event", {"ids": [], "teams": team_ids, "bench_seq": seq})
        await asyncio.sleep(0.2)
    while pages.is_alive():
        await asyncio.sleep(0.1)
    await asyncio.sleep(3)  # the last events' stragglers

    # Held: still open, and every event reached it.
    held = {n for n in open_streams if all(n in arrivals.get(seq, {}) for seq in published)}
    latencies = [(max(arrivals[seq][n] for n in held) - at) * 1000 for seq, at in published.items() if held]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return len(held), _p95(page_times), (_p95(latencies) if latencies else -1.0)
