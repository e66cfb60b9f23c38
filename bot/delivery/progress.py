"""Turning provider updates into few, useful message edits.

Two ideas keep Discord traffic low: edits to one message are throttled (at most one per
interval, the latest state wins, nothing piles up), and the elapsed time is a Discord relative
timestamp (`<t:…:R>`) that every client counts up by itself, so time passing costs no edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.delivery.text import escape, quote
from bot.i18n import _, n_

log = logging.getLogger(__name__)

BAR_WIDTH = 12


@dataclass(frozen=True)
class ProgressView:
    """Everything the progress message shows, as plain data."""

    prompt: str
    provider: str
    model: str
    count: int
    started_at: float  # unix seconds, for the live relative timestamp
    phase: str = "waiting"  # waiting | submitting | queued | running | finishing
    bot_queue_position: int | None = None
    queue_position: int | None = None
    step: int | None = None
    total_steps: int | None = None
    note: str | None = None  # e.g. a fallback to another provider
    detail: str | None = None  # the provider's words when it has no step progress


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    filled = math.floor(fraction * width + 1e-9)
    return "▰" * filled + "▱" * (width - filled)


def render_progress(view: ProgressView, *, now: float | None = None) -> str:
    now = time.time() if now is None else now
    images = n_("{n} image", "{n} images", view.count)
    prompt = quote(view.prompt, 200)
    head = f"🎨 **{prompt}**\n{images} · {view.provider} · `{view.model}`"
    status = _status(view)
    elapsed = max(0, int(now - view.started_at))
    if view.note:  # may quote the provider
        status = f"ℹ️ {escape(view.note)}\n{status}"
    started = _(
        "started <t:{started}:R> · {elapsed}s so far",
        started=int(view.started_at),
        elapsed=elapsed,
    )
    return f"{head}\n{status}\n-# {started}"


def _status(view: ProgressView) -> str:
    provider = view.provider
    if view.phase == "waiting":
        if view.bot_queue_position:
            return _(
                "⏳ Waiting for a free slot: #{position} in this bot's queue",
                position=view.bot_queue_position,
            )
        return _("⏳ Waiting for a free slot")
    if view.phase == "submitting":
        return _("📨 Sending to {provider}…", provider=provider)
    if view.phase == "queued":
        if view.queue_position is not None:
            return _(
                "🕒 In {provider}'s queue: position {position}",
                provider=provider,
                position=view.queue_position + 1,
            )
        return _("🕒 In {provider}'s queue", provider=provider)
    if view.phase == "running":
        if view.step is not None and view.total_steps:
            fraction = view.step / view.total_steps
            return _(
                "🖌️ Generating {bar} {percent}% · step {step}/{total}",
                bar=progress_bar(fraction),
                percent=round(fraction * 100),
                step=view.step,
                total=view.total_steps,
            )
        if view.detail:  # the provider's words
            return _("🖌️ Generating… {detail}", detail=escape(view.detail))
        return _("🖌️ Generating…")
    return _("📥 Fetching the images…")


# Progress edits per second for the whole bot. A member sees their job's state change at most
# every `progress_interval_s`; with hundreds of jobs in flight each one's edits come further
# apart instead of the bot spending its CPU (and Discord's patience) on cosmetics.
PROGRESS_EDITS_PER_S = 40.0


class EditBudget:
    """A ceiling on progress edits per second, shared by every job's `ThrottledEditor`.

    An editor reserves the next free slot before it sends and keeps only its latest state
    meanwhile, so there is at most one reservation per job: with few jobs nobody waits; with a
    thousand in flight every message still gets its turn, just less often. Final edits (the
    images, a failure) never wait for it."""

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_second = per_second
        self._gap = 1.0 / per_second
        self._next = -math.inf
        self._clock = clock

    def share(self, processes: int) -> None:
        """Split the bot-wide ceiling evenly with the other processes that run jobs (it is
        Discord's limit for the whole bot, not for one process)."""
        self._gap = max(1, processes) / self._per_second

    def reserve(self) -> float:
        """Reserve the next free slot; returns the seconds to wait until it."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self._gap
        return slot - now


class ThrottledEditor:
    """Sends the latest state of one message at most once per `interval` seconds.

    `update()` never blocks and never queues more than one pending state; `close()` drops
    what is pending and waits for an edit already on the wire, so the caller's final edit
    is always the last one Discord sees.
    """

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        budget: EditBudget | None = None,
    ) -> None:
        self._send = send
        self._interval = interval
        self._clock = clock
        self._budget = budget
        self._pending: str | None = None
        self._last_sent: str | None = None
        self._last_at = -math.inf
        self._task: asyncio.Task[None] | None = None
        self._sending = False
        self._closed = False
        self.sent = 0

    def update(self, content: str) -> None:
        if self._closed or content == self._last_sent:
            return
        self._pending = content
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        while self._pending is not None and not self._closed:
            wait = self._last_at + self._interval - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            if self._budget is not None:
                wait = self._budget.reserve()
                if wait > 0:
                    await asyncio.sleep(wait)  # newer states replace the pending one meanwhile
            content, self._pending = self._pending, None
            if content is None or self._closed:
                return
            self._last_at = self._clock()
            self._sending = True
            try:
                await self._send(content)
                self._last_sent = content
                self.sent += 1
            except Exception as exc:  # progress is best effort; the final edit is not
                log.warning("progress edit failed: %s", exc)
            finally:
                self._sending = False

    async def close(self, *, grace: float = 10.0) -> None:
        self._closed = True
        self._pending = None
        task, self._task = self._task, None
        if task is None or task.done():
            return
        if not self._sending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, grace)
