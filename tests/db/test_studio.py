"""The studio's storage: members' defaults, styles, and permutations reserved whole."""

from __future__ import annotations

import time
from dataclasses import replace

from db.database import Database
from db.studio import StyleRow
from tests.db.factories import new_job


def _batch(count: int, images: int = 2) -> list:
    first = new_job(count=images, message_id=500)
    others = [new_job(count=images, message_id=501 + i) for i in range(count - 1)]
    return [first] + [replace(j, origin=replace(j.origin, interaction_id=None)) for j in others]


async def test_a_batch_is_reserved_whole_in_its_order(db: Database) -> None:
    batch = _batch(4)
    ids = await db.jobs.reserve_batch(batch, daily_limit=8, day="d")
    assert len(ids) == 4 and ids == sorted(ids)
    rows = [await db.jobs.get(i) for i in ids]
    assert [r.message_id for r in rows if r] == [500, 501, 502, 503]
    assert await db.jobs.quota_used(1, "d", 10) == 8


async def test_a_batch_over_the_quota_reserves_nothing(db: Database) -> None:
    await db.jobs.reserve(new_job(count=3), daily_limit=10, day="d")
    assert await db.jobs.reserve_batch(_batch(4), daily_limit=10, day="d") == []
    assert await db.jobs.quota_used(1, "d", 10) == 3


async def test_a_batch_over_the_servers_budget_reserves_nothing(db: Database) -> None:
    batch = [replace(job, cost=1.5) for job in _batch(4)]
    assert await db.jobs.reserve_batch(batch, daily_limit=99, day="d", monthly_budget=5.0) == []
    assert await db.jobs.quota_used(1, "d", 10) == 0


async def test_a_batch_delivered_twice_is_reserved_once(db: Database) -> None:
    batch = _batch(3)
    assert await db.jobs.reserve_batch(batch, daily_limit=99, day="d")
    assert await db.jobs.reserve_batch(batch, daily_limit=99, day="d") == []
    assert await db.jobs.quota_used(1, "d", 10) == 6


async def test_a_jobs_locale_and_privacy_are_kept(db: Database) -> None:
    job = new_job()
    job = replace(job, origin=replace(job.origin, locale="de", private=True))
    job_id = await db.jobs.reserve(job, daily_limit=5, day="d")
    row = await db.jobs.get(job_id or 0)
    assert row and row.origin.locale == "de" and row.origin.private is True


async def test_member_settings_are_saved_cleared_and_reset(db: Database) -> None:
    saved = await db.studio.update_member(7, aspect_ratio="16:9", private=True, locale="de")
    assert (saved.aspect_ratio, saved.private, saved.locale) == ("16:9", True, "de")
    cleared = await db.studio.update_member(7, aspect_ratio=None)
    assert cleared.aspect_ratio is None and cleared.private is True
    assert await db.studio.chosen_locales() == {7: "de"}
    await db.studio.reset_member(7)
    assert (await db.studio.member(7)).private is None


def _style(name: str, guild: int, user: int, template: str = "{prompt}, ink") -> StyleRow:
    return StyleRow(guild, user, name, template, None, None, "", user or 1, time.time())


async def test_a_members_own_style_comes_before_the_servers_of_that_name(db: Database) -> None:
    assert await db.studio.add_style(_style("Ink", 10, 0, "{prompt}, server ink"))
    assert await db.studio.add_style(_style("ink", 0, 7, "{prompt}, my ink"))
    assert not await db.studio.add_style(_style("INK", 10, 0))
    mine = await db.studio.style(10, 7, "INK")
    theirs = await db.studio.style(10, 8, "ink")
    assert mine and mine.template == "{prompt}, my ink"
    assert theirs and theirs.template == "{prompt}, server ink"
    assert await db.studio.style(11, 8, "ink") is None
    names = [(s.name, s.personal) for s in await db.studio.styles(10, 7, "i")]
    assert names == [("ink", True), ("Ink", False)]
