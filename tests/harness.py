"""Runs the real bot, in this process, against the loopback fakes."""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord

from bot.app import ArtFactoryBot
from bot.config import parse_config
from bot.jobs.model import ACTIVE_STATES, FINAL_STATES
from db.jobs import JobRow
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.storage import database_config

ENV = {
    "DISCORD_TOKEN": "fake-bot-token",
    "FAL_KEY": "fal-test-key",
    "REPLICATE_API_TOKEN": "r8",
    "CIVITAI_API_TOKEN": "civitai-test-token",
    "OPENAI_API_KEY": "sk-test-key",
    "DISCORD_CLIENT_SECRET": "oauth-test-secret",  # read only with [web] gallery = true
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def options(**values: Any) -> list[dict[str, Any]]:
    """Chat-input options as Discord sends them (type 3 string, 4 integer, 10 number)."""
    types = {str: 3, int: 4, float: 10}
    return [
        {"name": name, "type": types[type(value)], "value": value}
        for name, value in values.items()
        if value is not None
    ]


# Tasks discord.py starts for an interaction's callback; the job, if any, is created inside them.
HANDLER_TASK_PREFIXES = (
    "CommandTree-invoker",
    "discord-ui-view-dispatch",
    "discord-ui-modal-dispatch",
    "discord-ui-dynamic-item",
    "discord.py: on_interaction",
)


class Harness:
    def __init__(self, discord_fake: FakeDiscord, bot: ArtFactoryBot) -> None:
        self.discord = discord_fake
        self.bot = bot
        self._first_interaction = len(discord_fake.interactions)
        self._received: set[int] = set()
        bot.add_listener(self._on_interaction, "on_interaction")

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        self._received.add(interaction.id)

    async def settled(self, timeout: float = 10) -> None:
        """Wait until every interaction sent so far has been answered (jobs may still run)."""
        async with asyncio.timeout(timeout):
            await self._handlers_settled()

    async def _handlers_settled(self) -> None:
        """Every interaction sent to this bot has arrived and its callback has returned.

        ``send_interaction`` returns once the frame is on the socket, so a job may not exist yet:
        without this, a loaded machine can see an idle runner before the burst has reached it.
        """
        sent = self.discord.interactions[self._first_interaction :]
        while any(i.id not in self._received for i in sent):
            await asyncio.sleep(0.01)
        current = asyncio.current_task()
        handlers = [
            task
            for task in asyncio.all_tasks()
            if task is not current and task.get_name().startswith(HANDLER_TASK_PREFIXES)
        ]
        if handlers:
            await asyncio.wait(handlers)

    async def imagine(self, *, user_id: int = 4000, **values: Any) -> Interaction:
        return await self.discord.send_interaction("imagine", options(**values), user_id=user_id)

    async def idle(self, timeout: float = 20) -> None:
        """Wait until every job this bot accepted has ended."""
        async with asyncio.timeout(timeout):
            while True:
                await self._handlers_settled()
                await self.bot.runner.wait_idle()
                await asyncio.sleep(0.1)
                if self.bot.runner.idle.is_set():
                    return

    async def job_for(self, interaction: Interaction) -> JobRow | None:
        for job in await self.bot.db.jobs.in_states(ACTIVE_STATES + FINAL_STATES):
            if job.interaction_token == interaction.token:
                return job
        return None

    def original(self, interaction: Interaction) -> FakeMessage:
        message = interaction.original()
        assert message is not None, "the bot never created its response"
        return message


@asynccontextmanager
async def running_bot(
    discord_fake: FakeDiscord, db_path: Path, **config: Any
) -> AsyncIterator[Harness]:
    fal_host = f"https://{os.environ.get('FAL_RUN_HOST', 'rest.fal.ai')}"
    raw = merge(
        {
            "discord": {"api_base": discord_fake.api_base, "dev_guild_id": discord_fake.guild_id},
            "database": database_config(db_path),
            "generation": {"retry_base_delay_s": 0.05, "retry_total_s": 20},
            "providers": {
                # fal-client's hosts follow FAL_RUN_HOST (tests/conftest.py); fal's storage
                # and platform (model schemas) hosts are the bot's own settings, pointed at
                # the same fake.
                "fal": {
                    "poll_interval_s": 0.2,
                    "storage_url": fal_host,
                    "models_base_url": fal_host,
                },
                "replicate": {"enabled": True, "poll_interval_s": 0.2},
            },
        },
        config,
    )
    bot = ArtFactoryBot(parse_config(raw, ENV), guild_ready_timeout=0.1)
    connection: asyncio.Task[None] | None = None
    try:
        await bot.login(ENV["DISCORD_TOKEN"])
        connection = asyncio.create_task(bot.connect(reconnect=True))
        async with asyncio.timeout(15):
            await bot.wait_until_ready()
        yield Harness(discord_fake, bot)
    finally:
        await bot.close()
        if connection is not None:
            connection.cancel()
            await asyncio.gather(connection, return_exceptions=True)
        discord.http.Route.BASE = "https://discord.com/api/v10"
