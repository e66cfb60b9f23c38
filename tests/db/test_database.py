from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from db.database import Database, NewJob, migrations


def new_job(user_id: int = 1, count: int = 1) -> NewJob:
    return NewJob(
        user_id=user_id,
        guild_id=10,
        channel_id=20,
        application_id=30,
        interaction_id=40,
        interaction_token="tok",
        interaction_created_at=0.0,
        attachment_size_limit=10_000_000,
        provider="fal",
        model="fal-ai/flux/dev",
        inputs={"prompt": "p"},
        image_count=count,
        message_id=50,
    )


@pytest.fixture
async def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = await Database.open(tmp_path / "sub" / "ledger.db")
    yield database
    await database.close()


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


async def test_concurrent_reservations_never_exceed_the_limit(db: Database) -> None:
    await db.reserve_job(new_job(count=4), daily_limit=9, day="2026-11-22")  # 5 left
    results = await asyncio.gather(
        *(db.reserve_job(new_job(), daily_limit=9, day="2026-11-22") for _ in range(50))
    )
    assert sum(r is not None for r in results) == 5
    assert await db.quota_used(1, "2026-11-22") == 9
    # Other users and other days are unaffected.
    assert await db.reserve_job(new_job(user_id=2), daily_limit=9, day="2026-11-22")
    assert await db.reserve_job(new_job(), daily_limit=9, day="2026-11-23")


async def test_a_request_larger_than_what_is_left_reserves_nothing(db: Database) -> None:
    assert await db.reserve_job(new_job(count=3), daily_limit=4, day="d")
    assert await db.reserve_job(new_job(count=2), daily_limit=4, day="d") is None
    assert await db.quota_used(1, "d") == 3


async def test_finish_settles_quota_exactly_once(db: Database) -> None:
    done_id = await db.reserve_job(new_job(count=2), daily_limit=10, day="d")
    failed_id = await db.reserve_job(new_job(count=3), daily_limit=10, day="d")
    assert done_id and failed_id
    assert await db.quota_used(1, "d") == 5
    assert await db.finish(done_id, "done", result={"seed": 1})
    assert await db.finish(failed_id, "failed", error="boom", retryable=True)
    # A second settlement is refused and changes nothing.
    assert not await db.finish(failed_id, "done")
    assert not await db.finish(done_id, "failed")
    assert await db.quota_used(1, "d") == 2
    done = await db.get_job(done_id)
    failed = await db.get_job(failed_id)
    assert done and failed
    assert (done.state, done.quota_state, done.result_json) == ("done", "committed", {"seed": 1})
    assert (failed.state, failed.quota_state, failed.error) == ("failed", "refunded", "boom")


async def test_transitions_are_guarded(db: Database) -> None:
    job_id = await db.reserve_job(new_job(), daily_limit=10, day="d")
    assert job_id
    assert await db.begin_submit(job_id)
    assert not await db.begin_submit(job_id)  # a second send is refused while one is pending
    assert await db.mark_submitted(job_id, "req-1")
    assert not await db.mark_submitted(job_id, "req-2")  # never overwritten
    assert await db.transition(job_id, ("submitted",), "running")
    assert not await db.transition(job_id, ("submitted",), "running")
    job = await db.get_job(job_id)
    assert job and (job.state, job.provider_request_id, job.attempts) == ("running", "req-1", 1)
    with pytest.raises(ValueError):
        await db.transition(job_id, ("running",), "done")
    assert [j.id for j in await db.jobs_in_states(["running"])] == [job_id]


async def test_a_refused_submit_may_be_retried_but_a_pending_one_may_not(db: Database) -> None:
    job_id = await db.reserve_job(new_job(), daily_limit=10, day="d")
    assert job_id
    assert await db.begin_submit(job_id)
    await db.submit_refused(job_id)  # the provider said no: safe to send again
    assert await db.begin_submit(job_id)
    job = await db.get_job(job_id)
    assert job and (job.submit_pending, job.attempts) == (1, 2)
    # A pending submit also blocks moving the job to another provider.
    assert not await db.switch_provider(
        job_id, provider="replicate", model="m", inputs={}, previous="fal"
    )
    assert await db.finish(job_id, "failed", error="restart")
    job = await db.get_job(job_id)
    assert job and (job.submit_pending, job.quota_state) == (0, "refunded")


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
        (job,) = await upgraded.jobs_in_states(["running"])
        assert (job.user_id, job.provider_request_id, job.submit_pending) == (7, "req-9", 0)
        assert await upgraded.quota_used(7, "d") == 2
    finally:
        await upgraded.close()


async def test_purge_keeps_input_images_of_unfinished_jobs(db: Database) -> None:
    old = await db.save_input_image(b"a", "image/png", 1, 1, None)
    kept = await db.save_input_image(b"b", "image/png", 1, 1, None)
    job = NewJob(**{**new_job().__dict__, "inputs": {"prompt": "p", "image_id": kept}})
    assert await db.reserve_job(job, daily_limit=10, day="d")
    assert await db.purge_input_images(older_than=time.time() + 1) == 1
    assert await db.input_image(old) is None
    assert await db.input_image(kept) == (b"b", "image/png")
