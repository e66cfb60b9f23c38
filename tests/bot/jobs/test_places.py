"""bot/jobs/places.py: waiting members learn their place without a pass over the whole queue
per arrival (a burst of thousands would be quadratic)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.jobs import places as places_module
from bot.jobs.places import WaitingPlaces
from bot.jobs.scheduler import FairScheduler


class _Live:
    def __init__(self) -> None:
        self.shown_position: int | None = None
        self.shown: list[int] = []

    def show(self, **fields: Any) -> None:
        self.shown.append(fields["bot_queue_position"])


def _queue(waiting: int) -> FairScheduler:
    scheduler = FairScheduler(1, 1)
    scheduler.push(0, 0)
    assert scheduler.pop_ready() == (0, 0)  # the one slot is taken: the rest wait
    for n in range(1, waiting + 1):
        scheduler.push(n, n)
    return scheduler


async def test_a_burst_of_changes_costs_one_pass_now_and_one_when_the_interval_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(places_module, "EVERY_S", 0.05)
    scheduler = _queue(3)
    passes = 0
    real = scheduler.positions

    def counting() -> dict[int, int]:
        nonlocal passes
        passes += 1
        return real()

    monkeypatch.setattr(scheduler, "positions", counting)
    board = WaitingPlaces(scheduler, {})
    for _ in range(1000):
        board.changed()
    assert passes == 1
    await asyncio.sleep(0.1)
    assert passes == 2


async def test_the_place_after_the_last_change_of_a_burst_is_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(places_module, "EVERY_S", 0.05)
    scheduler = _queue(30)
    live = {n: _Live() for n in range(1, 31)}
    board = WaitingPlaces(scheduler, live)  # type: ignore[arg-type]
    board.changed()
    assert live[30].shown == [30]
    for n in range(1, 21):  # twenty members give up their place
        scheduler.remove(n, n)
        board.changed()
    assert live[30].shown == [30]  # not yet: the interval has not ended
    await asyncio.sleep(0.1)
    assert live[30].shown == [30, 10]
    board.close()
