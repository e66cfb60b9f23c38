"""`/styles`: the server's library of styles (Manage Server adds and removes them) and each
member's own (`/styles save` from a result, usable in every server), and the "Save as my
style" message command."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.delivery.text import escape, quote
from bot.i18n import _
from bot.studio.styles import StyleInput
from cogs.ui.interactions import defer_journalled, send_ephemeral
from cogs.ui.styles import style_choices

LIST_LIMIT = 1900


class Styles(commands.Cog):
    library = app_commands.Group(
        name="styles",
        description="Named prompt styles: this server's and your own",
        allowed_installs=app_commands.AppInstallationType(guild=True, user=True),
        allowed_contexts=app_commands.AppCommandContext(
            guild=True, dm_channel=True, private_channel=True
        ),
    )

    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Save as my style", callback=self.save_menu)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @library.command(name="list", description="The styles you can use here")
    async def list_styles(self, interaction: discord.Interaction) -> None:
        await defer_journalled(interaction, ephemeral=True)
        rows = await self.bot.studio.styles.styles(
            interaction.guild_id, interaction.user.id, limit=100
        )
        if not rows:
            await send_ephemeral(
                interaction,
                _(
                    "No styles yet. Moderators add the server's with /styles add; save your own "
                    "from a result with /styles save."
                ),
            )
            return
        lines = [
            f"**{escape(row.name)}**{_(' (yours)') if row.personal else ''} — "
            f"{quote(row.template, 120)}"
            for row in rows
        ]
        text = "\n".join(lines)
        if len(text) > LIST_LIMIT:
            text = text[:LIST_LIMIT].rsplit("\n", 1)[0] + "\n…"
        await send_ephemeral(
            interaction, _("Styles ({count}):\n{lines}", count=len(rows), lines=text)
        )

    @library.command(name="info", description="Details of one style")
    async def info(self, interaction: discord.Interaction, name: str) -> None:
        await defer_journalled(interaction, ephemeral=True)
        row = await self.bot.studio.styles.find(interaction.guild_id, interaction.user.id, name)
        lines = [
            f"**{escape(row.name)}**" + (_(" (yours)") if row.personal else ""),
            _("Template: {template}", template=quote(row.template, 900)),
        ]
        if row.negative:
            lines.append(_("Without: {negative}", negative=quote(row.negative, 300)))
        if row.model:
            lines.append(_("Model: {model}", model=f"`{escape(row.model)}`"))
        if row.loras:
            lines.append(_("LoRAs: {loras}", loras=escape(row.loras)))
        lines.append(
            _("Added by <@{user}> <t:{when}:R>", user=row.added_by, when=int(row.created_at))
        )
        await send_ephemeral(interaction, "\n".join(lines))

    @library.command(name="add", description="Add a style to this server's library")
    @app_commands.guild_only()
    @app_commands.describe(
        name="What members pick in the style option",
        prompt_template="The prompt, with {prompt} where the member's words go",
        negative="What to keep out of the images",
        model="The model this style runs on (when the member chooses none)",
        loras="Up to three LoRAs from this server's library or links, comma separated",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 40],
        prompt_template: app_commands.Range[str, 1, 3000],
        negative: app_commands.Range[str, 1, 1000] | None = None,
        model: app_commands.Range[str, 1, 200] | None = None,
        loras: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        if not await self._can_manage(interaction):
            return
        assert interaction.guild_id is not None
        await defer_journalled(interaction, ephemeral=True)
        style = StyleInput(name, prompt_template, negative, model, loras)
        row = await self.bot.studio.styles.add(interaction.guild_id, interaction.user.id, style)
        await send_ephemeral(
            interaction, _("Added the style **{name}** to this server.", name=escape(row.name))
        )

    @library.command(name="save", description="Save a result's prompt as your own style")
    @app_commands.describe(
        name="Your name for the style",
        result="The result's job number (like 123) or a link to its message",
    )
    async def save(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 40],
        result: app_commands.Range[str, 1, 200],
    ) -> None:
        await defer_journalled(interaction, ephemeral=True)
        job = await self.bot.lineage.find_job(result, interaction.guild_id, interaction.user.id)
        row = await self.bot.studio.styles.save_result(interaction.user.id, name, job)
        await send_ephemeral(interaction, _saved(row.name))

    @library.command(name="remove", description="Remove a style (yours, or this server's)")
    @app_commands.describe(name="The style", server="Remove the server's style of that name")
    async def remove(
        self, interaction: discord.Interaction, name: str, server: bool = False
    ) -> None:
        if server and not await self._can_manage(interaction):
            return
        await defer_journalled(interaction, ephemeral=True)
        await self.bot.studio.styles.remove(
            interaction.guild_id, interaction.user.id, name, server=server
        )
        await send_ephemeral(interaction, _("Removed the style **{name}**.", name=escape(name)))

    @info.autocomplete("name")
    @remove.autocomplete("name")
    async def name_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await style_choices(interaction, current)

    async def save_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        """On a result: asks for a name, then saves its prompt as the member's style."""
        await interaction.response.send_modal(SaveStyleModal(self.bot, message.id))

    async def _can_manage(self, interaction: discord.Interaction[Any]) -> bool:
        """Checked at run time: default permissions are only a hint a server can override."""
        if interaction.guild_id is not None and interaction.permissions.manage_guild:
            return True
        await send_ephemeral(
            interaction, _("You need the Manage Server permission to change the server's styles.")
        )
        return False


def _saved(name: str) -> str:
    return _(
        "Saved **{name}** as your style: use it with style:{name} or --style {name}.",
        name=escape(name),
    )


class SaveStyleModal(discord.ui.Modal):
    def __init__(self, bot: ArtFactoryBot, message_id: int) -> None:
        super().__init__(title=_("Save as my style"))
        self.bot, self.message_id = bot, message_id
        self.name: discord.ui.TextInput[SaveStyleModal] = discord.ui.TextInput(
            label=_("Name"), max_length=40
        )
        self.add_item(self.name)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await defer_journalled(interaction, ephemeral=True)
        job = await self.bot.lineage.find_message(
            self.message_id, interaction.guild_id, interaction.user.id
        )
        row = await self.bot.studio.styles.save_result(interaction.user.id, self.name.value, job)
        await send_ephemeral(interaction, _saved(row.name))


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Styles(bot))
