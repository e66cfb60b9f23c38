"""PostgreSQL under the same stores: an asyncpg pool behind the slice of a connection the stores
use (`execute` returning a cursor with `fetchone`, `fetchall` and `rowcount`), so every store
function runs unchanged on both engines (db/dialect.py rewrites the SQL).

Design notes:
- Autocommit, as on SQLite: every state change in the stores is a single statement, and
  PostgreSQL runs each in its own transaction, so the guarantees written for SQLite (a quota
  check and its reservation in one INSERT, a state change guarded by the state it expects) hold
  across any number of processes: READ COMMITTED re-checks an UPDATE's WHERE on the newest row
  version, and concurrent INSERT ... SELECT reservations of one member are serialised by the
  advisory lock the reservation takes (db/jobs.py).
- `numeric` (what SUM of a BIGINT returns) is read as int when whole and float otherwise, as
  SQLite answers, instead of `Decimal`, which would not mix with the floats around it.
- Migrations take a transaction-level advisory lock, so two processes starting together apply
  each migration once; the version lives in `schema_version` (SQLite's is `user_version`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator, Iterable
from typing import Any

import asyncpg

from db import dialect
from db.connection import FetchedRows

MIGRATION_LOCK = 0x41_72_74_46  # "ArtF": the key every process takes to migrate
IDENTIFY_LOCK = 0x49_64_6E_74  # "Idnt": with the bucket, the key of one IDENTIFY bucket
POOL_SIZE = 10


def _number(text: str) -> int | float:
    value = float(text)
    return int(text) if value.is_integer() and "." not in text and "e" not in text else value


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "numeric", encoder=str, decoder=_number, schema="pg_catalog", format="text"
    )


class _Statement:
    """Awaitable (a cursor) and an async context manager, like the SQLite side's."""

    def __init__(self, conn: PostgresConnection, sql: str, args: tuple[Any, ...]) -> None:
        self._conn, self._sql, self._args = conn, sql, args

    def __await__(self) -> Generator[Any, None, FetchedRows]:
        return self._conn.run(self._sql, self._args).__await__()

    async def __aenter__(self) -> FetchedRows:
        return await self._conn.run(self._sql, self._args)

    async def __aexit__(self, *exc: object) -> None:
        return None


class PostgresConnection:
    """The stores' connection on PostgreSQL: a pool, one statement per checkout."""

    in_transaction = False  # the stores never hold one open

    def __init__(self, pool: asyncpg.Pool, url: str = "") -> None:
        self.pool = pool
        self._url = url
        self._listener: asyncpg.Connection | None = None

    @classmethod
    async def connect(cls, url: str, *, max_size: int = POOL_SIZE) -> PostgresConnection:
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=max_size, init=_init_connection, command_timeout=60
        )
        return cls(pool, url)

    def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _Statement:
        return _Statement(self, sql, tuple(parameters or ()))

    async def run(self, sql: str, args: tuple[Any, ...]) -> FetchedRows:
        text = dialect.query(sql)
        async with self.pool.acquire() as conn:
            if dialect.returns_rows(sql):
                rows = await conn.fetch(text, *args)
                return FetchedRows(rows, len(rows))
            status = await conn.execute(text, *args)
        count = status.rsplit(" ", 1)[-1]
        return FetchedRows((), int(count) if count.isdigit() else 0)

    async def serialised(
        self, key: tuple[int, int], sql: str, parameters: Iterable[Any]
    ) -> FetchedRows:
        """One row-returning statement in a transaction that first takes the advisory lock
        `key`, so it reads everything committed by the holders before it (db/reservation.py)."""
        text = dialect.query(sql)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *key)
            rows = await conn.fetch(text, *parameters)
        return FetchedRows(rows, len(rows))

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        await self.pool.close()

    # -- waking other processes --------------------------------------------------------------

    async def notify(self, channel: str, payload: str = "") -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(self, channel: str, wake: Callable[[], None]) -> None:
        """Call `wake` on every NOTIFY on `channel`, on a connection of its own (a listening
        connection can't go back to the pool)."""
        await self.listen_payload(channel, lambda _payload: wake())

    async def listen_payload(self, channel: str, hear: Callable[[str], None]) -> None:
        """`listen`, handing each notification's payload to `hear`."""
        if self._listener is None:
            self._listener = await asyncpg.connect(self._url)
        await self._listener.add_listener(channel, lambda *args: hear(str(args[-1])))

    async def identify_turn(self, bucket: int, spacing_s: float) -> None:
        """Wait until `spacing_s` after the last IDENTIFY of `bucket` by any process, and
        record this one: the bucket's advisory lock is held meanwhile, so the processes of
        one bot queue up instead of all identifying at once (Discord allows `max_concurrency`
        IDENTIFYs per 5 s, one per bucket)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", IDENTIFY_LOCK, bucket)
            last = await conn.fetchval(
                "SELECT last_at FROM identify_buckets WHERE bucket = $1", bucket
            )
            now = time.time()
            if last is not None and now < last + spacing_s:
                await asyncio.sleep(last + spacing_s - now)
            await conn.execute(
                "INSERT INTO identify_buckets (bucket, last_at) VALUES ($1, $2) "
                "ON CONFLICT (bucket) DO UPDATE SET last_at = excluded.last_at",
                bucket,
                time.time(),
            )

    # -- schema -----------------------------------------------------------------------------

    async def schema_version(self) -> int:
        async with self.pool.acquire() as conn:
            exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
            if not exists:
                return 0
            return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    async def migrate(self, migrations: list[tuple[int, str, str]], target: int | None) -> int:
        """Each pending migration in its own transaction, under the migration lock, after
        reading the version again: a process that waited for the lock finds the work done."""
        current = 0
        async with self.pool.acquire() as conn:
            for version, name, sql in migrations:
                if target is not None and version > target:
                    break
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                    await conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version "
                        "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
                    )
                    current = int(
                        await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                    )
                    if version <= current:
                        continue
                    try:
                        await conn.execute(dialect.ddl(sql))
                    except asyncpg.PostgresError as exc:
                        raise RuntimeError(f"migration {name} failed: {exc}") from None
                    await conn.execute(
                        "INSERT INTO schema_version VALUES ($1, EXTRACT(EPOCH FROM now()))",
                        version,
                    )
                    current = version
        return current

    async def integrity_check(self) -> list[str]:
        """PostgreSQL keeps its own pages consistent; what is checked here is that every table
        the migrations made can be read."""
        problems: list[str] = []
        async with self.pool.acquire() as conn:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
            for (table,) in tables:
                try:
                    await conn.fetchval(f'SELECT count(*) FROM "{table}"')
                except asyncpg.PostgresError as exc:
                    problems.append(f"{table}: {exc}")
        return problems
