"""What members do with each other's images (`db.community`): 🚩 reports and the gallery's
shares and ⭐ votes. A share is one gallery post per image; its votes are a count kept on the
post, changed by single statements that never take it below zero."""

from __future__ import annotations

import time
from dataclasses import dataclass

from db.connection import Connection
from db.rows import columns, reader


@dataclass(frozen=True)
class Share:
    message_id: int
    guild_id: int
    channel_id: int
    job_id: int
    image: int
    user_id: int
    votes: int
    created_at: float


_SHARE_COLUMNS = columns(Share)
_share = reader(Share)


class CommunityStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- reports -----------------------------------------------------------------------------

    async def add_report(self, job_id: int, guild_id: int, reporter_id: int) -> bool:
        """False if this member already reported this job."""
        cursor = await self._conn.execute(
            "INSERT OR IGNORE INTO reports (job_id, guild_id, reporter_id, created_at) "
            "VALUES (?, ?, ?, ?)",
            (job_id, guild_id, reporter_id, time.time()),
        )
        return cursor.rowcount == 1

    async def remove_report(self, job_id: int, reporter_id: int) -> None:
        """Withdraw a report that could not be delivered, so the member can try again."""
        await self._conn.execute(
            "DELETE FROM reports WHERE job_id = ? AND reporter_id = ?", (job_id, reporter_id)
        )

    # -- the gallery -------------------------------------------------------------------------

    async def add_share(self, share: Share) -> bool:
        """False if that image of the job is already in the gallery."""
        cursor = await self._conn.execute(
            f"INSERT OR IGNORE INTO shares ({_SHARE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                share.message_id,
                share.guild_id,
                share.channel_id,
                share.job_id,
                share.image,
                share.user_id,
                share.votes,
                share.created_at,
            ),
        )
        return cursor.rowcount == 1

    async def share_of(self, job_id: int, image: int) -> Share | None:
        async with self._conn.execute(
            f"SELECT {_SHARE_COLUMNS} FROM shares WHERE job_id = ? AND image = ?",
            (job_id, image),
        ) as cur:
            row = await cur.fetchone()
        return _share(row) if row else None

    async def shares_of_job(self, job_id: int) -> list[Share]:
        async with self._conn.execute(
            f"SELECT {_SHARE_COLUMNS} FROM shares WHERE job_id = ? ORDER BY image", (job_id,)
        ) as cur:
            return [_share(r) for r in await cur.fetchall()]

    async def add_vote(self, message_id: int, delta: int) -> bool:
        """Count a ⭐ added (+1) or taken back (-1) on a gallery post; False if the message is
        not one."""
        cursor = await self._conn.execute(
            "UPDATE shares SET votes = CASE WHEN votes + ? < 0 THEN 0 ELSE votes + ? END "
            "WHERE message_id = ?",
            (delta, delta, message_id),
        )
        return cursor.rowcount == 1

    async def top_shares(self, guild_id: int, since: float, limit: int = 10) -> list[Share]:
        """The most voted shares since `since` whose job was not deleted, oldest first on a
        tie."""
        async with self._conn.execute(
            f"SELECT {_SHARE_COLUMNS} FROM shares WHERE guild_id = ? AND created_at >= ? "
            "AND job_id NOT IN (SELECT id FROM jobs WHERE deleted_at IS NOT NULL) "
            "ORDER BY votes DESC, created_at ASC LIMIT ?",
            (guild_id, since, limit),
        ) as cur:
            return [_share(r) for r in await cur.fetchall()]
