"""`/admin`: prompt filters, quotas, bans and server/channel settings (Manage Server; the
settings subgroup is cogs/ui/admin_settings.py).

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

from bot.app import ArtFactoryBot
from bot.delivery.text import escape, inline_code
from bot.moderation.admin import DURATION_FORMAT
from cogs.ui.admin_settings import AdminSettings
from cogs.ui.interactions import defer_journalled, send_ephemeral

FilterKind = Literal["word", "regex"]
Images = app_commands.Range[int, 0, 10_000]


class AdminGroup(app_commands.Group):
    filters = app_commands.Group(name="filter", description="Prompt filters")
    quota = app_commands.Group(name="quota", description="Daily image quotas")

    def __init__(self, bot: ArtFactoryBot) -> None:
        super().__init__(
            name="admin",
            description="Moderation and settings for this server (Manage Server)",
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )
        self.bot = bot
        self.admin = bot.admin
        # /admin settings: its own group (cogs/ui/admin_settings.py), listed after ban/unban.
        self.add_command(AdminSettings(bot.admin, bot.config, self._audit))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Every subcommand: the member's permissions as the payload states them."""
        if interaction.guild_id is None:
            raise app_commands.CheckFailure("/admin only works in a server.")
        if not interaction.permissions.manage_guild:
            raise app_commands.CheckFailure(
                "Sorry, /admin is for members with the Manage Server permission."
            )
        # Every answer is private and most read the database: acknowledge before any of that.
        await defer_journalled(interaction, ephemeral=True)
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
