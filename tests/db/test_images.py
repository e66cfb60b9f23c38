"""db.images: input images stay while an unfinished job needs them."""

from __future__ import annotations

import time

from db.database import Database
from tests.db.factories import new_job


async def test_purge_keeps_input_images_of_unfinished_jobs(db: Database) -> None:
    old = await db.images.save(b"a", "image/png", 1, 1, None)
    kept = await db.images.save(b"b", "image/png", 1, 1, None)
    job = new_job(inputs={"prompt": "p", "image_id": kept})
    assert await db.jobs.reserve(job, daily_limit=10, day="d")
    assert await db.images.purge(older_than=time.time() + 1) == 1
    assert await db.images.get(old) is None
    assert await db.images.get(kept) == (b"b", "image/png")


async def test_a_deleted_input_image_is_gone(db: Database) -> None:
    image_id = await db.images.save(b"a", "image/png", 1, 1, "https://example.com/a.png")
    await db.images.delete(image_id)
    assert await db.images.get(image_id) is None
