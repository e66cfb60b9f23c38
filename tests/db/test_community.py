"""db.community: reports, gallery shares and votes."""

from __future__ import annotations

from db.community import Share
from db.database import Database
from tests.db.factories import new_job


async def _job(db: Database) -> int:
    job_id = await db.jobs.reserve(new_job(), daily_limit=10, day="d")
    assert job_id
    return job_id


def share(job_id: int, image: int, message_id: int, created_at: float = 100.0) -> Share:
    return Share(message_id, 10, 30, job_id, image, 1, 0, created_at)


async def test_a_member_reports_a_job_once_until_the_report_is_withdrawn(db: Database) -> None:
    job_id = await _job(db)
    assert await db.community.add_report(job_id, 10, 5)
    assert not await db.community.add_report(job_id, 10, 5)
    assert await db.community.add_report(job_id, 10, 6)  # another member
    await db.community.remove_report(job_id, 5)
    assert await db.community.add_report(job_id, 10, 5)


async def test_an_image_is_shared_once(db: Database) -> None:
    job_id = await _job(db)
    assert await db.community.add_share(share(job_id, 0, 1000))
    assert not await db.community.add_share(share(job_id, 0, 1001))
    assert await db.community.add_share(share(job_id, 1, 1002))
    assert [s.message_id for s in await db.community.shares_of_job(job_id)] == [1000, 1002]
    found = await db.community.share_of(job_id, 1)
    assert found is not None and found.message_id == 1002


async def test_votes_never_go_below_zero(db: Database) -> None:
    job_id = await _job(db)
    assert await db.community.add_share(share(job_id, 0, 1000))
    assert await db.community.add_vote(1000, -1)
    assert await db.community.add_vote(1000, +1)
    assert not await db.community.add_vote(4242, +1)  # not a gallery post
    found = await db.community.share_of(job_id, 0)
    assert found is not None and found.votes == 1


async def test_top_shares_leave_out_deleted_jobs_and_older_posts(db: Database) -> None:
    kept, deleted = await _job(db), await _job(db)
    await db.community.add_share(share(kept, 0, 1000, created_at=100.0))
    await db.community.add_share(share(kept, 1, 1001, created_at=50.0))  # before the window
    await db.community.add_share(share(deleted, 0, 1002, created_at=100.0))
    await db.community.add_vote(1002, +1)
    await db.jobs.mark_deleted(deleted)
    assert [s.message_id for s in await db.community.top_shares(10, since=60.0)] == [1000]
