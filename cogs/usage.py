"""`/usage`: the caller's images today."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot


class UsageCog(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    @app_commands.command(name="usage", description="How many images you have left today")
    async def usage(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        roles = tuple(r.id for r in getattr(interaction.user, "roles", ()))
        usage = await self.bot.jobs.usage(interaction.user.id, interaction.guild_id, roles)
        await interaction.edit_original_response(
            content=f"You have used **{usage.used}** of your **{usage.limit}** images today; "
            f"**{usage.remaining}** left. Your quota resets <t:{usage.resets_at}:R> "
            f"(midnight UTC)."
        )


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(UsageCog(bot))
