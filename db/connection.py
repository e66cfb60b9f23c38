"""What the stores need of a connection, on either engine: `execute` (awaitable for a cursor,
or an async context manager giving one, with `fetchone`, `fetchall`, `rowcount`) and
`serialised` (db/reservation.py). SQLite's is `BusyRetryingConnection` (db/busy.py),
PostgreSQL's `PostgresConnection` (db/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class FetchedRows:
    """The result of one statement, read like an aiosqlite cursor. Both engines fetch every
    row with the statement itself: on SQLite that is one trip to aiosqlite's worker thread
    instead of three (execute, fetch, close), each a thread hand-off and a loop wake-up."""

    def __init__(self, rows: Sequence[Any], rowcount: int, lastrowid: int | None = None) -> None:
        self._rows = list(rows)
        self.rowcount = rowcount
        self.lastrowid = lastrowid  # None on PostgreSQL: the stores use RETURNING

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


class Connection(Protocol):
    def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Any: ...

    async def serialised(
        self, key: tuple[int, int], sql: str, parameters: Iterable[Any]
    ) -> Any: ...
