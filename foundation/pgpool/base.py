"""PostgreSQL through psycopg2 with a pool of connections per process: the web server's database backend.

Under ASGI (``manage.py serve``) each request runs its view in a thread of its own, and Django closes the
thread's connection when the request ends, so ``CONN_MAX_AGE`` cannot keep one: every request would open a
connection, and PostgreSQL forks a backend and fills its catalogue caches again each time. Measured on the
inbox's list and detail requests, that doubled the database's CPU per request (about 20-30 ms more) and
added about 5 ms in Django. Django's own pool needs psycopg 3; the project runs on psycopg2.

Here Django's "close" hands the connection back to a pool kept per process and per database; the next
request in any thread takes it again. On its way back a connection in a transaction is rolled back, one
that failed or is closed is dropped, and one older than ``LIFETIME`` is closed rather than kept. On its way
out a kept connection is checked with ``SELECT 1``, so a database restart costs a reconnect, not a
request. At most ``SIZE`` connections per process are open at once; a request that finds them all in use
waits up to ``TIMEOUT`` seconds, then fails as a database error would.

Set by ``DATABASE_POOL`` (``manage.py serve`` turns it on): ``DATABASES["default"]["POOL"]`` holds ``SIZE``,
``TIMEOUT`` and ``LIFETIME``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from django.db import OperationalError
from django.db.backends.postgresql import base

DEFAULTS = {"SIZE": 20, "TIMEOUT": 30.0, "LIFETIME": 600.0}


@dataclass
class Pool:
    """Idle connections of one database in one process, newest last, with their opening times."""

    size: int
    timeout: float
    lifetime: float
    idle: deque = field(default_factory=deque)
    opened_at: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: threading.BoundedSemaphore | None = None
    opened: int = 0  # connections this pool has opened, for the tests and the curious

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.size)

    def take(self, conn_params: dict[str, Any]) -> Any:
        if not self.slots.acquire(timeout=self.timeout):
            raise OperationalError(
                f"all {self.size} database connections of this process stayed in use for {self.timeout:g} s"
            )
        try:
            while True:
                with self.lock:
                    connection = self.idle.pop() if self.idle else None
                if connection is None:
                    break
                if _alive(connection):
                    return connection
                self._discard(connection)
            connection = psycopg2.connect(**conn_params)
            with self.lock:
                self.opened += 1
                self.opened_at[id(connection)] = time.monotonic()
            return connection
        except BaseException:
            self.slots.release()
            raise

    def give_back(self, connection: Any, *, keep: bool = True) -> None:
        """Return a taken connection: kept for the next taker when it is sound, else closed; ``keep=False``
        closes it whatever its state."""
        try:
            keep = (
                keep
                and not connection.closed
                and time.monotonic() - self.opened_at.get(id(connection), 0.0) < self.lifetime
            )
            if keep:
                status = connection.info.transaction_status
                if status == psycopg2.extensions.TRANSACTION_STATUS_UNKNOWN:
                    keep = False
                elif status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    connection.rollback()
            if keep:
                with self.lock:
                    self.idle.append(connection)
            else:
                self._discard(connection)
        except psycopg2.Error:
            self._discard(connection)
        finally:
            self.slots.release()

    def _discard(self, connection: Any) -> None:
        with self.lock:
            self.opened_at.pop(id(connection), None)
        with contextlib.suppress(psycopg2.Error):
            connection.close()


def _alive(connection: Any) -> bool:
    if connection.closed:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # one round trip
        if connection.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            connection.rollback()  # a connection out of autocommit opened a transaction with it
        return True
    except psycopg2.Error:
        return False


_pools: dict[tuple[int, str], Pool] = {}
_pools_lock = threading.Lock()


def pool_for(settings_dict: dict[str, Any]) -> Pool:
    """This process's pool for one database (a forked process starts its own)."""
    where = f"{settings_dict.get('HOST')}:{settings_dict.get('PORT')}/{settings_dict.get('NAME')}"
    key = (os.getpid(), where)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            options = {**DEFAULTS, **(settings_dict.get("POOL") or {})}
            pool = _pools[key] = Pool(
                size=int(options["SIZE"]),
                timeout=float(options["TIMEOUT"]),
                lifetime=float(options["LIFETIME"]),
            )
        return pool


def pools_close() -> None:
    """Close this process's idle pooled connections (those in use are closed when given back)."""
    with _pools_lock:
        pools = [pool for (pid, _), pool in _pools.items() if pid == os.getpid()]
    for pool in pools:
        while True:
            with pool.lock:
                connection = pool.idle.pop() if pool.idle else None
            if connection is None:
                break
            pool._discard(connection)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        pool = pool_for(self.settings_dict)
        connection = pool.take(conn_params)
        try:
            # What Django's own get_new_connection does after connecting (psycopg2, no pool of its own).
            self.isolation_level = base.IsolationLevel.READ_COMMITTED
            level = self.settings_dict["OPTIONS"].get("isolation_level")
            if level is not None:
                self.isolation_level = base.IsolationLevel(level)
                connection.isolation_level = self.isolation_level
            psycopg2.extras.register_default_jsonb(conn_or_curs=connection, loads=lambda x: x)
        except BaseException:
            pool.give_back(connection)
            raise
        self._pooled_from = pool
        return connection

    def _close(self) -> None:
        pool = getattr(self, "_pooled_from", None)
        if self.connection is None or pool is None:
            return super()._close()
        connection, self._pooled_from = self.connection, None
        with self.wrap_database_errors:
            # Closed inside an atomic block, Django keeps its reference until the block ends: a connection
            # another request might take by then is closed instead of kept.
            pool.give_back(connection, keep=not self.in_atomic_block)
        return None
