"""db.jobs: reserving with the quota, the guarded state changes, and reading jobs back."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from db.database import Database
from db.reservation import _RESERVE, month_start
from tests.db.factories import new_job


async def test_concurrent_reservations_never_exceed_the_limit(db: Database) -> None:
    await db.jobs.reserve(new_job(count=4), daily_limit=9, day="2026-11-22")  # 5 left
    results = await asyncio.gather(
        *(db.jobs.reserve(new_job(), daily_limit=9, day="2026-11-22") for _ in range(50))
    )
    assert sum(r is not None for r in results) == 5
    assert await db.jobs.quota_used(1, "2026-11-22") == 9
    # Other users and other days are unaffected.
    assert await db.jobs.reserve(new_job(user_id=2), daily_limit=9, day="2026-11-22")
    assert await db.jobs.reserve(new_job(), daily_limit=9, day="2026-11-23")


async def test_a_request_larger_than_what_is_left_reserves_nothing(db: Database) -> None:
    assert await db.jobs.reserve(new_job(count=3), daily_limit=4, day="d")
    assert await db.jobs.reserve(new_job(count=2), daily_limit=4, day="d") is None
    assert await db.jobs.quota_used(1, "d") == 3


async def test_reserve_refuses_a_job_the_servers_monthly_budget_cannot_cover(
    db: Database,
) -> None:
    first = new_job(user_id=1, cost=0.75)
    assert await db.jobs.reserve(first, daily_limit=10, day="d", monthly_budget=1.0)
    second = new_job(user_id=2, cost=0.5)  # another member, same server
    assert await db.jobs.reserve(second, daily_limit=10, day="d", monthly_budget=1.0) is None
    assert await db.jobs.guild_spend(10, month_start(time.time())) == 0.75
    assert await db.jobs.quota_used(2, "d") == 0


async def test_the_budget_total_of_a_server_follows_its_jobs_through_every_settlement(
    db: Database,
) -> None:
    # What the reservation reads instead of adding up the month's jobs (migration 0008) must
    # be that sum at every step: reserved, settled at another cost, refunded; per server, and
    # jobs outside any server apart.
    month = month_start(time.time())
    ids = []
    for guild_id, cost in ((10, 0.25), (10, 0.5), (11, 1.0), (None, 2.0), (10, 0.125)):
        job = new_job(guild_id=guild_id, cost=cost)
        job_id = await db.jobs.reserve(job, daily_limit=10, day="d", monthly_budget=100.0)
        assert job_id
        ids.append(job_id)
    assert await db.jobs.guild_spend(10, month) == 0.875
    assert await db.jobs.finish(ids[0], "done", cost=0.375)  # the real cost replaces the estimate
    assert await db.jobs.finish(ids[1], "failed", error="boom")  # refunded: counts nothing
    assert await db.jobs.finish(ids[3], "done")  # the estimate stands
    assert not await db.jobs.finish(ids[1], "done", cost=9.0)  # settled once only
    assert await db.jobs.guild_spend(10, month) == 0.5
    assert await db.jobs.guild_spend(11, month) == 1.0
    assert await db.jobs.guild_spend(None, month) == 2.0
    assert await db.jobs.guild_spend(12, month) == 0.0
    assert await db.jobs.guild_spend(10, month_start(month - 1)) == 0.0  # the month before
    # A server whose total is spent refuses the next job, and that leaves the total alone.
    over = new_job(guild_id=11, cost=0.5)
    assert await db.jobs.reserve(over, daily_limit=10, day="d", monthly_budget=1.25) is None
    assert await db.jobs.guild_spend(11, month) == 1.0


async def test_quota_used_in_one_server_leaves_out_the_others(db: Database) -> None:
    assert await db.jobs.reserve(new_job(count=2, guild_id=10), daily_limit=10, day="d")
    assert await db.jobs.reserve(new_job(count=3, guild_id=11), daily_limit=10, day="d")
    assert await db.jobs.quota_used(1, "d", 10) == 2
    assert await db.jobs.quota_used(1, "d") == 5  # everywhere


async def test_finish_settles_quota_exactly_once(db: Database) -> None:
    done_id = await db.jobs.reserve(new_job(count=2), daily_limit=10, day="d")
    failed_id = await db.jobs.reserve(new_job(count=3), daily_limit=10, day="d")
    assert done_id and failed_id
    assert await db.jobs.quota_used(1, "d") == 5
    assert await db.jobs.finish(done_id, "done", result={"seed": 1})
    assert await db.jobs.finish(failed_id, "failed", error="boom", retryable=True)
    # A second settlement is refused and changes nothing.
    assert not await db.jobs.finish(failed_id, "done")
    assert not await db.jobs.finish(done_id, "failed")
    assert await db.jobs.quota_used(1, "d") == 2
    done = await db.jobs.get(done_id)
    failed = await db.jobs.get(failed_id)
    assert done and failed
    assert (done.state, done.quota_state, done.result_json) == ("done", "committed", {"seed": 1})
    assert (failed.state, failed.quota_state, failed.error) == ("failed", "refunded", "boom")


async def test_refunded_images_of_a_done_job_are_not_charged(db: Database) -> None:
    job_id = await db.jobs.reserve(new_job(count=4), daily_limit=10, day="d")
    assert job_id
    assert await db.jobs.finish(job_id, "done", withheld_images=3, refunded_images=3)
    assert await db.jobs.quota_used(1, "d") == 1


async def test_transitions_are_guarded(db: Database) -> None:
    job_id = await db.jobs.reserve(new_job(), daily_limit=10, day="d")
    assert job_id
    assert await db.jobs.begin_submit(job_id)
    assert not await db.jobs.begin_submit(job_id)  # a second send is refused while one is pending
    assert await db.jobs.mark_submitted(job_id, "req-1")
    assert not await db.jobs.mark_submitted(job_id, "req-2")  # never overwritten
    assert await db.jobs.transition(job_id, ("submitted",), "running")
    assert not await db.jobs.transition(job_id, ("submitted",), "running")
    job = await db.jobs.get(job_id)
    assert job and (job.state, job.provider_request_id, job.attempts) == ("running", "req-1", 1)
    with pytest.raises(ValueError):
        await db.jobs.transition(job_id, ("running",), "done")
    assert [j.id for j in await db.jobs.in_states(["running"])] == [job_id]


async def test_a_refused_submit_may_be_retried_but_a_pending_one_may_not(db: Database) -> None:
    job_id = await db.jobs.reserve(new_job(), daily_limit=10, day="d")
    assert job_id
    assert await db.jobs.begin_submit(job_id)
    await db.jobs.submit_refused(job_id)  # the provider said no: safe to send again
    assert await db.jobs.begin_submit(job_id)
    job = await db.jobs.get(job_id)
    assert job and (job.submit_pending, job.attempts) == (True, 2)
    # A pending submit also blocks moving the job to another provider.
    assert not await db.jobs.switch_provider(
        job_id, provider="replicate", model="m", inputs={}, previous="fal"
    )
    assert await db.jobs.finish(job_id, "failed", error="restart")
    job = await db.jobs.get(job_id)
    assert job and (job.submit_pending, job.quota_state) == (False, "refunded")


async def test_a_jobs_flags_come_back_as_bool(db: Database) -> None:
    job_id = await db.jobs.reserve(new_job(channel_nsfw=True), daily_limit=10, day="d")
    assert job_id
    assert await db.jobs.begin_submit(job_id)
    await db.jobs.finish(job_id, "failed", error="boom", retryable=False)
    job = await db.jobs.get(job_id)
    assert job is not None
    assert (job.channel_nsfw, job.submit_pending, job.error_retryable) == (True, False, False)
    assert all(type(v) is bool for v in (job.channel_nsfw, job.submit_pending))
    assert type(job.error_retryable) is bool


async def test_a_message_finds_the_job_whose_result_it_carries(db: Database) -> None:
    # Message 50 was both jobs' response, but only the second one's result was posted there.
    first = await db.jobs.reserve(new_job(message_id=50), daily_limit=10, day="d")
    second = await db.jobs.reserve(new_job(message_id=50), daily_limit=10, day="d")
    assert first and second
    await db.jobs.finish(second, "done", result_message_id=50)
    found = await db.jobs.by_message(50)
    assert found is not None and found.id == second
    assert await db.jobs.by_message(999) is None


async def test_for_interactions_names_only_the_interactions_that_became_jobs(
    db: Database,
) -> None:
    for interaction_id in (7, 1207):
        job = new_job(interaction_id=interaction_id)
        assert await db.jobs.reserve(job, daily_limit=10, day="d")
    asked = list(range(1, 1300))  # more than one chunk of 500
    assert await db.jobs.for_interactions(asked) == {7, 1207}


async def test_a_deleted_job_keeps_its_first_deletion_time(db: Database) -> None:
    job_id = await db.jobs.reserve(new_job(), daily_limit=10, day="d")
    assert job_id
    await db.jobs.mark_deleted(job_id)
    first = await db.jobs.get(job_id)
    await db.jobs.mark_deleted(job_id)
    again = await db.jobs.get(job_id)
    assert first and again and first.deleted_at is not None
    assert again.deleted_at == first.deleted_at


@pytest.mark.sqlite_only
async def test_a_reservation_reads_the_members_day_and_one_row_of_the_servers_month(
    db: Database, db_path: Path
) -> None:
    # The checks in the reservation's WHERE must not walk the server's jobs: that grew with the
    # ledger (bench/ledger.py: 33 ms a reservation at 100,000 jobs in the month, 0.7 now).
    await db.jobs.reserve(new_job(), daily_limit=10, day="d", monthly_budget=5.0)
    with sqlite3.connect(db_path) as conn:
        plan = " | ".join(
            row[3]
            for row in conn.execute("EXPLAIN QUERY PLAN " + _RESERVE, [None] * _RESERVE.count("?"))
        )
    assert "jobs_quota (user_id=? AND quota_day=? AND guild_id=?)" in plan, plan
    assert "guild_spend USING" in plan and "jobs_guild_spend" not in plan, plan
