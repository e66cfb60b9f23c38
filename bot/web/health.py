"""`GET /healthz` and `GET /readyz`, for Docker's HEALTHCHECK and Kubernetes' probes.

- healthz, "is this process still doing its work, or should it be restarted": the database
  answers, the gateway is connected for this process's shards (a worker has none), and the job
  loop still turns. 200, or 503 naming each check that failed.
- readyz, "may it take traffic": healthz, and the bot has finished starting (its resources are
  built, commands synced) and is not shutting down.

Both answer JSON: `{"status": "ok" | "failing", "checks": {name: {"ok": bool, "detail": str}}}`.
A check never waits long: the database gets `DB_TIMEOUT_S`, the rest is read from memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.app import ArtFactoryBot

DB_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str = ""


class Health:
    def __init__(self, bot: ArtFactoryBot, clock: Callable[[], float] = time.time) -> None:
        self._bot = bot
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz)]

    async def healthz(self, request: web.Request) -> web.Response:
        return _answer(await self.live())

    async def readyz(self, request: web.Request) -> web.Response:
        checks = await self.live()
        bot = self._bot
        started = bot.started.is_set() and not bot.is_closed()
        checks["started"] = Check(started, "" if started else "starting or shutting down")
        return _answer(checks)

    async def live(self) -> dict[str, Check]:
        return {
            "process": Check(True),
            "database": await self._database(),
            "gateway": self._gateway(),
            "jobs": self._jobs(),
        }

    async def _database(self) -> Check:
        return await _within(self._bot.db.ping(), "the database")

    def _gateway(self) -> Check:
        bot = self._bot
        if bot.config.discord.role == "worker":
            return Check(True, "a worker has no gateway")
        expected = bot.shard_ids if bot.shard_ids is not None else range(bot.shard_count or 1)
        down = [
            shard
            for shard in expected
            if (info := bot.get_shard(shard)) is None or info.is_closed()
        ]
        if down:
            return Check(False, f"shard(s) {', '.join(map(str, down))} not connected")
        return Check(True)

    def _jobs(self) -> Check:
        if self._bot.runner.alive(self._clock()):
            return Check(True)
        return Check(False, "the job loop has stopped")


async def _within(work: Awaitable[None], what: str) -> Check:
    try:
        await asyncio.wait_for(work, DB_TIMEOUT_S)
    except TimeoutError:
        return Check(False, f"{what} did not answer within {DB_TIMEOUT_S:g} s")
    except Exception as exc:  # any failure of the ping is the answer
        return Check(False, f"{what} failed: {type(exc).__name__}")
    return Check(True)


def _answer(checks: dict[str, Check]) -> web.Response:
    ok = all(check.ok for check in checks.values())
    body = {
        "status": "ok" if ok else "failing",
        "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
    }
    return web.json_response(body, status=200 if ok else 503)
