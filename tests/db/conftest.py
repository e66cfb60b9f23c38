"""A fresh ledger per test (on each engine: `db_path` runs every test on SQLite and on
PostgreSQL), and a job factory for the store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.database import Database
from tests.storage import open_ledger


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await open_ledger(db_path)
    yield database
    await database.close()
