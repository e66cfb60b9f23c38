"""`/admin`: prompt filters, quotas, bans and server/channel settings (Manage Server).

Discord hides the group from members without Manage Server (`default_permissions`), but a
server can override that and a client can forge a payload, so `AdminGroup.interaction_check`
checks the member's permissions from the payload for every subcommand before it runs. All
answers are private. The work is done by `bot.moderation.admin.AdminService`.
"""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot, send_ephemeral
from bot.delivery.text import escape, inline_code
from bot.moderation.admin import DURATION_FORMAT, AdminService, split_names

FilterKind = Literal["word", "regex"]
Images = app_commands.Range[int, 0, 10_000]

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
    return f"<#{channel_id}>" if channel_id else "not set"


def _on(value: bool) -> str:
    return "on" if value else "off"


class AdminGroup(app_commands.Group):
    filters = app_commands.Group(name="filter", description="Prompt filters")
    quota = app_commands.Group(name="quota", description="Daily image quotas")
    settings = app_commands.Group(name="settings", description="Server and channel settings")

    def __init__(self, bot: ArtFactoryBot) -> None:
        super().__init__(
            name="admin",
            description="Moderation and settings for this server (Manage Server)",
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )
        self.bot = bot
        self.admin = AdminService(bot.config, bot.db, bot.moderation)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Every subcommand: the member's permissions as the payload states them."""
        if interaction.guild_id is None:
            raise app_commands.CheckFailure("/admin only works in a server.")
        if not interaction.permissions.manage_guild:
            raise app_commands.CheckFailure(
                "Sorry, /admin is for members with the Manage Server permission."
            )
        # Every answer is private and most read the database: acknowledge before any of that.
        await interaction.response.defer(ephemeral=True, thinking=True)
        return True

    @staticmethod
    def _guild(interaction: discord.Interaction[Any]) -> int:
        assert interaction.guild_id is not None  # interaction_check ran
        return interaction.guild_id

    def _audit(self, interaction: discord.Interaction[Any], what: str) -> None:
        """One line in the server's audit channel (when it has one) per change."""
        self.bot.audit.record(self._guild(interaction), f"🛠️ <@{interaction.user.id}> {what}")

    # -- filters -----------------------------------------------------------------------------

    @filters.command(name="add", description="Block prompts containing a word or matching a regex")
    @app_commands.describe(
        kind="word: whole word, also when disguised (n.s.f.w, ｎｓｆｗ, n5fw); regex: a pattern",
        pattern="The word, or the regular expression",
    )
    async def filter_add(
        self,
        interaction: discord.Interaction,
        kind: FilterKind,
        pattern: app_commands.Range[str, 1, 200],
    ) -> None:
        stored, added = await self.admin.add_filter(
            self._guild(interaction), kind, pattern, interaction.user.id
        )
        shown = inline_code(stored)
        if added:
            self._audit(interaction, f"added the {kind} filter {shown}")
            await send_ephemeral(
                interaction, f"Added the {kind} filter {shown}: matching prompts are refused."
            )
        else:
            await send_ephemeral(interaction, f"The {kind} filter {shown} was already in place.")

    @filters.command(name="remove", description="Remove a prompt filter")
    @app_commands.describe(kind="word or regex", pattern="The filter to remove")
    async def filter_remove(
        self,
        interaction: discord.Interaction,
        kind: FilterKind,
        pattern: app_commands.Range[str, 1, 200],
    ) -> None:
        stored = await self.admin.remove_filter(self._guild(interaction), kind, pattern)
        self._audit(interaction, f"removed the {kind} filter {inline_code(stored)}")
        await send_ephemeral(interaction, f"Removed the {kind} filter {inline_code(stored)}.")

    @filter_remove.autocomplete("pattern")
    async def filter_remove_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Autocomplete skips interaction_check: don't show the list to anyone else.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            return []
        kind = getattr(interaction.namespace, "kind", None)
        return [
            app_commands.Choice(name=f"{k}: {p}"[:100], value=p[:100])
            for k, p in await self.admin.filters(interaction.guild_id)
            if (kind is None or k == kind) and current.lower() in p.lower()
        ][:25]

    @filters.command(name="list", description="This server's prompt filters")
    async def filter_list(self, interaction: discord.Interaction) -> None:
        rows = await self.admin.filters(self._guild(interaction))
        if not rows:
            await send_ephemeral(
                interaction, "This server has no prompt filters. Add one with /admin filter add."
            )
            return
        lines = [f"{kind}: {inline_code(p)}" for kind, p in rows]
        text = "\n".join(lines)
        if len(text) > 1900:
            text = text[:1900].rsplit("\n", 1)[0] + "\n…"
        await send_ephemeral(interaction, f"Prompt filters on this server ({len(rows)}):\n{text}")

    # -- quotas ------------------------------------------------------------------------------

    @quota.command(name="user", description="Set a member's own daily image quota")
    @app_commands.describe(member="Who", images="Images a day (0 = no generation)")
    async def quota_user(
        self, interaction: discord.Interaction, member: discord.User, images: Images
    ) -> None:
        await self.admin.set_user_quota(self._guild(interaction), member.id, images)
        self._audit(interaction, f"set {member.mention}'s quota to {images} images a day")
        what = (
            "can no longer generate images here"
            if images == 0
            else f"now has **{images}** images a day"
        )
        await send_ephemeral(
            interaction,
            f"{member.mention} {what} (this overrides their roles; /admin quota reset clears it).",
        )

    @quota.command(name="role", description="Set the daily image quota of a role")
    @app_commands.describe(role="Which role", images="Images a day (0 = no generation)")
    async def quota_role(
        self, interaction: discord.Interaction, role: discord.Role, images: Images
    ) -> None:
        await self.admin.set_role_quota(self._guild(interaction), role.id, images)
        self._audit(interaction, f"set the quota of {role.mention} to {images} images a day")
        await send_ephemeral(
            interaction,
            f"Members with {role.mention} now get **{images}** images a day (a member with "
            "several tiers gets the highest; a personal quota wins over roles).",
        )

    @quota.command(
        name="reset", description="Clear a member's own quota and give back today's images"
    )
    @app_commands.describe(member="Who")
    async def quota_reset(self, interaction: discord.Interaction, member: discord.User) -> None:
        reset = await self.admin.reset_quota(self._guild(interaction), member.id)
        self._audit(
            interaction, f"reset {member.mention}'s quota ({reset.given_back} images given back)"
        )
        parts = [
            "Their personal quota was removed, so their roles (or the server default) apply."
            if reset.had_override
            else "They had no personal quota."
        ]
        if reset.given_back:
            images = "image" if reset.given_back == 1 else "images"
            parts.append(f"I gave back the {reset.given_back} {images} they used today.")
        else:
            parts.append("They had used no images today, so there was nothing to give back.")
        await send_ephemeral(interaction, f"Reset {member.mention}'s quota. " + " ".join(parts))

    # -- bans --------------------------------------------------------------------------------

    @app_commands.command(name="ban", description="Stop a member from generating images here")
    @app_commands.describe(
        member="Who",
        reason="Shown to them when they try",
        duration=f"How long: {DURATION_FORMAT}; leave out for until /admin unban",
    )
    async def ban(
        self,
        interaction: discord.Interaction,
        member: discord.User,
        reason: app_commands.Range[str, 1, 300] | None = None,
        duration: app_commands.Range[str, 1, 20] | None = None,
    ) -> None:
        until = await self.admin.ban(
            self._guild(interaction),
            member.id,
            by=interaction.user.id,
            reason=reason,
            duration=duration,
        )
        when = f"until <t:{int(until)}:f>" if until else "until you lift it with /admin unban"
        why = f" ({reason})" if reason else ""
        self._audit(
            interaction,
            f"banned {member.mention} from generating "
            + (f"until <t:{int(until)}:f>" if until else "until unbanned")
            + escape(why),
        )
        await send_ephemeral(
            interaction, f"{member.mention} can't generate images on this server {when}."
        )

    @app_commands.command(name="unban", description="Let a member generate images again")
    @app_commands.describe(member="Who")
    async def unban(self, interaction: discord.Interaction, member: discord.User) -> None:
        if await self.admin.unban(self._guild(interaction), member.id):
            self._audit(interaction, f"lifted the ban of {member.mention}")
            await send_ephemeral(interaction, f"{member.mention} can generate images again.")
        else:
            await send_ephemeral(interaction, f"{member.mention} was not banned here.")

    # -- settings ----------------------------------------------------------------------------

    @settings.command(name="show", description="This server's moderation settings")
    async def settings_show(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild(interaction)
        s = await self.admin.settings(guild_id)
        config = self.bot.config
        currency = config.costs.currency
        if s.monthly_budget is not None:
            budget = f"{s.monthly_budget:.2f} {currency} a month"
        elif self.admin.default_budget():
            budget = f"{self.admin.default_budget():.2f} {currency} a month (the bot's default)"
        else:
            budget = "none"
        tiers = await self.admin.role_quotas(guild_id)
        rules = await self.admin.channel_rules(guild_id)
        filters = await self.admin.filters(guild_id)
        every = ", ".join(config.enabled_providers)
        bot_default = config.generation.default_provider
        lines = [
            "**Server settings**",
            f"Audit channel: {_channel(s.audit_channel_id)}",
            f"Moderation channel: {_channel(s.mod_channel_id)}",
            f"Gallery channel: {_channel(s.gallery_channel_id)}",
            f"Providers: {', '.join(s.provider_list) or f'all ({every})'}",
            f"Models: {', '.join(s.model_list) or 'all'}",
            f"Default provider: {s.default_provider or f'{bot_default} (the bot default)'}",
            f"Spoilers for flagged images in age-restricted channels: {_on(s.nsfw_spoilers)}",
            f"Withheld images count against quota: {_on(s.charge_flagged)}",
            f"Monthly budget: {budget}",
            f"Daily images by default: {config.quotas.images_per_user_per_day}",
            "Role tiers: "
            + (", ".join(f"<@&{role}> {images}" for role, images in tiers) or "none"),
            f"Prompt filters: {len(filters)} (see /admin filter list)",
        ]
        if rules:
            lines.append("**Channel rules**")
            for rule in rules:
                parts = []
                if rule.generation is False:
                    parts.append("generation off")
                elif rule.generation is True:
                    parts.append("generation on")
                if rule.provider_list:
                    parts.append("providers " + ", ".join(rule.provider_list))
                lines.append(f"<#{rule.channel_id}>: {'; '.join(parts)}")
        await send_ephemeral(interaction, "\n".join(lines)[:2000])

    @settings.command(name="server", description="Change this server's moderation settings")
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
    ) -> None:
        given = [
            audit_channel,
            mod_channel,
            gallery_channel,
            providers,
            models,
            default_provider,
            nsfw_spoilers,
            charge_flagged,
            monthly_budget,
        ]
        if all(value is None for value in given):
            await send_ephemeral(
                interaction,
                "Give at least one setting to change; /admin settings show lists them.",
            )
            return
        change = await self.admin.update_server(
            self._guild(interaction),
            audit_channel_id=audit_channel.id if audit_channel else None,
            mod_channel_id=mod_channel.id if mod_channel else None,
            gallery_channel_id=gallery_channel.id if gallery_channel else None,
            providers=providers,
            models=models,
            default_provider=default_provider,
            nsfw_spoilers=nsfw_spoilers,
            charge_flagged=charge_flagged,
            monthly_budget=monthly_budget,
        )
        names = [
            name
            for name, value in zip(
                (
                    "audit_channel",
                    "mod_channel",
                    "gallery_channel",
                    "providers",
                    "models",
                    "default_provider",
                    "nsfw_spoilers",
                    "charge_flagged",
                    "monthly_budget",
                ),
                given,
                strict=True,
            )
            if value is not None
        ]
        self._audit(interaction, f"changed the server settings: {', '.join(names)}")
        text = "Saved. Current settings: see /admin settings show."
        if monthly_budget == 0 and self.admin.default_budget():
            text += (
                f" This server has no budget of its own now, so the bot's default of "
                f"{self.admin.default_budget():.2f} {self.bot.config.costs.currency} applies."
            )
        if change.warnings:
            text += "\n" + "\n".join(f"⚠️ {w}" for w in change.warnings)
        await send_ephemeral(interaction, text)

    @settings_server.autocomplete("default_provider")
    async def default_provider_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = [*self.bot.config.enabled_providers, "none"]
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n]

    @settings.command(name="channel", description="Rules for one channel")
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
            await send_ephemeral(interaction, "Give generation and/or providers to change.")
            return
        rule = await self.admin.update_channel(
            self._guild(interaction), channel.id, generation=generation, providers=providers
        )
        allowed = split_names(rule.providers)
        self._audit(interaction, f"changed the rules of <#{channel.id}>")
        text = (
            f"<#{channel.id}>: generation {'off' if rule.generation is False else 'on'}; providers "
            + (", ".join(allowed) if allowed else "as the server allows")
            + "."
        )
        await send_ephemeral(interaction, text)


class Admin(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot
        self.group = AdminGroup(bot)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.group)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.group.name)


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Admin(bot))
