"""Opening the ledger: SQLite (one aiosqlite connection and its pragmas) or PostgreSQL (an
asyncpg pool, db/postgres.py, when `[database] url` names one), the numbered migrations, and
the stores that hold every query, one per concern (created once, here):

- `db.jobs` (db/jobs.py): the job ledger and the quota it holds;
- `db.images` (db/images.py): input images for image-to-image and upscales;
- `db.loras` (db/loras.py): each server's LoRA library;
- `db.settings` (db/settings.py): server and channel settings, filters, quota tiers, bans;
- `db.community` (db/community.py): reports, gallery shares and votes;
- `db.stats` (db/stats.py): provider health and usage figures.
- `db.schemas` (db/schemas.py): the model schemas the providers last published;
- `db.leases` (db/leases.py): which process runs which job, and the processes sharing the ledger.

Design notes:
- One connection, in autocommit mode: aiosqlite runs every statement on one worker thread in
  order, and every state change in the stores is a *single* SQL statement, so each is atomic
  on its own and no coroutine can slip a statement into another's transaction. (That is also
  why a statement that failed on another program's lock can simply be tried again: db/busy.py.)
- `synchronous=FULL` (stricter than NORMAL): a job's provider request id and quota state must
  survive a power loss, not only a process crash, or a restart could submit a paid job twice.
  A job makes about five small commits, so the extra fsync per commit is invisible next to a
  provider's seconds.
- Stores take and return `bool` for flag columns (SQLite stores 0/1; db/rows.py converts).
- PostgreSQL runs the same stores (db/dialect.py translates their SQL) and the same numbered
  migrations; the design notes above hold there per statement too (db/postgres.py says how).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import aiosqlite

from db.busy import DEFAULT_WAIT_S, SQLITE_BUSY_TIMEOUT_MS, BusyRetryingConnection
from db.community import CommunityStore
from db.connection import Connection
from db.gallery import GalleryStore
from db.images import InputImageStore
from db.jobs import JobStore
from db.leases import LeaseStore
from db.loras import LoraStore
from db.postgres import PostgresConnection
from db.schemas import SchemaStore
from db.settings import SettingsStore
from db.stats import StatsStore
from db.studio import StudioStore
from db.webhooks import WebhookEventStore

POSTGRESQL_SUFFIX = ".postgresql.sql"


def migrations(engine: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, name, sql) for every numbered file in db/migrations, in order. A migration
    one translation cannot serve both engines with (triggers) has a `NNNN_name.postgresql.sql`
    beside it, which PostgreSQL (`engine="postgresql"`) runs instead."""
    found = []
    companions: dict[str, str] = {}
    for entry in resources.files("db.migrations").iterdir():
        name = entry.name
        if name.endswith(POSTGRESQL_SUFFIX):
            companions[name.removesuffix(POSTGRESQL_SUFFIX) + ".sql"] = entry.read_text("utf-8")
        elif name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001.. without gaps, found {versions}")
    if engine == "postgresql":
        return [(v, name, companions.get(name, sql)) for v, name, sql in found]
    return found


def is_postgres(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


class Database:
    """The bot's only door to its ledger. Create with `await Database.open(path_or_url)`."""

    def __init__(self, conn: BusyRetryingConnection | PostgresConnection, path: str) -> None:
        self._conn = conn
        self.path = path  # a file, or (PostgreSQL) the URL without its password
        self.postgres = isinstance(conn, PostgresConnection)
        self.jobs = JobStore(self._conn)
        self.images = InputImageStore(self._conn)
        self.loras = LoraStore(self._conn)
        self.settings = SettingsStore(self._conn)
        self.community = CommunityStore(self._conn)
        self.stats = StatsStore(self._conn)
        self.schemas = SchemaStore(self._conn)
        self.leases = LeaseStore(self._conn)
        self.studio = StudioStore(self._conn)
        self.webhook_events = WebhookEventStore(self._conn)
        self.gallery = GalleryStore(self._conn)

    @classmethod
    async def open(
        cls, path: str | Path, *, migrate: bool = True, busy_wait_s: float = DEFAULT_WAIT_S
    ) -> Database:
        """`path`: a SQLite file, or a `postgresql://` URL. `busy_wait_s`: how long a statement
        waits out another program's lock on a SQLite file before it fails with DatabaseBusy
        (db/busy.py)."""
        path = str(path)
        if is_postgres(path):
            pg = await PostgresConnection.connect(path)
            db = cls(pg, redacted(path))
            try:
                if migrate:
                    await db.migrate()
            except BaseException:
                await pg.close()
                raise
            return db
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        db = cls(BusyRetryingConnection(conn, wait_s=busy_wait_s), path)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            await db.connection.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA foreign_keys = ON")
            if migrate:
                await db.migrate()
        except BaseException:
            # aiosqlite's worker thread keeps the process alive until the connection closes.
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self._conn.close()

    async def ping(self) -> None:
        """One round trip to the database (the health check's)."""
        async with self._conn.execute("SELECT 1") as cursor:
            await cursor.fetchone()

    # -- several processes (PostgreSQL only; nothing to do for SQLite's one process) ---------

    async def notify(self, channel: str, payload: str = "") -> None:
        if isinstance(self._conn, PostgresConnection):
            await self._conn.notify(channel, payload)

    async def listen_payload(self, channel: str, hear: Callable[[str], None]) -> bool:
        """Have `hear` called with each notification's payload; False on SQLite (one process:
        nobody else to hear from)."""
        if isinstance(self._conn, PostgresConnection):
            await self._conn.listen_payload(channel, hear)
            return True
        return False

    async def listen(self, channel: str, wake: Callable[[], None]) -> bool:
        """Have `wake` called on each notification; False where there are none (SQLite)."""
        if isinstance(self._conn, PostgresConnection):
            await self._conn.listen(channel, wake)
            return True
        return False

    async def identify_turn(self, bucket: int, spacing_s: float) -> None:
        if isinstance(self._conn, PostgresConnection):
            await self._conn.identify_turn(bucket, spacing_s)

    @property
    def connection(self) -> Connection:
        """For this package's stores and the schema code here (tests may set rows up with
        it); nobody else runs SQL."""
        return self._conn

    # -- schema -----------------------------------------------------------------------------

    async def schema_version(self) -> int:
        if isinstance(self._conn, PostgresConnection):
            return await self._conn.schema_version()
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self, target: int | None = None) -> int:
        """Apply pending migrations, each in its own transaction with its version bump."""
        if isinstance(self._conn, PostgresConnection):
            return await self._conn.migrate(migrations("postgresql"), target)
        current = await self.schema_version()
        for version, name, sql in migrations():
            if version <= current or (target is not None and version > target):
                continue
            script = f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            try:
                await self._conn.executescript(script)
            except Exception:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise RuntimeError(f"migration {name} failed") from None
            current = version
        return current

    async def integrity_check(self) -> list[str]:
        """SQLite's own integrity and foreign-key checks; an empty list means healthy."""
        if isinstance(self._conn, PostgresConnection):
            return await self._conn.integrity_check()
        problems: list[str] = []
        async with self._conn.execute("PRAGMA integrity_check") as cur:
            problems += [str(r[0]) for r in await cur.fetchall() if str(r[0]) != "ok"]
        async with self._conn.execute("PRAGMA foreign_key_check") as cur:
            problems += [f"foreign key: {tuple(r)}" for r in await cur.fetchall()]
        return problems


def redacted(url: str) -> str:
    """A PostgreSQL URL as it may be printed or logged: without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
