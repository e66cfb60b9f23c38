"""The ledger as the queue (`db.leases`): which process runs which job, and the processes.

A process runs a job only while it holds the job's lease (`owner`, `lease_until`), taken by
`claim` and renewed by `renew` (the heartbeat). A process that dies stops renewing; once its
leases run out, `claimable` offers its jobs to the others, which re-attach to them by their
provider request ids exactly as a restarted bot does (bot/jobs/runner.py).

- `claim` is one UPDATE whose WHERE also counts the jobs in flight in every process, for the
  bot-wide and per-member caps; on PostgreSQL it runs after a transaction-level advisory lock
  (`serialised`), so two processes claiming at once cannot both take the last slot, and the
  row itself is taken `FOR UPDATE SKIP LOCKED` (a row another statement holds is skipped, not
  waited for). SQLite has one process and one connection, so there it is the UPDATE alone.
- `processes` rows are heartbeats too: how many processes share the bot-wide Discord budgets.
- `identify_turn` spaces IDENTIFYs of one `max_concurrency` bucket across processes.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.jobs.model import ACTIVE_STATES
from db.connection import Connection

_ACTIVE = ", ".join(f"'{state}'" for state in ACTIVE_STATES)
_CLAIM_LOCK = (0x436C_6169, 0)  # "Clai": every claim, so the caps are counted one at a time
_SKIP_LOCKED = "/* FOR UPDATE SKIP LOCKED */"  # PostgreSQL only (db/dialect.py)
# Jobs in flight in every process, counted only up to the cap (LIMIT): a claim costs the same
# with ten thousand jobs in the ledger as with ten.
_IN_FLIGHT = f"""
    SELECT COUNT(*) FROM (SELECT 1 FROM jobs AS other
        WHERE other.state IN ({_ACTIVE}) AND other.owner IS NOT NULL AND other.lease_until >= ?
          AND other.id != ?{{member}} LIMIT ?) AS capped"""

_CLAIM = f"""
    UPDATE jobs SET owner = ?, lease_until = ?, claimed_at = ?
    WHERE id = (SELECT id FROM jobs WHERE id = ? AND state IN ({_ACTIVE})
                AND (owner IS NULL OR owner = ? OR lease_until < ?) {_SKIP_LOCKED})
      AND ({_IN_FLIGHT.format(member="")}) < ?
      AND ({_IN_FLIGHT.format(member=" AND other.user_id = jobs.user_id")}) < ?
    RETURNING id
"""


class LeaseStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(
        self, job_id: int, owner: str, *, now: float, lease_s: float, limits: tuple[int, int]
    ) -> bool:
        """Take the job for `owner` if it is unowned, ours, or its lease ran out, and if fewer
        than `limits` (bot-wide, per member) jobs are in flight in all processes."""
        global_cap, per_user_cap = limits
        cursor = await self._conn.serialised(
            _CLAIM_LOCK,
            _CLAIM,
            (owner, now + lease_s, now, job_id, owner, now,
             now, job_id, global_cap, global_cap,
             now, job_id, per_user_cap, per_user_cap),
        )  # fmt: skip
        row = await cursor.fetchone()
        return row is not None

    async def holder(self, job_id: int, now: float) -> str | None:
        """Who holds a live lease on an active job (None: nobody, or it has ended)."""
        async with self._conn.execute(
            f"SELECT owner FROM jobs WHERE id = ? AND state IN ({_ACTIVE}) "
            "AND owner IS NOT NULL AND lease_until >= ?",
            (job_id, now),
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def renew(self, owner: str, job_ids: Sequence[int], lease_until: float) -> set[int]:
        """The heartbeat: extend `owner`'s leases on these jobs; returns those it still holds
        (a job missing was ended, or taken over after this process stalled past its lease)."""
        held: set[int] = set()
        for start in range(0, len(job_ids), 500):
            chunk = list(job_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            async with self._conn.execute(
                f"UPDATE jobs SET lease_until = ? WHERE owner = ? AND state IN ({_ACTIVE}) "
                f"AND id IN ({marks}) RETURNING id",
                (lease_until, owner, *chunk),
            ) as cur:
                held.update(int(r[0]) for r in await cur.fetchall())
        return held

    async def release(self, owner: str, job_ids: Sequence[int] | None = None) -> int:
        """Give leases back (a stopping process; a job left active without a runner), so
        another process may take them at once instead of after the lease runs out."""
        if job_ids is not None and not job_ids:
            return 0
        scope = "" if job_ids is None else f" AND id IN ({','.join('?' * len(job_ids))})"
        cursor = await self._conn.execute(
            "UPDATE jobs SET owner = NULL, lease_until = NULL "
            f"WHERE owner = ? AND state IN ({_ACTIVE}){scope}",
            (owner, *(job_ids or ())),
        )
        return int(cursor.rowcount)

    async def release_all(self) -> int:
        """Every lease: for a SQLite ledger at start, which no other process can hold."""
        cursor = await self._conn.execute(
            "UPDATE jobs SET owner = NULL, lease_until = NULL WHERE owner IS NOT NULL"
        )
        return int(cursor.rowcount)

    async def claimable(self, owner: str, now: float, limit: int) -> list[tuple[int, int, bool]]:
        """(job id, member id, whether a runner held it) of active jobs no live process
        holds, oldest first: queued ones nobody took yet, and those whose runner died (its
        lease ran out, or it was this process's own and its task ended without an end)."""
        async with self._conn.execute(
            f"SELECT id, user_id, owner IS NOT NULL FROM jobs WHERE state IN ({_ACTIVE}) "
            "AND (owner IS NULL OR owner = ? OR lease_until < ?) ORDER BY id LIMIT ?",
            (owner, now, limit),
        ) as cur:
            return [(int(i), int(u), bool(held)) for i, u, held in await cur.fetchall()]

    # -- processes ---------------------------------------------------------------------------

    async def check_in(
        self, process: str, *, role: str, shards: str, host: str, pid: int, now: float
    ) -> None:
        await self._conn.execute(
            "INSERT INTO processes (id, role, shards, host, pid, started_at, seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            (process, role, shards, host, pid, now, now),
        )

    async def check_out(self, process: str) -> None:
        await self._conn.execute("DELETE FROM processes WHERE id = ?", (process,))

    async def live_processes(self, since: float, role: str | None = None) -> int:
        """Processes seen since `since` (those of a role, or all)."""
        scope = "" if role is None else " AND role IN (?, 'all')"
        async with self._conn.execute(
            f"SELECT COUNT(*) FROM processes WHERE seen_at >= ?{scope}",
            (since,) if role is None else (since, role),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def forget_processes(self, before: float) -> None:
        await self._conn.execute("DELETE FROM processes WHERE seen_at < ?", (before,))
