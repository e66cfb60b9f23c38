"""`/admin`: prompt filters, quotas, bans and server/channel settings (Manage Server; the
settings subgroup is cogs/ui/admin_settings.py).

Discord hides the group from members without Manage Server (`default_permissions`), but a
server can override that and a client can forge a payload, so `AdminGroup.interaction_check`
checks the member's permissions from the payload for every subcommand before it runs. All
answers are private. The work is done by `bot.moderation.admin.AdminService`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.delivery.text import escape, inline_code
from bot.i18n import N_, _, n_, using
from bot.i18n.commands import labelled
from bot.moderation.admin import DURATION_FORMAT
from cogs.ui.admin_settings import AdminSettings
from cogs.ui.interactions import defer_journalled, send_ephemeral, server_locale

FilterKind = Literal["word", "regex"]
FILTER_KINDS = {"word": N_("word"), "regex": N_("regex")}  # as the member's client names them
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
            raise app_commands.CheckFailure(_("/admin only works in a server."))
        if not interaction.permissions.manage_guild:
            raise app_commands.CheckFailure(
                _("Sorry, /admin is for members with the Manage Server permission.")
            )
        # Every answer is private and most read the database: acknowledge before any of that.
        await defer_journalled(interaction, ephemeral=True)
        return True

    @staticmethod
    def _guild(interaction: discord.Interaction[Any]) -> int:
        assert interaction.guild_id is not None  # interaction_check ran
        return interaction.guild_id

    def _audit(self, interaction: discord.Interaction[Any], what: Callable[[], str]) -> None:
        """One line in the server's audit channel (when it has one) per change, written (by
        `what`) in the server's language: the channel is read by all its moderators."""
        with using(server_locale(interaction)):
            line = f"🛠️ <@{interaction.user.id}> {what()}"
        self.bot.audit.record(self._guild(interaction), line)

    # -- filters -----------------------------------------------------------------------------

    @filters.command(name="add", description="Block prompts containing a word or matching a regex")
    @app_commands.choices(kind=labelled(*FILTER_KINDS))
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
            self._audit(
                interaction,
                lambda: _(
                    "added the {kind} filter {shown}", kind=_(FILTER_KINDS[kind]), shown=shown
                ),
            )
            answer = _(
                "Added the {kind} filter {shown}: matching prompts are refused.",
                kind=_(FILTER_KINDS[kind]),
                shown=shown,
            )
        else:
            answer = _(
                "The {kind} filter {shown} was already in place.",
                kind=_(FILTER_KINDS[kind]),
                shown=shown,
            )
        await send_ephemeral(interaction, answer)

    @filters.command(name="remove", description="Remove a prompt filter")
    @app_commands.choices(kind=labelled(*FILTER_KINDS))
    @app_commands.describe(kind="word or regex", pattern="The filter to remove")
    async def filter_remove(
        self,
        interaction: discord.Interaction,
        kind: FilterKind,
        pattern: app_commands.Range[str, 1, 200],
    ) -> None:
        stored = await self.admin.remove_filter(self._guild(interaction), kind, pattern)
        shown = inline_code(stored)
        self._audit(
            interaction,
            lambda: _("removed the {kind} filter {shown}", kind=_(FILTER_KINDS[kind]), shown=shown),
        )
        await send_ephemeral(
            interaction,
            _("Removed the {kind} filter {shown}.", kind=_(FILTER_KINDS[kind]), shown=shown),
        )

    @filter_remove.autocomplete("pattern")
    async def filter_remove_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Autocomplete skips interaction_check: don't show the list to anyone else.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            return []
        kind = getattr(interaction.namespace, "kind", None)
        return [
            app_commands.Choice(name=f"{_(FILTER_KINDS.get(k, k))}: {p}"[:100], value=p[:100])
            for k, p in await self.admin.filters(interaction.guild_id)
            if (kind is None or k == kind) and current.lower() in p.lower()
        ][:25]

    @filters.command(name="list", description="This server's prompt filters")
    async def filter_list(self, interaction: discord.Interaction) -> None:
        rows = await self.admin.filters(self._guild(interaction))
        if not rows:
            await send_ephemeral(
                interaction,
                _("This server has no prompt filters. Add one with /admin filter add."),
            )
            return
        lines = [f"{_(FILTER_KINDS.get(kind, kind))}: {inline_code(p)}" for kind, p in rows]
        text = "\n".join(lines)
        if len(text) > 1900:
            text = text[:1900].rsplit("\n", 1)[0] + "\n…"
        head = _("Prompt filters on this server ({count}):", count=len(rows))
        await send_ephemeral(interaction, f"{head}\n{text}")

    # -- quotas ------------------------------------------------------------------------------

    @quota.command(name="user", description="Set a member's own daily image quota")
    @app_commands.describe(member="Who", images="Images a day (0 = no generation)")
    async def quota_user(
        self, interaction: discord.Interaction, member: discord.User, images: Images
    ) -> None:
        await self.admin.set_user_quota(self._guild(interaction), member.id, images)
        self._audit(
            interaction,
            lambda: n_(
                "set {member}'s quota to {n} image a day",
                "set {member}'s quota to {n} images a day",
                images,
                member=member.mention,
            ),
        )
        if images == 0:
            answer = _(
                "{member} can no longer generate images here (this overrides their roles; "
                "/admin quota reset clears it).",
                member=member.mention,
            )
        else:
            answer = n_(
                "{member} now has **{n}** image a day (this overrides their roles; /admin "
                "quota reset clears it).",
                "{member} now has **{n}** images a day (this overrides their roles; /admin "
                "quota reset clears it).",
                images,
                member=member.mention,
            )
        await send_ephemeral(interaction, answer)

    @quota.command(name="role", description="Set the daily image quota of a role")
    @app_commands.describe(role="Which role", images="Images a day (0 = no generation)")
    async def quota_role(
        self, interaction: discord.Interaction, role: discord.Role, images: Images
    ) -> None:
        await self.admin.set_role_quota(self._guild(interaction), role.id, images)
        self._audit(
            interaction,
            lambda: n_(
                "set the quota of {role} to {n} image a day",
                "set the quota of {role} to {n} images a day",
                images,
                role=role.mention,
            ),
        )
        await send_ephemeral(
            interaction,
            n_(
                "Members with {role} now get **{n}** image a day (a member with several tiers "
                "gets the highest; a personal quota wins over roles).",
                "Members with {role} now get **{n}** images a day (a member with several tiers "
                "gets the highest; a personal quota wins over roles).",
                images,
                role=role.mention,
            ),
        )

    @quota.command(
        name="reset", description="Clear a member's own quota and give back today's images"
    )
    @app_commands.describe(member="Who")
    async def quota_reset(self, interaction: discord.Interaction, member: discord.User) -> None:
        reset = await self.admin.reset_quota(self._guild(interaction), member.id)
        self._audit(
            interaction,
            lambda: n_(
                "reset {member}'s quota ({n} image given back)",
                "reset {member}'s quota ({n} images given back)",
                reset.given_back,
                member=member.mention,
            ),
        )
        parts = [
            _("Reset {member}'s quota.", member=member.mention),
            _("Their personal quota was removed, so their roles (or the server default) apply.")
            if reset.had_override
            else _("They had no personal quota."),
        ]
        if reset.given_back:
            parts.append(
                n_(
                    "I gave back the {n} image they used today.",
                    "I gave back the {n} images they used today.",
                    reset.given_back,
                )
            )
        else:
            parts.append(_("They had used no images today, so there was nothing to give back."))
        await send_ephemeral(interaction, " ".join(parts))

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
        why = escape(f" ({reason})") if reason else ""  # the moderator's words, as typed
        self._audit(
            interaction,
            lambda: (
                (
                    _(
                        "banned {member} from generating until <t:{until}:f>",
                        member=member.mention,
                        until=int(until),
                    )
                    if until
                    else _("banned {member} from generating until unbanned", member=member.mention)
                )
                + why
            ),
        )
        if until:
            answer = _(
                "{member} can't generate images on this server until <t:{until}:f>.",
                member=member.mention,
                until=int(until),
            )
        else:
            answer = _(
                "{member} can't generate images on this server until you lift it with /admin "
                "unban.",
                member=member.mention,
            )
        await send_ephemeral(interaction, answer)

    @app_commands.command(name="unban", description="Let a member generate images again")
    @app_commands.describe(member="Who")
    async def unban(self, interaction: discord.Interaction, member: discord.User) -> None:
        if await self.admin.unban(self._guild(interaction), member.id):
            self._audit(interaction, lambda: _("lifted the ban of {member}", member=member.mention))
            answer = _("{member} can generate images again.", member=member.mention)
        else:
            answer = _("{member} was not banned here.", member=member.mention)
        await send_ephemeral(interaction, answer)


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
