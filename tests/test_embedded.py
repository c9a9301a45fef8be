"""The embedded default: from an empty data directory, with no PostgreSQL or Redis configured, `runstack`
migrates, sets up the demo, serves the login page and shows simulated mentions arriving; a second start
keeps the data."""

from __future__ import annotations

import html
import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
START_SECONDS = 120
ARRIVAL_SECONDS = 60  # the promise to a newcomer: new mentions within a minute


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """One `manage.py runstack` process on the embedded default."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            key: value
            for key, value in os.environ.items()
            if key
            not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "TEST_DATABASE_NAME", "SOCIALOPS_ENV"}
        }
        env.update(SOCIALOPS_DATA_DIR=str(data_dir), SOCIALOPS_PULL_TICK_SECONDS="2", PYTHONUNBUFFERED="1")
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(self.port)],
            cwd=BASE_DIR,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_for_login_page(self) -> str:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"runstack exited early:\n{self.log.read_text()[-3000:]}"
            try:
                status, body = self.get("/accounts/login/")
            except OSError:
                time.sleep(0.5)
                continue
            if status == 200:
                return body
            time.sleep(0.5)
        raise AssertionError(
            f"login page did not answer in {START_SECONDS}s:\n{self.log.read_text()[-3000:]}"
        )

    def log_in(self, username: str, password: str) -> str:
        _, page = self.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(
            self.base + "/accounts/login/", data=data, headers={"Referer": self.base}
        )
        with self.opener.open(request, timeout=10) as response:
            return response.geturl()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


EMBEDDED_PAGES = [
    "/inbox/?queue=all&label=vip&q=order&sentiment=negative",
    "/inbox/counts/",
    "/teams/",
    "/sla/",
    "/routing/rules/",
    "/routing/segments/",
    "/routing/versions/",
    "/audit/",
    "/channels/",
    "/api/v1/mentions/?q=order",
]


def still_running(pattern: str) -> str:
    return subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout


def mention_rows(data_dir: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(data_dir / "socialops.sqlite3") as db:
        return db.execute("SELECT id, text FROM inbox_mention ORDER BY id").fetchall()


@pytest.mark.slow
def test_runstack_from_an_empty_data_directory_serves_the_inbox_as_mentions_arrive(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "runstack.log"
    stack = Stack(data_dir, log)
    try:
        login_page = stack.wait_for_login_page()
        assert 'name="username"' in login_page
        with sqlite3.connect(data_dir / "socialops.sqlite3") as db:
            (channels,) = db.execute("SELECT count(*) FROM channels_channel").fetchone()
        assert channels == 7  # the demo's accounts: six on X-shaped posts, one Bluesky-shaped
        # The demo set-up pulled six per channel before the worker started; by the time the web server
        # answers, the worker's first pulls may have added more.
        backfilled = mention_rows(data_dir)[: 6 * channels]
        with sqlite3.connect(data_dir / "socialops.sqlite3") as db:
            per_channel = db.execute(
                "SELECT channel_id, count(*) FROM inbox_mentionchannel WHERE mention_id <= ? "
                "GROUP BY channel_id",
                [backfilled[-1][0]],
            ).fetchall()
        assert sorted(n for _, n in per_channel) == [6] * channels

        deadline = time.monotonic() + ARRIVAL_SECONDS
        while len(mention_rows(data_dir)) == len(backfilled):
            assert time.monotonic() < deadline, (
                f"no new mention within {ARRIVAL_SECONDS}s:\n{log.read_text()[-3000:]}"
            )
            time.sleep(1)

        assert stack.log_in("admin", "socialops-admin").endswith("/inbox/")
        status, inbox = stack.get("/inbox/")
        assert status == 200
        newest_id, newest_text = max(mention_rows(data_dir))
        assert newest_id > backfilled[-1][0]
        assert html.escape(newest_text) in inbox.replace("<br>", "\n")
        # Every page on SQLite, which lacks some of PostgreSQL's lookups (JSON containment, full-text search).
        for path in EMBEDDED_PAGES:
            status, body = stack.get(path)
            assert status == 200, f"{path} answered {status}:\n{body[-2000:]}"
        # The live stream without Redis: it answers at once and polls the live-event table.
        with stack.opener.open(stack.base + "/inbox/events/", timeout=10) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            assert stream.readline() == b"retry: 2000\n"
        assert stack.stop() == 0
    finally:
        if stack.process.poll() is None:
            stack.process.kill()

    stopped_with = len(mention_rows(data_dir))
    assert still_running(f"--bind 127.0.0.1:{stack.port}") == ""
    assert still_running(f"--schedule={data_dir}") == ""

    again = Stack(data_dir, log)
    try:
        again.wait_for_login_page()
        assert len(mention_rows(data_dir)) >= stopped_with
        assert again.log_in("casey", "socialops-agent").endswith("/inbox/")
        assert again.stop() == 0
    finally:
        if again.process.poll() is None:
            again.process.kill()
    assert "Demo organisation ready" in log.read_text()
