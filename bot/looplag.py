"""An opt-in event-loop lag probe, for benchmarks and for diagnosing a sluggish bot.

Set `ARTFACTORY_LOOP_LAG_LOG=/path/to/file` and the bot appends one line per second:

    <unix time> <max lag ms> <mean lag ms> <samples>

where lag is how late a `sleep(tick)` wakes up: the longest time the loop was busy with
something else. Unset (the default), nothing runs at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

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


async def probe(path: str, *, tick_s: float = TICK_S, report_s: float = REPORT_S) -> None:
    loop = asyncio.get_running_loop()
    with open(path, "a", encoding="utf-8", buffering=1) as out:  # noqa: ASYNC230 - tiny writes
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
                    out.write(
                        f"{time.time():.3f} {worst * 1000:.2f} {total / samples * 1000:.3f} "
                        f"{samples}\n"
                    )
                    worst = total = 0.0
                    samples = 0
                    window_end = loop.time() + report_s
