"""An opt-in event-loop lag probe, for benchmarks and for diagnosing a sluggish bot.

Set `ARTFACTORY_LOOP_LAG_LOG=/path/to/file` and the bot appends one line per second:

    <unix time> <max lag ms> <mean lag ms> <samples> <longest GC pause ms> <full collections>

where lag is how late a `sleep(tick)` wakes up, i.e. the longest time the loop was busy with
something else, and the last two columns tell how much of that the garbage collector was.
Unset (the default), nothing runs and no GC callback is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from typing import Any

ENV_VAR = "ARTFACTORY_LOOP_LAG_LOG"
TICK_S = 0.01
REPORT_S = 1.0

log = logging.getLogger(__name__)


def start_from_env() -> asyncio.Task[None] | None:
    """Start the probe if `ARTFACTORY_LOOP_LAG_LOG` names a file; otherwise do nothing."""
    path = os.environ.get(ENV_VAR)
    if not path:
        return None
    log.info("loop-lag probe writing to %s", path)
    return asyncio.create_task(probe(path), name="loop-lag-probe")


class _GcWatch:
    """Longest collection pause and number of full collections since the last `take()`."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.longest = max(self.longest, time.perf_counter() - self._started)
        if info.get("generation") == 2:
            self.full += 1

    def take(self) -> tuple[float, int]:
        taken = (self.longest, self.full)
        self.longest, self.full = 0.0, 0
        return taken


async def probe(path: str, *, tick_s: float = TICK_S, report_s: float = REPORT_S) -> None:
    loop = asyncio.get_running_loop()
    watch = _GcWatch()
    gc.callbacks.append(watch)
    try:
        with open(path, "a", encoding="utf-8", buffering=1) as out:  # noqa: ASYNC230 - tiny
            worst = total = 0.0
            samples = 0
            window_end = loop.time() + report_s
            with contextlib.suppress(asyncio.CancelledError):
                while True:
                    before = loop.time()
                    await asyncio.sleep(tick_s)
                    lag = max(loop.time() - before - tick_s, 0.0)
                    worst = max(worst, lag)
                    total += lag
                    samples += 1
                    if loop.time() >= window_end:
                        pause, full = watch.take()
                        out.write(
                            f"{time.time():.3f} {worst * 1000:.2f} {total / samples * 1000:.3f} "
                            f"{samples} {pause * 1000:.2f} {full}\n"
                        )
                        worst = total = 0.0
                        samples = 0
                        window_end = loop.time() + report_s
    finally:
        gc.callbacks.remove(watch)
