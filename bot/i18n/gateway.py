"""Where an interaction's locale is set: at discord.py's INTERACTION_CREATE parser.

Every way an interaction is handled starts as a task created while discord.py parses its event:
the command tree's invoker, a view's or a modal's dispatch, a `DynamicItem`'s callback, the
`on_interaction` listeners. A task copies the context it was created in, so setting the locale
right before the original parser runs puts every one of them in the member's language, and no
command, button or form can forget to. The parse runs in a copy of the gateway reader's
context, so one interaction's locale never leaks into the next event.

Installed before `EarlyAcks` wraps the same parser (bot/early_ack.py): it calls the parser it
found, this one, both at once and for the events it holds back and hands over later.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from bot.i18n import chosen_locales, resolve, set_locale

Parser = Callable[[dict[str, Any]], None]


def locale_of(data: dict[str, Any]) -> str:
    """The shipped locale to answer an INTERACTION_CREATE payload in: the member's /settings
    language, else their client's (`locale`), else English."""
    user = (data.get("member") or {}).get("user") or data.get("user") or {}
    try:
        chosen = chosen_locales.get(int(user["id"]))
    except (KeyError, TypeError, ValueError):
        chosen = None
    return resolve(data.get("locale"), chosen)


def in_locale(parse: Parser) -> Parser:
    """`parse`, run with the payload's locale set for everything it starts."""

    def run(data: dict[str, Any]) -> None:
        set_locale(locale_of(data))
        parse(data)

    def parse_in_locale(data: dict[str, Any]) -> None:
        contextvars.copy_context().run(run, data)

    return parse_in_locale


def install(state: Any) -> None:
    """Put `in_locale` around `state`'s INTERACTION_CREATE parser (the dict every shard's
    socket dispatches through)."""
    state.parsers["INTERACTION_CREATE"] = in_locale(state.parsers["INTERACTION_CREATE"])
