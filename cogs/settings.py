"""`/settings`: a member's own defaults, in a private panel (cogs/ui/settings_panel.py)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from cogs.ui.interactions import defer_journalled
from cogs.ui.settings_panel import (
    SettingButton,
    SettingSelect,
    load_panel,
    panel_text,
    panel_view,
)


class Settings(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SettingSelect, SettingButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SettingSelect, SettingButton)

    @app_commands.command(name="settings", description="Your own defaults for generating images")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def settings(self, interaction: discord.Interaction) -> None:
        await defer_journalled(interaction, ephemeral=True)
        panel = await load_panel(interaction)
        config = self.bot.config
        await interaction.followup.send(
            panel_text(config, panel), view=panel_view(config, panel), ephemeral=True
        )


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Settings(bot))
