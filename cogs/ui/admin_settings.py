"""`/admin settings show|server|channel`: the server's and its channels' moderation settings.

A subgroup of /admin (cogs/admin.py), added to it when the /admin group is built. Its commands
are bound to this group, and discord.py then runs only this group's `interaction_check`, so
that check hands over to /admin's: every subcommand is checked (Manage Server, from the
payload) and acknowledged there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import discord
from discord import app_commands

from bot.config import Config
from bot.i18n import _
from bot.moderation.admin import AdminService, split_names
from cogs.ui.interactions import send_ephemeral

Audit = Callable[[discord.Interaction[Any], Callable[[], str]], None]

_POST_TYPES = [discord.ChannelType.text, discord.ChannelType.news]
_CHAT_TYPES = [
    *_POST_TYPES,
    discord.ChannelType.voice,
    discord.ChannelType.news_thread,
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
]


class _ChannelOption(app_commands.Transformer):
    """A channel option limited to some channel types, taken from the interaction's resolved
    data (so it works for channels the bot has not cached)."""

    types: list[discord.ChannelType] = _POST_TYPES

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return self.types

    async def transform(self, interaction: discord.Interaction[Any], value: Any, /) -> Any:
        valid = (app_commands.AppCommandChannel, app_commands.AppCommandThread)
        if not isinstance(value, valid) or value.type not in self.types:
            raise app_commands.TransformerError(value, self.type, self)
        return value


class _ChatChannelOption(_ChannelOption):
    types = _CHAT_TYPES


PostChannel = app_commands.Transform[app_commands.AppCommandChannel, _ChannelOption]
ChatChannel = app_commands.Transform[app_commands.AppCommandChannel, _ChatChannelOption]


def _channel(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id else _("not set")


def _on(value: bool) -> str:
    return _("on") if value else _("off")


def _web_gallery(mode: str) -> str:
    if mode == "public":
        return _("public")
    return _("members only") if mode == "members" else _("off")


def _budget(monthly: float | None, default: float | None, currency: str) -> str:
    if monthly is not None:
        return _("{amount:.2f} {currency} a month", amount=monthly, currency=currency)
    if default:
        return _(
            "{amount:.2f} {currency} a month (the bot's default)", amount=default, currency=currency
        )
    return _("none")


def _rule_line(rule: Any) -> str:
    parts = []
    if rule.generation is False:
        parts.append(_("generation off"))
    elif rule.generation is True:
        parts.append(_("generation on"))
    if rule.provider_list:
        parts.append(_("providers {names}", names=", ".join(rule.provider_list)))
    return f"<#{rule.channel_id}>: {'; '.join(parts)}"


class AdminSettings(app_commands.Group):
    def __init__(
        self,
        admin: AdminService,
        config: Config,
        audit: Audit,
    ) -> None:
        super().__init__(name="settings", description="Server and channel settings")
        self.admin = admin
        self.config = config
        self._audit = audit

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """/admin's check: discord.py would not run it for the commands of this group."""
        assert self.parent is not None  # added to /admin
        return await self.parent.interaction_check(interaction)

    @staticmethod
    def _guild(interaction: discord.Interaction[Any]) -> int:
        assert interaction.guild_id is not None  # interaction_check ran
        return interaction.guild_id

    @app_commands.command(name="show", description="This server's moderation settings")
    async def settings_show(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild(interaction)
        s = await self.admin.settings(guild_id)
        config = self.config
        budget = _budget(s.monthly_budget, self.admin.default_budget(), config.costs.currency)
        tiers = await self.admin.role_quotas(guild_id)
        rules = await self.admin.channel_rules(guild_id)
        filters = await self.admin.filters(guild_id)
        every = ", ".join(config.enabled_providers)
        bot_default = config.generation.default_provider
        providers = ", ".join(s.provider_list) or _("all ({every})", every=every)
        default = s.default_provider or _("{provider} (the bot default)", provider=bot_default)
        role_tiers = ", ".join(f"<@&{role}> {images}" for role, images in tiers) or _("none")
        lines = [
            _("**Server settings**"),
            _("Audit channel: {channel}", channel=_channel(s.audit_channel_id)),
            _("Moderation channel: {channel}", channel=_channel(s.mod_channel_id)),
            _("Gallery channel: {channel}", channel=_channel(s.gallery_channel_id)),
            _("Providers: {providers}", providers=providers),
            _("Models: {models}", models=", ".join(s.model_list) or _("all")),
            _("Default provider: {provider}", provider=default),
            _(
                "Spoilers for flagged images in age-restricted channels: {state}",
                state=_on(s.nsfw_spoilers),
            ),
            _("Withheld images count against quota: {state}", state=_on(s.charge_flagged)),
            _("Monthly budget: {budget}", budget=budget),
            _("Private results allowed: {state}", state=_on(s.private_results)),
            _("Web gallery: {mode}", mode=_web_gallery(s.web_gallery)),
            _("Daily images by default: {images}", images=config.quotas.images_per_user_per_day),
            _("Role tiers: {tiers}", tiers=role_tiers),
            _("Prompt filters: {count} (see /admin filter list)", count=len(filters)),
        ]
        if rules:
            lines.append(_("**Channel rules**"))
            lines += [_rule_line(rule) for rule in rules]
        await send_ephemeral(interaction, "\n".join(lines)[:2000])

    @app_commands.command(name="server", description="Change this server's moderation settings")
    @app_commands.describe(
        audit_channel="Where a line per job and per blocked prompt is posted",
        mod_channel="Where 🚩 reports go",
        gallery_channel="Where ⭐ shared images are posted",
        providers="Comma list of allowed providers, or `all`",
        models="Comma list of allowed models for /imagine, or `all`",
        default_provider="Provider used when a member names none (`none` = the bot's)",
        nsfw_spoilers="Show flagged images as spoilers in age-restricted channels",
        charge_flagged="Count withheld images against the member's quota",
        monthly_budget="Spending cap per month (0 = no cap of this server's own)",
        private_results="Let members get results only they see (off: every result is public)",
        web_gallery="Shared images on the bot's web pages: off, for signed-in members, or public",
    )
    async def settings_server(
        self,
        interaction: discord.Interaction,
        audit_channel: PostChannel | None = None,
        mod_channel: PostChannel | None = None,
        gallery_channel: PostChannel | None = None,
        providers: app_commands.Range[str, 1, 200] | None = None,
        models: app_commands.Range[str, 1, 1000] | None = None,
        default_provider: app_commands.Range[str, 1, 40] | None = None,
        nsfw_spoilers: bool | None = None,
        charge_flagged: bool | None = None,
        monthly_budget: app_commands.Range[float, 0.0, 1_000_000.0] | None = None,
        private_results: bool | None = None,
        web_gallery: Literal["off", "members", "public"] | None = None,
    ) -> None:
        given: dict[str, Any] = {
            "audit_channel": audit_channel,
            "mod_channel": mod_channel,
            "gallery_channel": gallery_channel,
            "providers": providers,
            "models": models,
            "default_provider": default_provider,
            "nsfw_spoilers": nsfw_spoilers,
            "charge_flagged": charge_flagged,
            "monthly_budget": monthly_budget,
            "private_results": private_results,
            "web_gallery": web_gallery,
        }
        if all(value is None for value in given.values()):
            await send_ephemeral(
                interaction,
                _("Give at least one setting to change; /admin settings show lists them."),
            )
            return
        channels = {"audit_channel", "mod_channel", "gallery_channel"}
        change = await self.admin.update_server(
            self._guild(interaction),
            **{f"{k}_id": v.id for k, v in given.items() if k in channels and v is not None},
            **{k: v for k, v in given.items() if k not in channels},
        )
        names = ", ".join(name for name, value in given.items() if value is not None)
        self._audit(interaction, lambda: _("changed the server settings: {names}", names=names))
        text = _("Saved. Current settings: see /admin settings show.")
        if monthly_budget == 0 and self.admin.default_budget():
            text += " " + _(
                "This server has no budget of its own now, so the bot's default of "
                "{amount:.2f} {currency} applies.",
                amount=self.admin.default_budget(),
                currency=self.config.costs.currency,
            )
        if change.warnings:
            text += "\n" + "\n".join(f"⚠️ {w}" for w in change.warnings)
        await send_ephemeral(interaction, text)

    @settings_server.autocomplete("default_provider")
    async def default_provider_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = [*self.config.enabled_providers, "none"]
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n]

    @app_commands.command(name="channel", description="Rules for one channel")
    @app_commands.describe(
        channel="Which channel",
        generation="Allow image generation there",
        providers="Comma list of providers allowed there, or `all` for the server's",
    )
    async def settings_channel(
        self,
        interaction: discord.Interaction,
        channel: ChatChannel,
        generation: bool | None = None,
        providers: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        if generation is None and providers is None:
            await send_ephemeral(interaction, _("Give generation and/or providers to change."))
            return
        rule = await self.admin.update_channel(
            self._guild(interaction), channel.id, generation=generation, providers=providers
        )
        allowed = split_names(rule.providers)
        mention = f"<#{channel.id}>"
        self._audit(interaction, lambda: _("changed the rules of {channel}", channel=mention))
        text = _(
            "{channel}: generation {state}; providers {providers}.",
            channel=mention,
            state=_("off") if rule.generation is False else _("on"),
            providers=", ".join(allowed) if allowed else _("as the server allows"),
        )
        await send_ephemeral(interaction, text)
