"""Waiting out another program's lock on the SQLite file instead of failing the job.

A backup, a `sqlite3` shell or a long migration in another process can hold the write lock
for seconds. SQLite's own busy handler would wait on the connection's one worker thread, so
every statement queued behind it (reads that WAL would otherwise serve at once) waits too.
Here SQLite waits only briefly (`SQLITE_BUSY_TIMEOUT_MS`), and the statement is tried again
from the event loop with backoff until `wait_s` has passed; reads and other writes queued in
between run meanwhile. That is safe because the ledger runs in autocommit mode and every
state change is a single statement (db/database.py): a statement that failed with "database
is locked" changed nothing. Inside an explicit transaction (the migrations) nothing is
retried: the whole transaction is the caller's to roll back.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, TypeVar

import aiosqlite

from bot.errors import DatabaseBusy
from db.connection import FetchedRows

SQLITE_BUSY_TIMEOUT_MS = 200
DEFAULT_WAIT_S = 60.0
_FIRST_DELAY_S = 0.02
_MAX_DELAY_S = 0.5

T = TypeVar("T")


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED, as Python's sqlite3 reports them."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "table is locked" in text


class _Statement:
    """What `execute` returns: awaitable (the statement's rows) and an async context manager
    giving them, like aiosqlite's own result object."""

    def __init__(self, run: Callable[[], Awaitable[FetchedRows]]) -> None:
        self._run = run

    def __await__(self) -> Generator[Any, None, FetchedRows]:
        return self._run().__await__()

    async def __aenter__(self) -> FetchedRows:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None


def _run_statement(conn: sqlite3.Connection, sql: str, parameters: Any) -> FetchedRows:
    """On aiosqlite's worker thread: the statement, its rows and its cursor's close at once."""
    cursor = conn.execute(sql, parameters)
    try:
        return FetchedRows(cursor.fetchall(), cursor.rowcount, cursor.lastrowid)
    finally:
        cursor.close()


class BusyRetryingConnection:
    """The slice of `aiosqlite.Connection` the stores use, with locked-database retries."""

    def __init__(self, conn: aiosqlite.Connection, *, wait_s: float = DEFAULT_WAIT_S) -> None:
        self._conn = conn
        self.wait_s = wait_s

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _Statement:
        args = () if parameters is None else parameters
        return _Statement(
            lambda: self._retrying(
                lambda: self._conn._execute(_run_statement, self._conn._conn, sql, args)
            )
        )

    async def serialised(
        self, key: tuple[int, int], sql: str, parameters: Iterable[Any]
    ) -> FetchedRows:
        """One statement after every other holder of `key`: SQLite runs one statement at a
        time on the one connection, so that is the statement alone (PostgreSQL takes a lock:
        db/postgres.py)."""
        return await self.execute(sql, parameters)

    async def executescript(self, script: str) -> aiosqlite.Cursor:
        """A script that failed to take its `BEGIN IMMEDIATE` is retried whole; one that failed
        later is left in its transaction for the caller to roll back."""
        return await self._retrying(lambda: self._conn.executescript(script))

    async def close(self) -> None:
        await self._conn.close()

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.wait_s
        delay = _FIRST_DELAY_S
        while True:
            try:
                return await attempt()
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or self._conn.in_transaction:
                    raise
                if time.monotonic() + delay > deadline:
                    raise DatabaseBusy(self.wait_s) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY_S)
