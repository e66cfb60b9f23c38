from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from db.database import Database, migrations
from tests.storage import open_ledger


async def test_open_creates_folders_and_applies_every_migration(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "a" / "b" / "x.db")
    try:
        assert await database.schema_version() == len(migrations())
        assert await database.integrity_check() == []
    finally:
        await database.close()
    with sqlite3.connect(tmp_path / "a" / "b" / "x.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_migrate_is_idempotent(db: Database) -> None:
    version = await db.schema_version()
    assert await db.migrate() == version


@pytest.mark.parametrize("start_version", range(1, len(migrations())))
async def test_upgrade_from_every_earlier_version_keeps_jobs(
    tmp_path: Path, start_version: int
) -> None:
    path = tmp_path / "old.db"
    old = await Database.open(path, migrate=False)
    assert await old.migrate(target=start_version) == start_version
    await old.close()
    with sqlite3.connect(path) as conn:  # a row as that version's code wrote it
        conn.execute(
            "INSERT INTO jobs (user_id, channel_id, application_id, interaction_token, "
            "interaction_created_at, attachment_size_limit, provider, model, inputs, "
            "image_count, quota_day, created_at, updated_at, state, provider_request_id) "
            "VALUES (7, 1, 2, 'tok', 0, 1000, 'fal', 'fal-ai/flux/dev', '{\"prompt\": \"p\"}', "
            "2, 'd', 0, 0, 'running', 'req-9')"
        )
    upgraded = await Database.open(path)
    try:
        assert await upgraded.schema_version() == len(migrations())
        assert await upgraded.integrity_check() == []
        (job,) = await upgraded.jobs.in_states(["running"])
        assert (job.user_id, job.provider_request_id, job.submit_pending) == (7, "req-9", False)
        assert await upgraded.jobs.quota_used(7, "d") == 2
    finally:
        await upgraded.close()


async def test_a_sqlite_statement_and_its_rows_take_one_trip_to_the_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each trip is a thread hand-off and a wake-up of the event loop (issue 14)."""
    import aiosqlite

    db = await Database.open(tmp_path / "ledger.db")
    trips = 0
    real = aiosqlite.Connection._execute

    async def counting(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal trips
        trips += 1
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    try:
        async with db.connection.execute("SELECT 1 UNION ALL SELECT 2") as cur:
            assert await cur.fetchall() == [(1,), (2,)]
        changed = await db.connection.execute("UPDATE jobs SET state = state WHERE 0")
        assert changed.rowcount == 0
        assert trips == 2
    finally:
        await db.close()


async def test_the_budget_totals_start_from_the_jobs_already_in_the_ledger(db_path: Path) -> None:
    # Migration 0008 adds up what the ledger already holds, month by month and server by
    # server (refunded jobs and costless ones count nothing), on either engine.
    old = await open_ledger(db_path, migrate=False)
    try:
        assert await old.migrate(target=7) == 7
        november, december = 1_793_491_200.0, 1_796_083_200.0  # 2026-11-01, 2026-12-01 UTC
        rows = [
            (10, november + 5, 0.5, "committed"),
            (10, december - 1, 0.25, "reserved"),
            (10, december + 60, 1.0, "committed"),
            (10, november + 9, 4.0, "refunded"),
            (11, november + 7, None, "committed"),
            (None, november + 8, 2.0, "committed"),
        ]
        for interaction, (guild_id, created_at, cost, quota_state) in enumerate(rows, start=1):
            await old._conn.execute(
                "INSERT INTO jobs (user_id, guild_id, channel_id, application_id, "
                "interaction_id, interaction_token, interaction_created_at, "
                "attachment_size_limit, provider, model, inputs, image_count, quota_day, "
                "created_at, updated_at, state, cost, quota_state) "
                "VALUES (7, ?, 1, 2, ?, 'tok', 0, 1000, 'fal', 'm', '{}', 1, 'd', ?, ?, "
                "'done', ?, ?)",
                (guild_id, interaction, created_at, created_at, cost, quota_state),
            )
        assert await old.migrate() == len(migrations())
        assert await old.jobs.guild_spend(10, november) == 0.75
        assert await old.jobs.guild_spend(10, december) == 1.0
        assert await old.jobs.guild_spend(11, november) == 0.0
        assert await old.jobs.guild_spend(None, november) == 2.0
    finally:
        await old.close()
