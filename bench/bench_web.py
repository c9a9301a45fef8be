"""web.*: the web server as the Dockerfile runs it (``manage.py serve``: gunicorn, 2 uvicorn workers) holding
open inbox event streams while another client loads pages, and live events reaching every stream.

- ``streams_held``: streams opened (``STREAMS``, each a signed-in browser's ``/inbox/events/``) that stayed
  open and received every event published while pages were measured.
- ``page_p95_ms_idle`` and ``page_p95_ms_under_streams``: the whole ``/inbox/`` page for a signed-in agent
  (the demo organisation), by nearest rank over ``PAGES`` sequential loads, first with no stream open, then
  while the streams are held.
- ``event_latency_p95_ms``: from ``event_publish`` (what an action calls after commit) until the event has
  reached all the streams; p95 over ``EVENTS`` events published one every 200 ms.
- ``agents_20_p95_ms``: ``AGENTS`` agents working the inbox's data set (``bench_inbox``'s generator,
  ``AGENT_ROWS`` mentions, its channels moved to the simulated network so replies go nowhere real) through
  a fresh server, while ``AGENT_STREAMS`` other clients hold their event streams, for ``AGENT_SECONDS``.
  Each agent, signed in (a session made beforehand, as the other figures' agent), lists its team queue,
  opens an unassigned mention from it, assigns it to itself, replies and closes it, over and over, with a
  seeded random think time of 1-3 s (2 s on average) before each action, as a person works. p95 by nearest
  rank over every request of the kind (``agents_20_p95_ms_<action>``) and over all of them;
  ``agents_20_errors`` counts 5xx answers and requests that got no answer (``AGENT_TIMEOUT``),
  ``agents_20_refused`` other answers than 200. One Celery worker (solo pool) sends the replies
  (``agents_20_replies_sent`` of ``agents_20_replies``). ``agents_20_server_cpu_ms_per_request``: the
  server's processes' CPU over the run per request answered (theirs alone, whatever else runs);
  ``agents_20_machine_cpu_busy_share``: how busy the machine's cores were meanwhile (everything on it), to
  read the latencies by.

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
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.__main__ import Report

STREAMS = 1000
PAGES = 60
EVENTS = 30
WORKERS = 2  # the Dockerfile's WEB_CONCURRENCY: one per core
OPEN_CONCURRENCY = 40  # streams being opened at once (each opening reads the session from PostgreSQL)
AGENTS = 20
AGENT_STREAMS = 40
AGENT_ROWS = 200_000
AGENT_SECONDS = 180  # about 1,800 requests at one action every 2 s per agent
AGENT_TIMEOUT = 30.0  # a request unanswered this long counts as an error
THINK_SECONDS = (1.0, 3.0)  # a person's pause before each action: uniform, 2 s on average
AGENT_SEED = 18
ACTIONS = ("list", "open", "assign", "reply", "close")
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
        _stop(server)
    _agents(report, quick=quick)


def _stop(server: subprocess.Popen) -> None:
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
        "WEB_CONCURRENCY": str(WORKERS),
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


# --- Twenty agents at a person's pace -----------------------------------------------------------------------


def _agents(report: Report, *, quick: bool) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from bench.bench_inbox import AGENTS_PER_TEAM, QUICK_ROWS, dataset_ensure
    from bench.bench_pipeline import _workers
    from channels.models import Channel, Network
    from inbox.models import Reply
    from teams.models import Membership

    dataset = dataset_ensure(QUICK_ROWS if quick else AGENT_ROWS, progress=False)  # ends with VACUUM ANALYZE
    # The generator's X and Mastodon accounts, moved to the simulated network: replies reach no one.
    Channel.objects.filter(slug__startswith="bench-inbox-").update(network=Network.SIMULATED, credentials={})
    people = list(
        Membership.objects.filter(team_id__in=dataset.team_ids, user__username__startswith="bench-")
        .select_related("user")
        .order_by("team_id", "user__username")
    )
    agents = [m.user for m in people if m.role == Membership.Role.AGENT][:AGENTS]
    assert len(agents) == AGENTS, f"{len(agents)} agents in the data set ({AGENTS_PER_TEAM} per team)"

    def session(user) -> dict[str, str]:
        browser = Client()
        browser.force_login(user)
        return {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value}

    agent_sessions = [session(user) for user in agents]
    watchers = [m.user for m in people]  # the other inboxes: everyone's second tab
    stream_cookies = [
        "; ".join(f"{k}={v}" for k, v in session(watchers[n % len(watchers)]).items())
        for n in range(AGENT_STREAMS)
    ]
    connection.close()

    seconds = 30 if quick else AGENT_SECONDS
    port = _free_port()
    server = _serve(port, connection.settings_dict)
    try:
        _wait_until_up(port)
        with _workers(1):
            holder = _StreamHolder(port, stream_cookies)
            holder.start()
            report("load_average_1m_agents", os.getloadavg()[0])
            machine_before, server_before = _machine_cpu(), _group_cpu_seconds(server.pid)
            samples: dict[str, list[float]] = {action: [] for action in ACTIONS}
            errors: list[str] = []
            refused: list[str] = []
            stop_at = time.monotonic() + seconds
            threads = [
                threading.Thread(target=_agent, args=(port, cookies, n, stop_at, samples, errors, refused))
                for n, cookies in enumerate(agent_sessions)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            machine_busy = _machine_cpu_busy_share(machine_before, _machine_cpu())
            server_cpu = _group_cpu_seconds(server.pid) - server_before
            streams_open = holder.stop()
            replies = Reply.objects.filter(author__in=agents)
            deadline = time.monotonic() + 60  # the worker finishes the last replies
            while replies.filter(state=Reply.State.QUEUED).exists() and time.monotonic() < deadline:
                time.sleep(0.5)
            sent = replies.filter(state=Reply.State.SENT).count()
            total = replies.count()
            connection.close()
    finally:
        _stop(server)

    every = [ms for action in ACTIONS for ms in samples[action]]
    report("agents_20_p95_ms", _p95(every))
    report("agents_20_median_ms", round(statistics.median(every), 1))
    for action in ACTIONS:
        report(f"agents_20_p95_ms_{action}", _p95(samples[action]) if samples[action] else -1.0)
    report("agents_20_requests", len(every) + len(errors) + len(refused))
    report("agents_20_errors", len(errors))
    report("agents_20_refused", len(refused))
    report("agents_20_streams_held", streams_open)
    report("agents_20_replies", total)
    report("agents_20_replies_sent", sent)
    report("agents_20_mentions", dataset.rows)
    # What the run cost, to read the latencies by: the web server's own CPU per request (its processes only,
    # whatever else runs), and how busy the machine's cores were while the agents worked (everything on it).
    report("agents_20_server_cpu_ms_per_request", server_cpu * 1000 / max(1, len(every)))
    report("agents_20_machine_cpu_busy_share", machine_busy)
    if errors or refused:
        print(f"  errors: {errors[:10]}; refused: {refused[:10]}", flush=True)


def _group_cpu_seconds(group: int) -> float:
    """User and system CPU seconds of the live processes of a process group (the server and its workers)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == group:  # pgrp
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)


def _machine_cpu_busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    return (after[0] - before[0]) / max(1, after[1] - before[1])


MENTION_ROW = re.compile(r'data-id="(\d+)" data-assignee=""')
CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')


def _agent(
    port: int,
    cookies: dict[str, str],
    number: int,
    stop_at: float,
    samples: dict[str, list[float]],
    errors: list[str],
    refused: list[str],
) -> None:
    """One agent's working loop (list, open, assign, reply, close), a think time before each request."""
    import random

    import httpx
    from django.urls import reverse

    think = random.Random(AGENT_SEED * 1000 + number)
    # A connection per request: the server keeps an idle one 2 s (gunicorn's keep-alive), less than most
    # think times, and closing it as a request is sent would count the race as an error.
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        cookies=cookies,
        timeout=AGENT_TIMEOUT,
        follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    page = client.get(reverse("inbox:index"))
    token = CSRF.search(page.text).group(1)
    htmx = {"HX-Request": "true", "X-CSRFToken": token}

    def act(action: str, method: str, url: str, **data: str) -> str | None:
        time.sleep(think.uniform(*THINK_SECONDS))
        started = time.perf_counter()
        try:
            response = client.request(method, url, headers=htmx, data=data or None)
        except httpx.HTTPError as exc:
            errors.append(f"{action}: {type(exc).__name__}")
            return None
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 500:
            errors.append(f"{action}: {response.status_code}")
            return None
        if response.status_code != 200:
            refused.append(f"{action}: {response.status_code}")
            return None
        samples[action].append(elapsed)
        return response.text

    try:
        while time.monotonic() < stop_at:
            listing = act("list", "GET", reverse("inbox:mention_list") + "?queue=team")
            unassigned = MENTION_ROW.findall(listing or "")
            if not unassigned:
                continue
            mention = int(think.choice(unassigned))
            for action, method, data in (
                ("open", "GET", {}),
                ("assign", "POST", {"assignee": "me"}),
                ("reply", "POST", {"text": f"Thanks for telling us; we are on it (agent {number})."}),
                ("close", "POST", {}),
            ):
                if time.monotonic() >= stop_at:
                    break
                name = "detail" if action == "open" else action
                act(action, method, reverse(f"inbox:{name}", args=[mention]), **data)
    finally:
        client.close()


class _StreamHolder:
    """``len(cookies)`` inboxes' event streams held open in a thread of their own; a stream the server ends
    (they last minutes) is opened again, as the browser does."""

    def __init__(self, port: int, cookies: list[str]) -> None:
        self.port = port
        self.cookies = cookies
        self.open: set[int] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.holders: list[asyncio.Task] = []

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)
        deadline = time.monotonic() + 60
        while len(self.open) < len(self.cookies) and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> int:
        """Stop holding; how many streams were open at the end."""
        held = len(self.open)
        asyncio.run_coroutine_threadsafe(self._cancel(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
        return held

    async def _start(self) -> None:
        # Kept here: the loop holds its tasks only weakly.
        self.holders = [asyncio.create_task(self._hold(n, c)) for n, c in enumerate(self.cookies)]

    async def _cancel(self) -> None:
        """Cancel the holders and wait until each has closed its socket."""
        for task in self.holders:
            task.cancel()
        await asyncio.gather(*self.holders, return_exceptions=True)

    async def _hold(self, number: int, cookie: str) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(1)
                continue
            try:
                writer.write(
                    f"GET /inbox/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                    "Accept: text/event-stream\r\n\r\n".encode()
                )
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"HTTP/1.1 200"):
                    self.open.add(number)
                    while await reader.read(65536):
                        pass
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                self.open.discard(number)
                writer.close()
            await asyncio.sleep(1)
