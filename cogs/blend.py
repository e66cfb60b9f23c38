"""`/blend images:<2-4> [prompt]`: one image from several, crediting every source whose author
is known."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.community.actions import Attachment
from bot.jobs.model import Origin
from bot.providers.offers import Needs
from bot.providers.request import MAX_PROMPT_CHARS
from cogs.ui.interactions import start_job


class Blend(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    @app_commands.command(name="blend", description="Blend 2 to 4 images into one")
    @app_commands.guild_only()
    @app_commands.describe(
        image1="The first image",
        image2="The second image",
        image3="A third image (optional)",
        image4="A fourth image (optional)",
        prompt="How to combine them (optional)",
    )
    async def blend(
        self,
        interaction: discord.Interaction,
        image1: discord.Attachment,
        image2: discord.Attachment,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
    ) -> None:
        bot = self.bot
        images = [
            Attachment(a.url, a.size, a.content_type)
            for a in (image1, image2, image3, image4)
            if a is not None
        ]

        async def create(origin: Origin) -> int:
            provider = await bot.preferences.default_provider(
                interaction.guild_id, interaction.channel_id, needs=Needs(mode="blend")
            )
            return await bot.actions.blend(origin, images, prompt, provider)

        await start_job(interaction, create)


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Blend(bot))
