"""db.stats: figures computed from the ledger."""

from __future__ import annotations

from db.database import Database
from tests.db.factories import new_job


async def test_top_users_and_provider_totals_count_only_charged_images(db: Database) -> None:
    done = await db.jobs.reserve(new_job(user_id=1, count=3, cost=0.3), daily_limit=10, day="d")
    failed = await db.jobs.reserve(new_job(user_id=2, count=4, cost=0.4), daily_limit=10, day="d")
    other = await db.jobs.reserve(
        new_job(user_id=2, count=1, cost=0.1, provider="replicate"), daily_limit=10, day="d"
    )
    assert done and failed and other
    await db.jobs.finish(done, "done", refunded_images=1)
    await db.jobs.finish(failed, "failed")
    assert await db.stats.top_users(10, since=0.0) == [(1, 2, 0.3), (2, 1, 0.1)]
    assert await db.stats.provider_totals(10, since=0.0) == [("fal", 2, 0.3), ("replicate", 1, 0.1)]


async def test_provider_health_counts_ends_and_leaves_out_cancelled_jobs(db: Database) -> None:
    ids = [await db.jobs.reserve(new_job(), daily_limit=10, day="d") for _ in range(4)]
    assert all(ids)
    for job_id, end in zip(ids, ("done", "failed", "expired", "cancelled"), strict=True):
        assert job_id
        await db.jobs.finish(job_id, end)
    health = (await db.stats.provider_health(3600))["fal"]
    assert (health.jobs, health.done, health.failed) == (4, 1, 2)
    assert health.success_rate == 1 / 3
    assert health.median_s is None  # the done job was never submitted
