"""The ledger's cost per job as the ledger grows, on SQLite (the one-command set-up): with
1,000 to 100,000 jobs already in the month, all in one server and all by one member,

- a reservation under the server's monthly budget, by another member;
- a claim of a new job of that member (the lease and the caps, db/leases.py).

Each goes through the bot's own store (one statement on aiosqlite's thread, fsync'd like every
write); the jobs already there are written straight into the file first. For comparison, the
server's month added up the way the reservation did before migration 0008 (`SUM(cost)` over
the month's jobs), timed alone.

    python bench/ledger.py             # 1,000 · 10,000 · 100,000 jobs in the month
    python bench/ledger.py --sizes 1000,10000 --reservations 50
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bot.jobs.model import Origin
from db.database import Database
from db.jobs import NewJob
from db.reservation import month_start

GUILD = 10
MEMBER = 1000
OLD_SUM = (
    "SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE guild_id IS ? AND created_at >= ? "
    "AND quota_state != 'refunded'"
)
_COLUMNS = (
    "user_id, guild_id, channel_id, application_id, interaction_id, interaction_token, "
    "interaction_created_at, attachment_size_limit, provider, model, inputs, image_count, "
    "quota_day, created_at, updated_at, state, cost, quota_state"
)


def fill(path: Path, jobs: int, now: float) -> None:
    """`jobs` settled jobs of this month in one server by one member, written directly."""
    start = month_start(now)
    rows = (
        (MEMBER, GUILD, 1, 2, 10_000_000 + i, "tok", start, 8_000_000, "fal", "m",
         "{}", 1, "d", start + (now - start) * i / jobs, now, "done", 0.025, "committed")
        for i in range(jobs)
    )  # fmt: skip
    with sqlite3.connect(path) as conn:
        conn.executemany(f"INSERT INTO jobs ({_COLUMNS}) VALUES ({','.join('?' * 18)})", rows)


def new_job(n: int, user_id: int | None = None) -> NewJob:
    origin = Origin(
        user_id=5000 + n if user_id is None else user_id,
        guild_id=GUILD,
        channel_id=1,
        application_id=2,
        interaction_id=90_000_000 + n,
        interaction_token="tok",
        interaction_created_at=time.time(),
        message_id=None,
        attachment_size_limit=8_000_000,
        channel_nsfw=False,
    )
    return NewJob(origin, "fal", "m", {"prompt": "p"}, 1, cost=0.025)


async def measure(jobs: int, reservations: int) -> tuple[float, float, float]:
    """Median ms of one reservation under a budget, of a claim, and of the old month's sum."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.db"
        db = await Database.open(path)  # creates the file and migrates it
        await db.close()
        now = time.time()
        fill(path, jobs, now)
        db = await Database.open(path)
        try:
            took = []
            for n in range(reservations):
                began = time.perf_counter()
                job_id = await db.jobs.reserve(
                    new_job(n), daily_limit=1_000, day="d", monthly_budget=1e9
                )
                took.append(time.perf_counter() - began)
                assert job_id is not None
            claims = []
            for n in range(reservations):
                job_id = await db.jobs.reserve(
                    new_job(reservations + n, MEMBER), daily_limit=10**6, day="d"
                )
                assert job_id is not None
                began = time.perf_counter()
                claimed = await db.leases.claim(
                    job_id, "bench", now=time.time(), lease_s=60, limits=(10**6, 10**6)
                )
                claims.append(time.perf_counter() - began)
                assert claimed
        finally:
            await db.close()
        with sqlite3.connect(path) as conn:
            summed = []
            for _ in range(reservations):
                began = time.perf_counter()
                conn.execute(OLD_SUM, (GUILD, month_start(now))).fetchall()
                summed.append(time.perf_counter() - began)
    return (
        statistics.median(took) * 1000,
        statistics.median(claims) * 1000,
        statistics.median(summed) * 1000,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="jobs in the month")
    parser.add_argument("--reservations", type=int, default=200)
    args = parser.parse_args()
    print("| jobs in the month | reservation under a budget | claim | the month's SUM alone |")
    print("| --- | --- | --- | --- |")
    for size in (int(part) for part in args.sizes.split(",")):
        reserve_ms, claim_ms, sum_ms = asyncio.run(measure(size, args.reservations))
        print(f"| {size:,} | {reserve_ms:.2f} ms | {claim_ms:.2f} ms | {sum_ms:.2f} ms |")
    print("(medians)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
