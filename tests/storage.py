"""Which engine a test's ledger is on: `db_path` (tests/conftest.py) registers the PostgreSQL
schema of a path here, and everything that opens a test ledger asks `ledger_target`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from db.database import Database

LEDGERS: dict[Path, str] = {}  # db_path -> the PostgreSQL URL of its schema


def ledger_target(path: Path | str) -> str:
    """What `Database.open` is given for a test ledger: its PostgreSQL URL, else the file."""
    return LEDGERS.get(Path(path), str(path))


def database_config(path: Path | str) -> dict[str, Any]:
    """The `[database]` table for a test ledger."""
    url = LEDGERS.get(Path(path))
    return {"path": str(path), **({"url": url} if url else {})}


def database_toml(path: Path | str) -> str:
    """The `[database]` table for a test ledger, as TOML text."""
    url = LEDGERS.get(Path(path))
    return f'[database]\npath = "{path}"\n' + (f'url = "{url}"\n' if url else "")


async def open_ledger(path: Path | str, **options: Any) -> Database:
    return await Database.open(ledger_target(path), **options)


def on_postgres(path: Path | str) -> bool:
    return Path(path) in LEDGERS
