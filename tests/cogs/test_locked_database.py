"""Another program holding the SQLite write lock (a backup, a `sqlite3` shell) delays jobs but
never delays an acknowledgement or loses a job (db/busy.py, cogs/ui/interactions.py `start_job`)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.jobs.model import ACTIVE_STATES, FINAL_STATES
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.harness import running_bot

pytestmark = pytest.mark.sqlite_only  # another program's lock on the SQLite file

QUICK = Script(queue_s=0.1, run_s=0.3, steps=2)


@asynccontextmanager
async def exclusive_lock(db_path: Path, hold_s: float) -> AsyncIterator[asyncio.Task[None]]:
    """`BEGIN EXCLUSIVE` from another connection, as a shell or backup would, for `hold_s`."""
    locked = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            threading.Event().wait(hold_s)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    task = asyncio.create_task(asyncio.to_thread(hold))
    while not locked.is_set():
        await asyncio.sleep(0.01)
    try:
        yield task
    finally:
        await task


async def test_every_command_is_acknowledged_at_once_and_no_job_is_lost_under_an_8s_lock(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_fal.script(None, Script(queue_s=0.1, run_s=1.0, steps=2), times=1)  # the first job
    async with running_bot(fake_discord, db_path) as h:
        before = await h.imagine(prompt="in flight", user_id=3999)
        await fake_fal.wait_for_submit()
        async with exclusive_lock(db_path, hold_s=8):
            sent = [await h.imagine(prompt=f"castle {i}", user_id=4000 + i) for i in range(4)]
            sent.append(await fake_discord.send_interaction("usage", [], user_id=4000))
            sent.append(await fake_discord.send_interaction("providers", [], user_id=4001))
            async with asyncio.timeout(5):
                while any(i.responded_at is None for i in sent):
                    await asyncio.sleep(0.02)
            waits = [i.responded_at - i.sent_at for i in sent]  # type: ignore[operator]
            assert max(waits) < 3, waits
            assert fake_fal.submits[1:] == []  # nothing could be recorded yet, so nothing sent
        await h.idle(timeout=60)

        for interaction in [before, *sent[:4]]:
            job = await h.job_for(interaction)
            assert job is not None and (job.state, job.quota_state) == ("done", "committed")
            assert h.original(interaction).attachments
        assert len(fake_fal.submits) == 5  # each job sent once
        for i in range(4):
            assert await h.bot.db.jobs.quota_used(4000 + i, job.quota_day) == 1


async def test_a_lock_held_past_the_wait_is_answered_privately_and_charges_nothing(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path, database={"busy_wait_s": 1}) as h:
        async with exclusive_lock(db_path, hold_s=4):
            interaction = await h.imagine(prompt="a ship", user_id=4000)
            await h.settled(timeout=10)
        answers = interaction.private_answers()
        assert answers == [
            "The bot's database is busy right now (another program is holding it), so this "
            "was not recorded and nothing was charged. Please try again in a minute."
        ]
        assert interaction.original() is None or interaction.original().deleted  # type: ignore[union-attr]
        assert await h.job_for(interaction) is None
        assert await h.bot.db.jobs.in_states(ACTIVE_STATES + FINAL_STATES) == []
        assert fake_fal.submits == []
        assert h.bot.intake.pending == 0
