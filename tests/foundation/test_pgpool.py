"""The web server's connection pool (foundation/pgpool): a request's connection is the last one's when it is
free, comes back clean from an unfinished transaction, is replaced when the database dropped it or it is
too old, and a process never holds more than its size; ``manage.py serve`` runs with it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg2
import pytest
from django.conf import settings
from django.db import OperationalError, connection

from foundation.pgpool.base import DatabaseWrapper, Pool, pools_close

BASE_DIR = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _pools_emptied():
    """No pooled connection outlives its test (the test database is dropped at the end)."""
    yield
    pools_close()


def drain(pool: Pool) -> None:
    while pool.idle:
        pool.idle.pop().close()


def params() -> dict:
    return connection.get_connection_params()


def backend_pid(raw) -> int:
    with raw.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_connection_given_back_is_the_next_one_taken_in_another_thread():
    wrapper_settings = {**connection.settings_dict, "ENGINE": "foundation.pgpool", "POOL": {"SIZE": 3}}
    pids: list[int] = []

    def request() -> None:
        # As a request under ASGI: a thread of its own, its own wrapper, "closed" when it ends.
        wrapper = DatabaseWrapper(wrapper_settings, alias="pooled")
        try:
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.append(cursor.fetchone()[0])
        finally:
            wrapper.close()

    for _ in range(3):
        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
    assert len(pids) == 3
    assert len(set(pids)) == 1, f"each request opened its own connection: {pids}"


def test_an_unfinished_transaction_is_rolled_back_on_the_way_back():
    pool = Pool(size=2, timeout=1, lifetime=600)
    raw = pool.take(params())
    with raw.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE pool_probe (n int)")  # raw psycopg2: a transaction is open
        cursor.execute("INSERT INTO pool_probe VALUES (1)")
    assert raw.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    pool.give_back(raw)
    again = pool.take(params())
    assert again is raw
    assert again.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    with again.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pg_temp.pool_probe')")
        assert cursor.fetchone()[0] is None  # the rolled-back table is gone
    pool.give_back(again)
    drain(pool)


def test_a_connection_the_database_dropped_is_replaced_not_handed_out():
    pool = Pool(size=2, timeout=1, lifetime=600)
    raw = pool.take(params())
    dropped = backend_pid(raw)
    pool.give_back(raw)
    terminate(dropped)
    time.sleep(0.2)
    fresh = pool.take(params())
    try:
        assert backend_pid(fresh) != dropped
        assert pool.opened == 2
    finally:
        pool.give_back(fresh)
        drain(pool)


def test_a_connection_past_its_lifetime_is_closed_on_the_way_back():
    pool = Pool(size=2, timeout=1, lifetime=0)
    raw = pool.take(params())
    pool.give_back(raw)
    assert raw.closed
    assert not pool.idle


def test_a_connection_closed_inside_an_atomic_block_is_closed_not_kept():
    wrapper = DatabaseWrapper({**connection.settings_dict, "ENGINE": "foundation.pgpool"}, alias="pooled")
    wrapper.ensure_connection()
    raw = wrapper.connection
    pool = wrapper._pooled_from
    wrapper.set_autocommit(False)
    wrapper.in_atomic_block = True  # as inside transaction.atomic(), which holds on to the connection
    wrapper.close()
    assert raw.closed
    assert raw not in pool.idle
    wrapper.in_atomic_block = False
    wrapper.connection = None


def test_no_more_than_size_connections_and_a_waiter_gets_one_given_back():
    pool = Pool(size=2, timeout=0.3, lifetime=600)
    first, second = pool.take(params()), pool.take(params())
    started = time.monotonic()
    with pytest.raises(OperationalError, match="all 2 database connections"):
        pool.take(params())
    assert time.monotonic() - started >= 0.3
    threading.Timer(0.1, pool.give_back, args=[first]).start()
    third = pool.take(params())  # waits for the one given back
    assert third is first
    pool.give_back(third)
    pool.give_back(second)
    assert pool.opened == 2
    drain(pool)


def backends() -> list[int]:
    """The other sessions on the test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_web_server_reuses_its_connections_across_requests(tmp_path):
    database = settings.DATABASES["default"]
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_POOL", None)  # serve's own default
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--no-access-log",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    before = set(backends())
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        # The polls while it started may have overlapped (each waits 2 s): the pool holds what they opened.
        kept = set(backends()) - before
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
            assert set(backends()) - before == kept
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    # Without the pool each /readyz opens a backend and closes it as it ends: none would be kept.
    assert kept
