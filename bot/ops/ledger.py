"""`python -m bot db check` and `python -m bot db migrate`: the ledger's maintenance commands.

`db check` only reads, so it takes no lock and works while the bot runs (SQLite's WAL gives it
a consistent snapshot beside the bot's writes); it never migrates, or checking a ledger after
an upgrade would change its schema under the bot still running the old code. `db migrate`
writes the schema, so like the bot it holds the ledger's lock (db/lock.py) and is refused
while a bot runs. On PostgreSQL (`[database] url`) both work while bots run: the migrations
take PostgreSQL's advisory lock instead (db/postgres.py), so no file lock is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from pathlib import Path

import asyncpg

from bot.config import Config
from db.database import Database, migrations, redacted
from db.lock import LedgerLock, LedgerUnavailable

DATABASE_ERRORS = (sqlite3.DatabaseError, asyncpg.PostgresError, OSError, RuntimeError)
PENDING_HINT = "applied at the bot's next start or by `python -m bot db migrate`"


def db_command(config: Config, command: str) -> int:
    """Run `db <command>` ("check" or "migrate"); returns the exit code."""
    if command == "check":
        path = config.database.path
        missing = path != ":memory:" and not Path(path).exists()  # opening it would create it
        if config.database.url is None and missing:
            print(
                f"database problem: {path} does not exist: the bot creates it at its first "
                "start (or run `python -m bot db migrate`).",
                file=sys.stderr,
            )
            return 1
        return asyncio.run(db_check(config))
    try:
        lock = LedgerLock(config.database.path) if config.database.url is None else None
        with lock or contextlib.nullcontext():
            return asyncio.run(db_migrate(config))
    except LedgerUnavailable as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 2


async def db_check(config: Config) -> int:
    """SQLite's integrity and foreign-key checks (PostgreSQL: every table readable) and the
    schema version; 0 when healthy."""
    path = _shown(config)
    try:
        db = await Database.open(config.database.target, migrate=False)
        try:
            problems = await db.integrity_check()
            version = await db.schema_version()
        finally:
            await db.close()
    except DATABASE_ERRORS as exc:
        print(f"database problem: {path}: {exc}", file=sys.stderr)
        return 1
    if problems:
        for problem in problems:
            print(f"database problem: {problem}", file=sys.stderr)
        return 1
    latest = len(migrations())
    pending = latest - version
    if pending > 0:
        print(
            f"database OK: {path} (schema version {version} of {latest}: {pending} "
            f"migration(s) pending, {PENDING_HINT})"
        )
    else:
        print(f"database OK: {path} (schema version {version})")
    return 0


async def db_migrate(config: Config) -> int:
    """Apply the pending migrations (the caller holds the ledger's lock); 0 when done."""
    path = _shown(config)
    try:
        db = await Database.open(config.database.target, migrate=False)
        try:
            before = await db.schema_version()
            after = await db.migrate()
        finally:
            await db.close()
    except DATABASE_ERRORS as exc:
        print(f"database problem: {path}: {exc}", file=sys.stderr)
        return 1
    if after == before:
        print(f"database up to date: {path} (schema version {after})")
    else:
        print(f"database migrated: {path} (schema version {before} → {after})")
    return 0


def _shown(config: Config) -> str:
    """The ledger as messages name it: the file, or the URL without its password."""
    url = config.database.url
    return config.database.path if url is None else redacted(url)
