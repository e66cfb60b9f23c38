"""What the stores need of a connection, on either engine: `execute` (awaitable for a cursor,
or an async context manager giving one, with `fetchone`, `fetchall`, `rowcount`) and
`serialised` (db/reservation.py). SQLite's is `BusyRetryingConnection` (db/busy.py),
PostgreSQL's `PostgresConnection` (db/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Connection(Protocol):
    def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Any: ...

    async def serialised(
        self, key: tuple[int, int], sql: str, parameters: Iterable[Any]
    ) -> Any: ...
