"""Taking jobs from the ledger as a queue (bot/jobs/runner.py with bot/jobs/leases.py), on both
engines: a job is judged (resumable or lost) only once this process holds its lease."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from bot.config import parse_config
from bot.jobs.intake import JobService
from bot.jobs.model import Origin
from bot.jobs.runner import JobRunner
from bot.providers.request import build_request
from tests.bot.jobs.test_runner_properties import (
    JobSubmitterThatDrops,
    RecordingMessenger,
    ScriptedProvider,
)
from tests.storage import database_config, open_ledger

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}


async def test_a_job_another_process_claimed_after_it_was_listed_is_left_to_that_process(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed as unclaimed by the watchdog, then claimed and being sent by another process
    before this one read it: this one must neither fail it nor send it."""
    config = parse_config({"database": database_config(db_path)}, ENV)
    db = await open_ledger(db_path)
    session = aiohttp.ClientSession()
    provider = ScriptedProvider("http://127.0.0.1:9/unused.png")
    messenger = RecordingMessenger()
    runner = JobRunner(config, db, {"fal": provider}, messenger, session)  # type: ignore[arg-type]
    try:
        job_id = await JobService(config, db, JobSubmitterThatDrops()).create(
            build_request(config, prompt="raced"), Origin(1, 1, 1, 1, None, "t", 0.0, 1, 10**7)
        )
        listed = await db.leases.claimable("watchdog", time.time(), 10)

        async def stale(*_: object) -> list[tuple[int, int, bool]]:
            return listed

        assert await db.leases.claim(job_id, "other", now=time.time(), lease_s=30, limits=(9, 9))
        assert await db.jobs.begin_submit(job_id)  # the other process is sending it now
        monkeypatch.setattr(db.leases, "claimable", stale)
        await runner.resume_unfinished()
        await runner.wait_idle()
        job = await db.jobs.get(job_id)
        assert job is not None
        assert (job.state, job.quota_state, job.submit_pending) == ("queued", "reserved", True)
        assert await db.leases.holder(job_id, time.time()) == "other"
        assert not provider.submits and not messenger.deliveries and not messenger.finals
    finally:
        await runner.stop()
        await session.close()
        await db.close()
