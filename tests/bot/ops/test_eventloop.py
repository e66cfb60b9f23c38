"""`[runtime] event_loop` (bot/ops/eventloop.py): asyncio's loop by default, uvloop on request,
and a clear refusal when uvloop is demanded but missing."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from bot.config import parse_config
from bot.errors import ConfigError
from bot.ops import eventloop

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}


async def _loop_kind() -> str:
    await asyncio.sleep(0)
    return eventloop.name()


def test_the_standard_loop_is_the_default() -> None:
    choice = parse_config({}, ENV).runtime.event_loop
    assert eventloop.run(_loop_kind, choice) == "asyncio"


def test_uvloop_and_auto_run_on_uvloop_where_installed() -> None:
    assert eventloop.run(_loop_kind, "uvloop") == "uvloop"
    assert eventloop.run(_loop_kind, "auto") == "uvloop"


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    assert eventloop.run(_loop_kind, "auto") == "asyncio"


def test_demanding_uvloop_without_it_names_the_key_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    with pytest.raises(ConfigError) as caught:
        eventloop.run(_loop_kind, "uvloop")
    assert "[runtime] event_loop" in str(caught.value)
    assert "pip install uvloop" in str(caught.value)


def test_an_unknown_event_loop_is_refused_at_load() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"runtime": {"event_loop": "tokio"}}, ENV)
    assert "event_loop" in str(caught.value)
