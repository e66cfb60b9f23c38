"""Telling waiting members their place in the bot's queue.

Every place is computed in one pass over the waiting jobs, so a pass per arrival makes a burst
quadratic: 3,000 `/imagine` at once under the default caps cost ~1.3 s of CPU in passes alone
(issue 14). A pass runs at once when none ran in the last `EVERY_S`, else once when that
interval ends, however many arrivals and starts came in between.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from bot.jobs.execution import Live
from bot.jobs.scheduler import FairScheduler

EVERY_S = 0.5


class WaitingPlaces:
    def __init__(self, scheduler: FairScheduler, live: Mapping[int, Live]) -> None:
        self._scheduler = scheduler
        self._live = live
        self._last = -EVERY_S
        self._timer: asyncio.TimerHandle | None = None

    def changed(self) -> None:
        """The queue changed: show the new places now or at the end of the interval."""
        if self._timer is not None:
            return
        wait = self._last + EVERY_S - time.monotonic()
        if wait <= 0:
            self._show()
        else:
            self._timer = asyncio.get_running_loop().call_later(wait, self._due)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> None:
        self._timer = None
        self._show()

    def _show(self) -> None:
        """Tell waiting members their place, but only when it changed a lot (it halved, or is
        in the last ten), so a long queue costs each member a handful of edits, not hundreds."""
        self._last = time.monotonic()
        if not self._scheduler.waiting_total:
            return
        for job_id, place in self._scheduler.positions().items():
            live = self._live.get(job_id)
            if live is None:
                continue  # its row is still loading; it renders its place when it arrives
            shown = live.shown_position
            if shown is None or (place != shown and (place <= 10 or place <= shown // 2)):
                live.shown_position = place
                live.show(phase="waiting", bot_queue_position=place)
