"""Which event loop the bot runs on: asyncio's own (the default) or uvloop (libuv, in Cython).

Measured with bench/run.py (issue 14, bench/README.md): on this bot's work uvloop saved no CPU
(21.7 vs 22.6 ms per job at 10,000 in flight, within the runs' spread) and cost ~1 GB more
memory, because its TLS transport keeps a 256 KiB read buffer per connection, one per open
status stream; asyncio's connections share one 16 KiB buffer per thread
(`bot/ops/tlsbuffers.py`). So the standard loop is the default and uvloop an option
(`[runtime] event_loop`), for a bot with few TLS connections and different traffic, or a later
uvloop.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bot.errors import ConfigError

T = TypeVar("T")


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for `asyncio.Runner`; None means asyncio's default loop."""
    if choice == "asyncio":
        return None
    if importlib.util.find_spec("uvloop") is None:
        if choice == "uvloop":
            raise ConfigError(
                '[runtime] event_loop = "uvloop" but uvloop is not installed: '
                '`pip install uvloop`, or set event_loop = "auto".'
            )
        return None
    import uvloop

    return uvloop.new_event_loop


def run(main: Callable[[], Coroutine[Any, Any, T]], choice: str) -> T:
    """`asyncio.run(main())` on the chosen loop (the coroutine is made once the loop is
    settled, so a refused choice leaves none un-awaited)."""
    factory = loop_factory(choice)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def name() -> str:
    """The running loop's kind, for the start-up log line."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"
