"""The bot object: owns the shared resources and wires the core to the Discord adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.community.derive import Derivations
from bot.community.lineage import Lineages
from bot.community.loras import LoraLibrary
from bot.config import Config
from bot.delivery.messenger import Messenger
from bot.delivery.posting import discord_trace
from bot.errors import ArtFactoryError, Refusal
from bot.gateway import GatewayPin
from bot.jobs.intake import JobService, Origin
from bot.jobs.journal import Acknowledged, Intake, recover
from bot.jobs.runner import JobRunner
from bot.moderation.audit import AuditLog
from bot.moderation.gate import ModerationService
from bot.options import check_options
from bot.providers import Provider, build_providers
from db.database import Database

log = logging.getLogger(__name__)

UNEXPECTED_ERROR = "Something went wrong on our side; nothing was charged. Please try again."

EXTENSIONS: tuple[str, ...] = (
    "cogs.imagine",
    "cogs.usage",
    "cogs.jobs",
    "cogs.results",
    "cogs.variations",
    "cogs.lora",
    "cogs.lineage",
    "cogs.providers",
    "cogs.moderation",
    "cogs.gallery",
    "cogs.admin",
    "cogs.help",
)


class ArtFactoryBot(commands.AutoShardedBot):
    """Shared resources are created once in `setup_hook` and closed in `close`."""

    db: Database
    session: aiohttp.ClientSession
    providers: dict[str, Provider]
    runner: JobRunner
    jobs: JobService
    messenger: Messenger
    moderation: ModerationService
    audit: AuditLog
    loras: LoraLibrary
    derive: Derivations
    lineage: Lineages
    intake: Intake

    def __init__(self, config: Config, **options: object) -> None:
        discord.http.Route.BASE = config.discord.api_base.rstrip("/")
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True  # ⭐ votes on gallery posts
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            shard_count=config.discord.shard_count,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=ArtFactoryTree,
            http_trace=discord_trace(),  # lets final messages retry 5xx by the bot's policy
            **options,  # type: ignore[arg-type]
        )
        self.config = config
        self._resources_ready = False
        # discord.py would re-identify at gateway.discord.gg, not at the gateway api_base names.
        GatewayPin(self.http).install()
        self._recovery: asyncio.Task[int] | None = None

    async def setup_hook(self) -> None:
        self.db = await Database.open(
            self.config.database.path, busy_wait_s=self.config.database.busy_wait_s
        )
        self.intake = Intake.beside(self.config.database.path)
        stranded = self.intake.start()
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=120, connect=15),
            headers={"User-Agent": "ArtFactory (https://github.com/art-factory)"},
        )
        self.providers = build_providers(self.config, self.session)
        self.messenger = Messenger(self)
        self.moderation = ModerationService(self.config, self.db)
        self.audit = AuditLog(self, self.db)
        self.moderation.blocked_listeners.append(self.audit.prompt_blocked)
        self.runner = JobRunner(
            self.config,
            self.db,
            self.providers,
            self.messenger,
            self.session,
            moderation=self.moderation,
            on_finished=self.audit.job_finished,
        )
        self.jobs = JobService(self.config, self.db, self.runner, moderation=self.moderation)
        self.loras = LoraLibrary(self.config, self.db, self.jobs, self.session)
        self.derive = Derivations(self.config, self.db, self.jobs, self.session, self.loras)
        self.lineage = Lineages(self.db)
        self._resources_ready = True
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        resumed = await self.runner.start()
        if resumed:
            log.info("resuming %d unfinished job(s) from the ledger", resumed)
        if stranded:
            became_jobs = await self.db.jobs.for_interactions([e.interaction_id for e in stranded])
            self._recovery = asyncio.create_task(
                recover(self, self.intake, stranded, became_jobs), name="intake-recovery"
            )

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
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        if self._resources_ready:
            await self.runner.stop()
            await self.audit.close()
        await super().close()
        if self._resources_ready:
            for provider in self.providers.values():
                try:
                    await provider.close()
                except Exception as exc:
                    log.warning("closing provider %s: %s", provider.name, exc)
            await self.session.close()
            await self.db.close()
            self.intake.close()
            self._resources_ready = False


class ArtFactoryTree(app_commands.CommandTree["ArtFactoryBot"]):
    """The one error handler: domain errors are shown as they are; anything else is logged and
    answered with a short apology, ephemerally, whether or not the interaction was acked."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Refuse a forged option (wrong type, a choice not offered) before any command runs:
        raises InvalidOption, a CheckFailure that `on_error` shows as it is."""
        check_options(interaction)
        return True

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
            message = UNEXPECTED_ERROR
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


def origin_of(
    interaction: discord.Interaction, received_at: float, message_id: int | None
) -> Origin:
    return Origin(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        application_id=interaction.application_id,
        interaction_id=interaction.id,
        interaction_token=interaction.token,
        interaction_created_at=received_at,
        message_id=message_id,
        attachment_size_limit=interaction.filesize_limit,
        role_ids=tuple(role.id for role in getattr(interaction.user, "roles", ())),
        channel_nsfw=bool(getattr(interaction.channel, "nsfw", False)),
    )


async def start_job(
    interaction: discord.Interaction, create: Callable[[Origin], Awaitable[int]]
) -> int | None:
    """The one way a command or button starts a job: acknowledge first (a public "thinking…"
    message that becomes the job's message), then let the core read the server's settings,
    validate, charge and queue. Nothing touches the database before the acknowledgement, and
    the intake journal notes it first, so a crash in between is answered at the next start
    (bot/jobs/journal.py). A refusal replaces the public placeholder with a private answer; nothing
    is charged."""
    bot: ArtFactoryBot = interaction.client  # type: ignore[assignment]
    received_at = time.time()
    bot.intake.begin(Acknowledged.of(interaction, received_at))
    try:
        job_id = await _acknowledge_and_create(interaction, create, received_at)
    except asyncio.CancelledError:
        raise  # shutting down: the entry stays open and the next start answers it
    except BaseException:
        bot.intake.settle(interaction.id)
        raise
    bot.intake.settle(interaction.id)
    return job_id


async def _acknowledge_and_create(
    interaction: discord.Interaction,
    create: Callable[[Origin], Awaitable[int]],
    received_at: float,
) -> int | None:
    callback = await interaction.response.defer(thinking=True)
    message_id = callback.message_id if callback is not None else None
    if message_id is None:
        message_id = (await interaction.original_response()).id
    try:
        return await create(origin_of(interaction, received_at, message_id))
    except Refusal as exc:
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        await send_ephemeral(interaction, str(exc))
        return None
    except Exception:
        # Answered here, before the journal entry is settled, so no crash can strand it.
        log.exception("starting a job for interaction %s failed", interaction.id)
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        await send_ephemeral(interaction, UNEXPECTED_ERROR)
        return None
