"""Numbers read from the ledger (`db.stats`): how each provider has done lately (`/providers`)
and a server's usage by member and by provider (`/usage` for moderators). Read-only: every
figure is computed from the job rows when asked, so none can drift from the ledger. What a
member may still use (`quota_used`, `guild_spend`) is not here: it is part of reserving a job
(db/jobs.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from db.connection import Connection


@dataclass(frozen=True)
class ProviderHealth:
    """How one provider has done lately, from the ledger (for `/providers`)."""

    provider: str
    jobs: int  # created in the window, in any state
    done: int
    failed: int  # failed or expired (cancelled jobs count for neither side)
    median_s: float | None  # median of finished_at - submitted_at over the done jobs

    @property
    def success_rate(self) -> float | None:
        ended = self.done + self.failed
        return self.done / ended if ended else None


_COUNTS = """
    SELECT provider, COUNT(*), SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END),
           SUM(CASE WHEN state IN ('failed', 'expired') THEN 1 ELSE 0 END)
    FROM jobs WHERE created_at >= ? GROUP BY provider
"""

_MEDIANS = """
    WITH done AS (
        SELECT provider, finished_at - submitted_at AS seconds,
               ROW_NUMBER() OVER (
                   PARTITION BY provider ORDER BY finished_at - submitted_at
               ) AS n,
               COUNT(*) OVER (PARTITION BY provider) AS total
        FROM jobs
        WHERE created_at >= ? AND state = 'done'
          AND submitted_at IS NOT NULL AND finished_at IS NOT NULL
    )
    SELECT provider, AVG(seconds) FROM done
    WHERE n IN ((total + 1) / 2, (total + 2) / 2) GROUP BY provider
"""


class StatsStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def provider_health(
        self, since_s: float, *, now: float | None = None
    ) -> dict[str, ProviderHealth]:
        """Per provider, over the jobs created in the last `since_s` seconds: how many, how many
        done and failed, and the median submit-to-finish time of the done ones."""
        since = (time.time() if now is None else now) - since_s
        async with self._conn.execute(_COUNTS, (since,)) as cur:
            counts = await cur.fetchall()
        async with self._conn.execute(_MEDIANS, (since,)) as cur:
            medians = {str(row[0]): float(row[1]) for row in await cur.fetchall()}
        return {
            str(row[0]): ProviderHealth(
                provider=str(row[0]),
                jobs=int(row[1]),
                done=int(row[2] or 0),
                failed=int(row[3] or 0),
                median_s=medians.get(str(row[0])),
            )
            for row in counts
        }

    async def top_users(
        self, guild_id: int, since: float, limit: int = 5
    ) -> list[tuple[int, int, float]]:
        """(user id, images charged, cost) of a server's biggest users since `since`."""
        async with self._conn.execute(
            "SELECT user_id, SUM(image_count - refunded_images), SUM(cost) FROM jobs "
            "WHERE guild_id = ? AND created_at >= ? AND quota_state != 'refunded' "
            "GROUP BY user_id ORDER BY 2 DESC LIMIT ?",
            (guild_id, since, limit),
        ) as cur:
            return [(int(u), int(n), float(c or 0)) for u, n, c in await cur.fetchall()]

    async def provider_totals(self, guild_id: int, since: float) -> list[tuple[str, int, float]]:
        """(provider, images charged, cost) of a server since `since`, costliest first."""
        async with self._conn.execute(
            "SELECT provider, SUM(image_count - refunded_images), SUM(cost) FROM jobs "
            "WHERE guild_id = ? AND created_at >= ? AND quota_state != 'refunded' "
            "GROUP BY provider ORDER BY 3 DESC",
            (guild_id, since),
        ) as cur:
            return [(str(p), int(n), float(c or 0)) for p, n, c in await cur.fetchall()]
