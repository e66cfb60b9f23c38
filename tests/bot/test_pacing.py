"""The small machinery that keeps the bot's overhead flat: adaptive polling, the shared
progress-edit budget, and the opt-in loop-lag probe."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.delivery.progress import EditBudget, ThrottledEditor
from bot.ops import looplag
from bot.providers.base import ProviderUpdate
from bot.providers.pacing import PollPacer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timeline(t: float, queue_s: float, run_s: float, steps: int) -> ProviderUpdate:
    """A job like the fakes': queued, then `steps` evenly spread steps, then done."""
    if t < queue_s:
        return ProviderUpdate("queued")
    if t >= queue_s + run_s:
        return ProviderUpdate("completed")
    done = sum(1 for i in range(1, steps + 1) if queue_s + run_s * i / (steps + 1) <= t)
    if not done:
        return ProviderUpdate("running")
    return ProviderUpdate("running", step=done, total_steps=steps)


def follow(
    ceiling: float, queue_s: float, run_s: float, steps: int
) -> tuple[int, float, list[float]]:
    """Polls made, how late the completion was seen, and every delay the pacer chose."""
    clock = Clock()
    pacer = PollPacer(ceiling, clock=clock)
    polls = 0
    delays = []
    while True:
        polls += 1
        update = timeline(clock.now, queue_s, run_s, steps)
        if update.phase == "completed":
            return polls, clock.now - (queue_s + run_s), delays
        delay = pacer.next_delay(update)
        delays.append(delay)
        clock.now += delay


def test_pacer_backs_off_while_nothing_changes_but_never_past_the_ceiling() -> None:
    clock = Clock()
    pacer = PollPacer(2.0, clock=clock)
    delays = []
    for _ in range(12):
        delays.append(pacer.next_delay(ProviderUpdate("queued", queue_position=3)))
        clock.now += delays[-1]
    assert delays[0] < 0.5
    assert delays == sorted(delays)
    assert max(delays) == 2.0


def test_pacer_polls_fast_again_after_a_phase_change() -> None:
    clock = Clock()
    pacer = PollPacer(2.0, clock=clock)
    for _ in range(10):
        pacer.next_delay(ProviderUpdate("queued"))
    assert pacer.next_delay(ProviderUpdate("queued")) == 2.0
    assert pacer.next_delay(ProviderUpdate("running")) < 0.5


@pytest.mark.parametrize("queue_s", [0.3, 1.0, 2.7])
def test_a_20_s_generation_takes_few_polls_and_is_seen_finishing_promptly(queue_s: float) -> None:
    polls, late, delays = follow(2.0, queue_s, 20.0, 28)
    assert polls <= 24  # one every 0.2 s would be ~100, fal-client's 0.1 s default ~200
    assert late <= 0.3  # the prediction from the step rate puts a poll right at the end
    assert max(delays) <= 2.0


def test_without_steps_the_pacer_still_respects_the_ceiling() -> None:
    polls, late, delays = follow(1.0, 1.0, 10.0, 0)
    assert max(delays) <= 1.0 and late <= 1.0
    assert polls <= 15


def test_edit_budget_hands_out_evenly_spaced_slots() -> None:
    clock = Clock()
    budget = EditBudget(10.0, clock=clock)
    waits = [budget.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    clock.now = 5.0  # idle for a while: no debt carried over
    assert budget.reserve() == 0.0


def test_an_edit_budget_shared_by_processes_gives_each_its_part_of_the_ceiling() -> None:
    clock = Clock()
    budget = EditBudget(10.0, clock=clock)
    budget.share(2)  # two processes run jobs: 5 edits/s each, 10 for the bot
    assert [budget.reserve() for _ in range(3)] == pytest.approx([0.0, 0.2, 0.4])
    budget.share(1)
    clock.now = 10.0
    assert [budget.reserve() for _ in range(2)] == pytest.approx([0.0, 0.1])


async def test_editors_sharing_a_budget_coalesce_instead_of_queueing() -> None:
    sent: list[tuple[int, str, float]] = []
    budget = EditBudget(20.0)

    def sender(n: int) -> Callable[[str], Awaitable[None]]:
        async def send(content: str) -> None:
            sent.append((n, content, time.monotonic()))

        return send

    editors = [ThrottledEditor(sender(n), 0.01, budget=budget) for n in range(10)]
    for round_ in range(5):
        for editor in editors:
            editor.update(f"state {round_}")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.7)
    for editor in editors:
        await editor.close()
    times = sorted(t for _, _, t in sent)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.04  # 20 edits/s for all of them together
    assert len(sent) < 50  # 50 updates, coalesced per message
    last = {n: content for n, content, _ in sent}
    assert set(last) == set(range(10))  # every message got its turn


async def test_loop_lag_probe_does_nothing_unless_enabled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(looplag.ENV_VAR, raising=False)
    assert looplag.start_from_env() is None

    path = tmp_path / "lag.log"
    monkeypatch.setenv(looplag.ENV_VAR, str(path))
    task = looplag.start_from_env()
    assert task is not None
    probe = asyncio.create_task(looplag.probe(str(path), tick_s=0.005, report_s=0.1))
    await asyncio.sleep(0.05)
    time.sleep(0.08)  # noqa: ASYNC251 - block the loop on purpose
    await asyncio.sleep(0.2)
    for running in (task, probe):
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    lines = [line.split() for line in path.read_text().splitlines()]
    assert lines and all(len(line) == 6 for line in lines)
    assert max(float(line[1]) for line in lines) >= 60  # the 80 ms block, in ms
