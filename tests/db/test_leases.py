"""The ledger as the queue (db/leases.py), on both engines: claims, caps counted across owners,
heartbeats, take-over after a lease runs out; and reservations that hold across processes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from db.database import Database
from db.leases import _CLAIM
from tests.db.factories import new_job
from tests.storage import on_postgres, open_ledger

LIMITS = (16, 2)


async def _job(db: Database, user_id: int = 1) -> int:
    job_id = await db.jobs.reserve(new_job(user_id), daily_limit=100, day="d")
    assert job_id is not None
    return job_id


async def test_a_claimed_job_is_not_claimed_by_another_owner_while_its_lease_runs(
    db: Database,
) -> None:
    job = await _job(db)
    assert await db.leases.claim(job, "a", now=100.0, lease_s=30, limits=LIMITS)
    assert not await db.leases.claim(job, "b", now=110.0, lease_s=30, limits=LIMITS)
    assert await db.leases.holder(job, 110.0) == "a"


async def test_a_lease_that_ran_out_lets_another_owner_take_the_job_over(db: Database) -> None:
    job = await _job(db)
    assert await db.leases.claim(job, "a", now=100.0, lease_s=30, limits=LIMITS)
    assert await db.leases.claimable("b", 131.0, 10) == [(job, 1, True)]
    assert await db.leases.claim(job, "b", now=131.0, lease_s=30, limits=LIMITS)
    assert await db.leases.holder(job, 131.0) == "b"


async def test_a_renewed_lease_keeps_the_job_from_the_others(db: Database) -> None:
    job = await _job(db)
    await db.leases.claim(job, "a", now=100.0, lease_s=30, limits=LIMITS)
    assert await db.leases.renew("a", [job], lease_until=160.0) == {job}
    assert await db.leases.claimable("b", 140.0, 10) == []
    assert not await db.leases.claim(job, "b", now=140.0, lease_s=30, limits=LIMITS)


async def test_renewing_a_job_another_owner_took_over_reports_it_lost(db: Database) -> None:
    job = await _job(db)
    await db.leases.claim(job, "a", now=100.0, lease_s=30, limits=LIMITS)
    await db.leases.claim(job, "b", now=131.0, lease_s=30, limits=LIMITS)
    assert await db.leases.renew("a", [job], lease_until=170.0) == set()


async def test_the_per_member_cap_counts_jobs_held_by_every_owner(db: Database) -> None:
    first, second, third = await _job(db), await _job(db), await _job(db)
    assert await db.leases.claim(first, "a", now=100.0, lease_s=30, limits=(16, 2))
    assert await db.leases.claim(second, "b", now=100.0, lease_s=30, limits=(16, 2))
    assert not await db.leases.claim(third, "a", now=100.0, lease_s=30, limits=(16, 2))
    other_member = await _job(db, user_id=2)
    assert await db.leases.claim(other_member, "b", now=100.0, lease_s=30, limits=(16, 2))


async def test_the_bot_wide_cap_counts_jobs_held_by_every_owner(db: Database) -> None:
    jobs = [await _job(db, user_id=n) for n in range(3)]
    assert await db.leases.claim(jobs[0], "a", now=100.0, lease_s=30, limits=(2, 2))
    assert await db.leases.claim(jobs[1], "b", now=100.0, lease_s=30, limits=(2, 2))
    assert not await db.leases.claim(jobs[2], "a", now=100.0, lease_s=30, limits=(2, 2))
    # A dead owner's expired leases no longer take a slot.
    assert await db.leases.claim(jobs[2], "a", now=131.0, lease_s=30, limits=(2, 2))


async def test_released_leases_are_claimable_at_once(db: Database) -> None:
    job = await _job(db)
    await db.leases.claim(job, "a", now=100.0, lease_s=30, limits=LIMITS)
    assert await db.leases.release("a") == 1
    assert await db.leases.claimable("b", 101.0, 10) == [(job, 1, False)]


async def test_an_ended_job_is_never_claimable(db: Database) -> None:
    job = await _job(db)
    await db.jobs.finish(job, "failed", error="x")
    assert await db.leases.claimable("a", 100.0, 10) == []
    assert not await db.leases.claim(job, "a", now=100.0, lease_s=30, limits=LIMITS)


async def test_one_interaction_makes_one_job(db: Database) -> None:
    first = await db.jobs.reserve(new_job(interaction_id=777), daily_limit=100, day="d")
    second = await db.jobs.reserve(new_job(interaction_id=777), daily_limit=100, day="d")
    assert first is not None and second is None
    assert await db.jobs.quota_used(1, "d") == 1


async def test_concurrent_reservations_from_several_connections_never_pass_the_quota(
    db_path: Path,
) -> None:
    """Ten processes (ten pools) reserving for one member at once: exactly the quota."""
    ledgers = [await open_ledger(db_path) for _ in range(10 if on_postgres(db_path) else 1)]
    try:
        # Every pool opens its connections first, so the reservations really run at once.
        await asyncio.gather(*(ledger.jobs.quota_used(1, "d") for ledger in ledgers * 10))
        attempts = [
            ledgers[n % len(ledgers)].jobs.reserve(new_job(), daily_limit=5, day="d")
            for n in range(100)
        ]
        made = [job for job in await asyncio.gather(*attempts) if job is not None]
        assert len(made) == 5
        assert await ledgers[0].jobs.quota_used(1, "d") == 5
    finally:
        for ledger in ledgers:
            await ledger.close()


async def test_processes_count_those_seen_lately_by_role(db: Database) -> None:
    await db.leases.check_in("a", role="all", shards="0", host="h", pid=1, now=100.0)
    await db.leases.check_in("b", role="gateway", shards="1", host="h", pid=2, now=100.0)
    await db.leases.check_in("c", role="worker", shards="", host="h", pid=3, now=10.0)
    assert await db.leases.live_processes(50.0) == 2
    assert await db.leases.live_processes(50.0, role="worker") == 1
    await db.leases.check_out("a")
    assert await db.leases.live_processes(50.0, role="worker") == 0


async def test_concurrent_claims_from_several_connections_never_pass_the_bot_wide_cap(
    db_path: Path,
) -> None:
    """Ten processes claiming forty queued jobs at once with five slots: five run."""
    ledgers = [await open_ledger(db_path) for _ in range(10 if on_postgres(db_path) else 1)]
    try:
        jobs = [await _job(ledgers[0], user_id=n) for n in range(40)]
        await asyncio.gather(*(ledger.jobs.quota_used(1, "d") for ledger in ledgers * 10))
        claims = [
            ledgers[n % len(ledgers)].leases.claim(
                job, f"p{n % len(ledgers)}", now=100.0, lease_s=30, limits=(5, 2)
            )
            for n, job in enumerate(jobs)
        ]
        assert sum(await asyncio.gather(*claims)) == 5
    finally:
        for ledger in ledgers:
            await ledger.close()


def claim_plan(db_path: Path) -> str:
    """SQLite's plan for a claim, its steps joined by " | "."""
    with sqlite3.connect(db_path) as conn:
        return " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + _CLAIM, [0] * 14))


@pytest.mark.sqlite_only
async def test_the_per_member_cap_counts_only_the_members_jobs_in_flight(
    db: Database, db_path: Path
) -> None:
    # Not every job the member ever made: a claim for a member with 100,000 jobs behind them
    # took 20 ms (bench/ledger.py), 0.6 ms now.
    await _job(db)
    plan = claim_plan(db_path)
    assert "other USING INDEX jobs_in_flight_by_member (user_id=?)" in plan, plan


@pytest.mark.sqlite_only
async def test_the_bot_wide_cap_counts_the_jobs_in_flight_without_reading_their_rows(
    db: Database, db_path: Path
) -> None:
    # The count grows with the jobs in flight (up to the cap); from the index alone it costs
    # 0.9 ms at 10,000 instead of 2.1.
    await _job(db)
    plan = claim_plan(db_path)
    assert "other USING COVERING INDEX jobs_unfinished (state=? AND lease_until>?)" in plan, plan
