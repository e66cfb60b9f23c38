"""Which event loop the bot runs on: uvloop (libuv, written in Cython) where installed, else
asyncio's own. An orchestrator's CPU goes mostly to the loop and its sockets; bench/README.md
has the figures for both (issue 14). `[runtime] event_loop` chooses; "asyncio" is the escape
hatch should a library misbehave on uvloop.

One difference the bot cares about: the 16 KiB TLS read buffer `bot/providers/fal_http.py`
sets is asyncio's; uvloop's own TLS transport allocates its buffers lazily, so an idle status
stream costs little either way (the scale phase of bench/run.py measures RSS on both).
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
