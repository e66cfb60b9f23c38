"""The bot object: owns the shared resources and wires the core to the Discord adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.community.actions import ImageActions
from bot.community.derive import Derivations
from bot.community.gallery import GalleryService
from bot.community.lineage import Lineages
from bot.community.loras import LoraLibrary
from bot.community.reports import ReportService
from bot.config import Config
from bot.delivery.messenger import Messenger
from bot.delivery.posting import discord_trace
from bot.delivery.text import UNEXPECTED_ERROR
from bot.early_ack import NOT_SENT, EarlyAcks
from bot.errors import ArtFactoryError
from bot.gateway import GatewayPin
from bot.i18n import _, catalogue
from bot.i18n import gateway as locales
from bot.i18n.commands import CatalogueTranslator
from bot.identify import IdentifyPacer
from bot.jobs.intake import JobService
from bot.jobs.journal import Intake, recover
from bot.jobs.runner import JobRunner
from bot.moderation.admin import AdminService
from bot.moderation.audit import AuditLog
from bot.moderation.gate import ModerationService
from bot.moderation.preferences import Preferences
from bot.ops.health import ProviderHealthReport
from bot.ops.metrics import Metrics, chain
from bot.options import check_options
from bot.providers import Provider, build_providers
from bot.providers.catalogue import catalogue_for
from bot.providers.catalogue.refresh import load_cached, refresh
from bot.providers.catalogue.sources import schema_sources
from bot.providers.webhook_inbox import WebhookInbox
from bot.providers.webhook_relay import WebhookRelay
from bot.studio.compose import Studio
from bot.studio.prompt_help import PromptHelper
from bot.studio.settings import MemberDefaults
from bot.studio.styles import StyleLibrary
from bot.web import metrics as web_metrics
from bot.web.gallery import WebGallery
from bot.web.health import Health
from bot.web.server import WebServer
from bot.web.webhooks import provider_webhooks
from cogs.ui.cancel import progress_components
from cogs.ui.interactions import acknowledged_elsewhere, send_ephemeral
from cogs.ui.layouts import result_components
from db.database import Database

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "cogs.imagine",
    "cogs.usage",
    "cogs.jobs",
    "cogs.results",
    "cogs.variations",
    "cogs.describe",
    "cogs.blend",
    "cogs.lora",
    "cogs.lineage",
    "cogs.providers",
    "cogs.moderation",
    "cogs.gallery",
    "cogs.admin",
    "cogs.help",
    "cogs.settings",
    "cogs.styles",
)


class ArtFactoryBot(commands.AutoShardedBot):
    """Shared resources are created once in `setup_hook` and closed in `close`.

    `setup_hook` is the one composition root: every service is built there, once, before any
    cog loads, and cogs only use these attributes (no cog builds a service or reads a store).
    """

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
    actions: ImageActions
    prompt_help: PromptHelper
    studio: Studio
    lineage: Lineages
    preferences: Preferences
    admin: AdminService
    gallery: GalleryService
    reports: ReportService
    provider_health: ProviderHealthReport
    intake: Intake
    early_acks: EarlyAcks

    def __init__(self, config: Config, **options: object) -> None:
        discord.http.Route.BASE = config.discord.api_base.rstrip("/")
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True  # ⭐ votes on gallery posts
        if config.discord.shard_ids:  # else all of them (only a whole set runs on SQLite yet)
            options["shard_ids"] = sorted(config.discord.shard_ids)
        # Made here, not in setup_hook: discord.py's session (and its trace) exists by then.
        metrics = Metrics.for_config(config)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            shard_count=config.discord.shard_count,  # None: as many as Discord recommends
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=ArtFactoryTree,
            # lets final messages retry 5xx by the bot's policy; counts Discord's answers
            http_trace=metrics.discord_trace(discord_trace()),
            **options,  # type: ignore[arg-type]
        )
        self.config = config
        self.metrics = metrics  # bot/ops/metrics.py; served at /metrics with [web] listen
        self._resources_ready = False
        # discord.py would re-identify at gateway.discord.gg, not at the gateway api_base names.
        self.gateway_pin = GatewayPin(self.http).install()
        self._identify_pacer = IdentifyPacer(self.gateway_pin.session_start_limit)
        self._recovery: asyncio.Task[int] | None = None
        self.catalogue_refresh: asyncio.Task[None] | None = None
        self.web: WebServer | None = None
        self.webhook_inbox: WebhookInbox | None = None
        self.started = asyncio.Event()  # set once setup_hook has built and started everything

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Waits for the shard's IDENTIFY bucket only (bot/identify.py), where discord.py would
        sleep 5 s before every IDENTIFY but the first."""
        await self._identify_pacer.wait(shard_id)

    async def setup_hook(self) -> None:
        self.db = await Database.open(
            self.config.database.target, busy_wait_s=self.config.database.busy_wait_s
        )
        if self.db.postgres:  # the processes of one bot take turns to IDENTIFY per bucket
            self._identify_pacer.shared_turn = self.db.identify_turn
        self.intake = Intake.beside(self.config.database.path, self._journal_suffix())
        stranded = self.intake.start()
        self.session = self._http_session()
        await self._catalogues()
        # Every interaction is handled in its member's language (bot/i18n/gateway.py). First,
        # so that it is inside EarlyAcks: the events EarlyAcks holds back and parses later get
        # their locale too.
        locales.install(self._connection)
        trace = self.metrics.discord_trace()  # its acknowledgements are Discord requests too
        early = EarlyAcks(self.intake, discord.http.Route.BASE, self.http.user_agent, trace)
        self.early_acks = early.install(self._connection)
        if self.config.web.address and self.config.web.public_url:  # bot/web/webhooks.py
            self.webhook_inbox = WebhookInbox(self.config.web.public_url)
        self.providers = build_providers(self.config, self.session, webhooks=self.webhook_inbox)
        self.messenger = Messenger(
            self, progress_components=progress_components, result_components=result_components
        )
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
            on_finished=chain(self.metrics.job_finished, self.audit.job_finished),
        )
        self._community_services()
        web_metrics.instrument(self)
        await self.studio.defaults.start()
        self._resources_ready = True
        if self.config.discord.role != "worker":  # a worker has no gateway: no commands
            await self.tree.set_translator(CatalogueTranslator())  # localised when synced
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
        await self._start_web()
        self.started.set()

    def _http_session(self) -> aiohttp.ClientSession:
        """The bot's session: downloads, links, the catalogue, CivitAI (its calls tagged, so
        the metrics count them: bot/ops/metrics.py)."""
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=120, connect=15),
            headers={"User-Agent": "ArtFactory (https://github.com/art-factory)"},
            trace_configs=[self.metrics.provider_trace()],
        )

    async def _catalogues(self) -> None:
        """The model catalogue: the shipped snapshots, then the schemas read at an earlier
        start (so a resumed job maps onto what its model published), then a refresh in the
        background. And the message catalogues, now, not in the middle of a first answer."""
        cached = await load_cached(catalogue_for(self.config), self.db.schemas)
        if cached:
            log.info("model catalogue: %d schema(s) from the last start", cached)
        self.catalogue_refresh = asyncio.create_task(
            self._refresh_catalogue(), name="catalogue-refresh"
        )
        catalogue.load_all()

    async def _start_web(self) -> None:
        """The web server, when `[web] listen` is set: each feature's routes, then listening."""
        if self.config.web.address is None:
            return
        self.web = WebServer(self.config.web)
        self.web.add_routes(Health(self).routes())
        self.web.add_routes(web_metrics.routes(self.metrics))
        if self.webhook_inbox is not None:
            hooks = await provider_webhooks(
                self.config, self.webhook_inbox, self.providers, self.session
            )
            relay = WebhookRelay(self.db, self.webhook_inbox)
            hooks.relay = relay if await relay.start() else None
            self.web.add_routes(hooks.routes())
        if self.config.web.gallery:
            self.web.add_routes(WebGallery(self).routes())
        await self.web.start()

    def _community_services(self) -> None:
        """What the cogs call: jobs, derivations, image actions, settings, gallery, reports."""
        self.jobs = JobService(
            self.config,
            self.db,
            self.runner,
            moderation=self.moderation,
            on_accepted=self.metrics.job_accepted,
            on_refused=self.metrics.job_refused,
        )
        self.loras = LoraLibrary(self.config, self.db, self.jobs, self.session)
        self.derive = Derivations(self.config, self.db, self.jobs, self.session, self.loras)
        self.actions = ImageActions(self.config, self.db, self.jobs, self.derive)
        self.lineage = Lineages(self.db)
        self.preferences = Preferences(self.config, self.db.settings)
        self.admin = AdminService(self.config, self.db, self.moderation)
        self.gallery = GalleryService(self.db, self.derive)
        self.reports = ReportService(self.db, self.derive)
        self.provider_health = ProviderHealthReport(self.db.stats)
        self.prompt_help = PromptHelper(self.config)
        self.studio = Studio(
            self.config,
            self.jobs,
            self.preferences,
            self.loras,
            self.prompt_help,
            MemberDefaults(self.config, self.db, self.preferences),
            StyleLibrary(self.config, self.db),
        )

    def _journal_suffix(self) -> str:
        """Each process of a bot split over several (PostgreSQL) keeps its own intake journal
        (its own acknowledgements), even when they share a data folder."""
        role, shards = self.config.discord.role, self.config.discord.shard_ids
        parts = ([] if role == "all" else [role]) + [str(s) for s in sorted(shards or ())]
        return "".join(f"-{part}" for part in parts) if self.db.postgres else ""

    async def _refresh_catalogue(self) -> None:
        """Each configured model's schema read from its provider now; the fallbacks are logged
        one line each (bot/providers/catalogue/refresh.py)."""
        sources = schema_sources(self.config, self.session)
        try:
            outcomes = await refresh(
                catalogue_for(self.config), self.config, sources, self.db.schemas
            )
        except Exception:  # the snapshots and the cache stay in force
            log.exception("model catalogue: the refresh failed")
            return
        live = sum(o.source == "live" for o in outcomes)
        log.info("model catalogue: %d of %d schema(s) read from the providers", live, len(outcomes))

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

    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: object
    ) -> None:
        """A command answered: its journal entry (if it deferred) is settled."""
        self.intake.settle(interaction.id)

    async def close(self) -> None:
        self.started.clear()  # readyz: shutting down
        if self.web is not None:
            await self.web.close()
        await self.metrics.stop()
        for task in (self._recovery, self.catalogue_refresh):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
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
            await self.prompt_help.close()
            await self.early_acks.close()
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
        if acknowledged_elsewhere(original):  # nothing to answer: the other one does
            log.info("interaction %s: another process acknowledged it first", interaction.id)
            self.client.intake.settle(interaction.id)
            return
        if isinstance(original, ArtFactoryError):
            message = str(original)
        elif isinstance(error, app_commands.TransformerError):
            # Discord checks option ranges in its client, so this is a forged or stale payload.
            message = _(
                "The option value {value} is not valid here; nothing was charged.",
                value=repr(error.value),
            )
        elif isinstance(error, app_commands.CheckFailure):
            message = str(error) or _("You can't use this command here.")
        else:
            log.error(
                "command %s failed",
                interaction.command.qualified_name if interaction.command else "?",
                exc_info=original,
            )
            message = _(UNEXPECTED_ERROR)
        early = self.client.early_acks.claim(interaction.id)
        if early is not None and await early.landed(interaction) != NOT_SENT:
            # Refused before its cog ran, but already "thinking…" in public: that goes.
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
        await send_ephemeral(interaction, message)
        self.client.intake.settle(interaction.id)  # answered: nothing left to recover
