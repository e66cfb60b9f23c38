"""What the web gallery lists (`db.gallery`, bot/web/gallery/): a server's shared images by
date or by votes, and a member's own results across servers. Private and deleted results are
left out here, in the one statement, so no page can list one by forgetting a check."""

from __future__ import annotations

from typing import Literal

from db.community import Share
from db.connection import Connection
from db.jobs import JobRow
from db.rows import columns, reader

Order = Literal["new", "top"]

_SHARE_COLUMNS = ", ".join(f"s.{name}" for name in columns(Share).split(", "))
_JOB_COLUMNS = columns(JobRow)
_share = reader(Share)
_job = reader(JobRow)
_ORDER = {"new": "s.created_at DESC, s.message_id DESC", "top": "s.votes DESC, s.created_at DESC"}
_SHOWN = "{t}private = 0 AND {t}deleted_at IS NULL AND {t}state = 'done'"


class GalleryStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def shares(self, guild_id: int, order: Order, limit: int, offset: int) -> list[Share]:
        """A page of the server's shares, newest or most voted first."""
        async with self._conn.execute(
            f"SELECT {_SHARE_COLUMNS} FROM shares s JOIN jobs j ON j.id = s.job_id "
            f"WHERE s.guild_id = ? AND {_SHOWN.format(t='j.')} "
            f"ORDER BY {_ORDER[order]} LIMIT ? OFFSET ?",
            (guild_id, limit, offset),
        ) as cur:
            return [_share(r) for r in await cur.fetchall()]

    async def member_results(self, user_id: int, limit: int, offset: int) -> list[JobRow]:
        """A page of the member's finished results in every server, newest first."""
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE user_id = ? AND {_SHOWN.format(t='')} "
            "AND result_message_id IS NOT NULL ORDER BY id DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        ) as cur:
            return [_job(r) for r in await cur.fetchall()]
