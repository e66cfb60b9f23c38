from __future__ import annotations

import asyncio
import itertools
import time

from bot.delivery.progress import ProgressView, ThrottledEditor, progress_bar, render_progress
from bot.providers.base import parse_step


def test_progress_bar_and_render() -> None:
    assert progress_bar(0.5, 4) == "▰▰▱▱"
    assert progress_bar(1.0, 4) == "▰▰▰▰"
    view = ProgressView(
        "a cat",
        "fal",
        "fal-ai/flux/dev",
        2,
        started_at=1000.0,
        phase="running",
        step=2,
        total_steps=4,
    )
    text = render_progress(view, now=1012.0)
    assert "step 2/4" in text and "50%" in text and "<t:1000:R>" in text and "12s" in text
    queued = render_progress(
        ProgressView("a", "fal", "m", 1, 0.0, phase="queued", queue_position=0), now=1.0
    )
    assert "position 1" in queued
    waiting = render_progress(ProgressView("a", "fal", "m", 1, 0.0, bot_queue_position=3), now=1)
    assert "#3 in this bot's queue" in waiting


def test_parse_step_reads_the_latest_tqdm_or_step_line() -> None:
    lines = [" 25%|██▌       | 1/4 [00:00<00:01]", " 50%|█████     | 2/4 [00:01<00:01]"]
    assert parse_step(lines) == (2, 4)
    assert parse_step(["Step 3 of 28"]) == (3, 28)
    assert parse_step(["loading weights"]) is None


async def test_throttled_editor_coalesces_and_spaces_edits() -> None:
    sent: list[tuple[float, str]] = []

    async def send(content: str) -> None:
        sent.append((time.monotonic(), content))

    editor = ThrottledEditor(send, 0.2)
    for i in range(20):
        editor.update(f"state {i}")
        await asyncio.sleep(0.02)  # 20 updates over ~0.4 s
    await asyncio.sleep(0.25)
    await editor.close()
    contents = [c for _, c in sent]
    assert contents[0] == "state 0"
    assert contents[-1] == "state 19"  # the latest state wins
    assert len(sent) <= 4
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sent)]
    assert all(gap >= 0.19 for gap in gaps)


async def test_close_drops_pending_state_so_the_final_edit_is_last() -> None:
    sent: list[str] = []

    async def send(content: str) -> None:
        sent.append(content)

    editor = ThrottledEditor(send, 10)
    editor.update("first")
    await asyncio.sleep(0.01)
    editor.update("second")  # would wait 10 s
    await editor.close()
    editor.update("after close")
    await asyncio.sleep(0.01)
    assert sent == ["first"]


async def test_a_failing_edit_does_not_stop_later_ones() -> None:
    calls: list[str] = []

    async def send(content: str) -> None:
        calls.append(content)
        if content == "a":
            raise RuntimeError("discord hiccup")

    editor = ThrottledEditor(send, 0.01)
    editor.update("a")
    await asyncio.sleep(0.05)
    editor.update("b")
    await asyncio.sleep(0.05)
    await editor.close()
    assert calls == ["a", "b"]
