"""Input images for image-to-image and upscale jobs (`db.images`).

They live apart from the job row so that the row stays small, and they stay stored until no
unfinished job needs them, so a queued job can still be submitted after a restart.
"""

from __future__ import annotations

import time

from bot.jobs.model import ACTIVE_STATES
from db.connection import Connection


class InputImageStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def save(
        self, data: bytes, content_type: str, width: int, height: int, source_url: str | None
    ) -> int:
        cursor = await self._conn.execute(
            "INSERT INTO input_images (data, content_type, width, height, source_url, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (data, content_type, width, height, source_url, time.time()),
        )
        row = await cursor.fetchone()
        await cursor.close()
        assert row is not None
        return int(row[0])

    async def get(self, image_id: int) -> tuple[bytes, str] | None:
        """(the image's bytes, its content type), or None once it was purged or deleted."""
        async with self._conn.execute(
            "SELECT data, content_type FROM input_images WHERE id = ?", (image_id,)
        ) as cur:
            row = await cur.fetchone()
        return (bytes(row[0]), str(row[1])) if row else None

    async def size(self, image_id: int) -> tuple[int, int] | None:
        """(width, height) of the image as it is sent, or None once it is gone."""
        async with self._conn.execute(
            "SELECT width, height FROM input_images WHERE id = ?", (image_id,)
        ) as cur:
            row = await cur.fetchone()
        return (int(row[0]), int(row[1])) if row else None

    async def purge(self, older_than: float) -> int:
        """Drop input images no unfinished job needs any more; returns how many."""
        marks = ", ".join("?" for _ in ACTIVE_STATES)
        cursor = await self._conn.execute(
            "DELETE FROM input_images WHERE created_at < ? AND id NOT IN ("
            "SELECT json_extract(inputs, '$.image_id') FROM jobs "
            f"WHERE state IN ({marks}) AND json_extract(inputs, '$.image_id') IS NOT NULL)",
            (older_than, *ACTIVE_STATES),
        )
        return cursor.rowcount

    async def delete(self, image_id: int) -> None:
        await self._conn.execute("DELETE FROM input_images WHERE id = ?", (image_id,))
