"""bot/jobs/journal.py `AckOrder`: in a burst of commands every acknowledgement goes out before
the work that follows them (Discord's 3 s clock runs only for the acknowledgements)."""

from __future__ import annotations

import asyncio
import time

from bot.jobs.journal import AckOrder


async def test_a_jobs_work_waits_until_every_earlier_command_is_acknowledged() -> None:
    order = AckOrder()
    for interaction_id in (1, 2, 3):
        order.begun(interaction_id)
    order.answered(1)
    waiting = asyncio.create_task(order.wait(5.0))
    await asyncio.sleep(0.01)
    order.answered(3)
    await asyncio.sleep(0.01)
    assert not waiting.done()  # 2 still waits for its acknowledgement
    order.answered(2)
    await asyncio.wait_for(waiting, 1.0)


async def test_commands_arriving_after_the_wait_began_do_not_extend_it() -> None:
    order = AckOrder()
    order.begun(1)
    waiting = asyncio.create_task(order.wait(5.0))
    await asyncio.sleep(0.01)
    order.begun(2)  # a later command: not this job's concern
    order.answered(1)
    await asyncio.wait_for(waiting, 1.0)


async def test_nothing_pending_means_no_wait() -> None:
    order = AckOrder()
    order.begun(1)
    order.answered(1)
    started = time.monotonic()
    await order.wait(5.0)
    assert time.monotonic() - started < 0.05


async def test_a_stuck_acknowledgement_delays_the_work_only_up_to_the_bound() -> None:
    order = AckOrder()
    order.begun(1)  # never answered
    started = time.monotonic()
    await order.wait(0.1)
    assert 0.09 <= time.monotonic() - started < 1.0
