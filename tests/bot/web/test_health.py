"""`/healthz` and `/readyz` (issue 17): 200 while the bot does its work, 503 naming what failed
when the database or the gateway is gone, through the real bot against the loopback fakes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config.models import WebConfig
from bot.ops.healthcheck import healthcheck
from tests.fakes.discord import FakeDiscord
from tests.harness import Harness, running_bot

WEB = {"web": {"listen": "127.0.0.1:0"}}


async def get(h: Harness, path: str) -> tuple[int, dict[str, Any]]:
    assert h.bot.web is not None and h.bot.web.port
    url = f"http://127.0.0.1:{h.bot.web.port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def test_a_working_bot_is_healthy_and_ready(fake_discord: FakeDiscord, db_path: Path) -> None:
    async with running_bot(fake_discord, db_path, **WEB) as h:
        status, body = await get(h, "/healthz")
        assert status == 200 and body["status"] == "ok"
        assert set(body["checks"]) == {"process", "database", "gateway", "jobs"}
        status, body = await get(h, "/readyz")
        assert status == 200 and body["checks"]["started"]["ok"]


async def test_healthz_is_503_naming_the_database_when_it_stops_answering(
    fake_discord: FakeDiscord, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(fake_discord, db_path, **WEB) as h:

        async def unreachable() -> None:
            raise ConnectionRefusedError("the database is gone")

        monkeypatch.setattr(h.bot.db, "ping", unreachable)
        status, body = await get(h, "/healthz")
        assert status == 503 and body["status"] == "failing"
        assert body["checks"]["database"] == {
            "ok": False,
            "detail": "the database failed: ConnectionRefusedError",
        }
        assert body["checks"]["gateway"]["ok"] and body["checks"]["jobs"]["ok"]


async def test_healthz_is_503_naming_the_gateway_while_it_is_down(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path, **WEB) as h:
        fake_discord.gateway_down = True
        await fake_discord.disconnect_gateway()
        async with asyncio.timeout(10):
            while (await get(h, "/healthz"))[0] == 200:
                await asyncio.sleep(0.05)
        status, body = await get(h, "/healthz")
        assert status == 503
        assert body["checks"]["gateway"] == {"ok": False, "detail": "shard(s) 0 not connected"}
        assert body["checks"]["database"]["ok"]
        fake_discord.gateway_down = False
        async with asyncio.timeout(30):
            while (await get(h, "/healthz"))[0] != 200:
                await asyncio.sleep(0.1)


async def test_the_containers_healthcheck_command_exits_0_then_1_naming_the_failure(
    fake_discord: FakeDiscord,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running_bot(fake_discord, db_path, **WEB) as h:
        assert h.bot.web is not None
        config = h.bot.config.model_copy(
            update={"web": WebConfig(listen=f"0.0.0.0:{h.bot.web.port}")}
        )
        assert await asyncio.to_thread(healthcheck, config) == 0

        async def unreachable() -> None:
            raise ConnectionRefusedError

        monkeypatch.setattr(h.bot.db, "ping", unreachable)
        assert await asyncio.to_thread(healthcheck, config) == 1
        said = capsys.readouterr().out.splitlines()[-1]
        assert said.endswith("database: the database failed: ConnectionRefusedError"), said
