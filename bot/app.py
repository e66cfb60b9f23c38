"""The bot object: owns the shared resources and wires the core to the Discord adapters."""

from __future__ import annotations

import logging

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Config
from bot.delivery import Messenger
from bot.errors import ArtFactoryError
from bot.jobs import JobService
from bot.providers import Provider, build_providers
from bot.runner import JobRunner
from db.database import Database

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = ("cogs.imagine", "cogs.usage", "cogs.jobs")


class ArtFactoryBot(commands.AutoShardedBot):
    """Shared resources are created once in `setup_hook` and closed in `close`."""

    db: Database
    session: aiohttp.ClientSession
    providers: dict[str, Provider]
    runner: JobRunner
    jobs: JobService
    messenger: Messenger

    def __init__(self, config: Config, **options: object) -> None:
        discord.http.Route.BASE = config.discord.api_base.rstrip("/")
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            shard_count=config.discord.shard_count,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=ArtFactoryTree,
            **options,  # type: ignore[arg-type]
        )
        self.config = config
        self._resources_ready = False

    async def setup_hook(self) -> None:
        self.db = await Database.open(self.config.database.path)
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=120, connect=15),
            headers={"User-Agent": "ArtFactory (https://github.com/art-factory)"},
        )
        self.providers = build_providers(self.config)
        self.messenger = Messenger(self)
        self.runner = JobRunner(self.config, self.db, self.providers, self.messenger, self.session)
        self.jobs = JobService(self.config, self.db, self.runner)
        self._resources_ready = True
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        resumed = await self.runner.start()
        if resumed:
            log.info("resuming %d unfinished job(s) from the ledger", resumed)

    async def sync_commands(self) -> None:
        guild_id = self.config.discord.dev_guild_id
        if guild_id:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))

    async def close(self) -> None:
        if self._resources_ready:
            await self.runner.stop()
        await super().close()
        if self._resources_ready:
            for provider in self.providers.values():
                try:
                    await provider.close()
                except Exception as exc:
                    log.warning("closing provider %s: %s", provider.name, exc)
            await self.session.close()
            await self.db.close()
            self._resources_ready = False


class ArtFactoryTree(app_commands.CommandTree["ArtFactoryBot"]):
    """The one error handler: domain errors are shown as they are; anything else is logged and
    answered with a short apology, ephemerally, whether or not the interaction was acked."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        if isinstance(original, ArtFactoryError):
            message = str(original)
        elif isinstance(error, app_commands.TransformerError):
            # Discord checks option ranges in its client, so this is a forged or stale payload.
            message = f"The option value {error.value!r} is not valid here; nothing was charged."
        elif isinstance(error, app_commands.CheckFailure):
            message = str(error) or "You can't use this command here."
        else:
            log.error(
                "command %s failed",
                interaction.command.qualified_name if interaction.command else "?",
                exc_info=original,
            )
            message = "Something went wrong on our side; nothing was charged. Please try again."
        await send_ephemeral(interaction, message)


async def send_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Answer privately whatever state the interaction is in."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction %s: %s", interaction.id, exc)
