"""`/describe` and the "Describe" message command: candidate prompts for an image, each with an
Imagine button (cogs/ui/image_actions.py) that runs it, charged when clicked."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.community.actions import Attachment
from bot.i18n import _
from bot.jobs.model import Origin
from bot.providers.offers import Needs
from cogs.ui.attachments import first_image
from cogs.ui.interactions import send_ephemeral, start_job


class Describe(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Describe", callback=self.describe_message)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="describe", description="Get four prompts for an image")
    @app_commands.guild_only()
    @app_commands.describe(image="The image to describe")
    async def describe(self, interaction: discord.Interaction, image: discord.Attachment) -> None:
        await self._start(interaction, image)

    async def describe_message(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        image = first_image(message)
        if image is None:
            await send_ephemeral(interaction, _("That message has no image attached."))

            return
        await self._start(interaction, image)

    async def _start(
        self, interaction: discord.Interaction[Any], image: discord.Attachment
    ) -> None:
        bot = self.bot
        attached = Attachment(image.url, image.size, image.content_type)

        async def create(origin: Origin) -> int:
            provider = await bot.preferences.default_provider(
                interaction.guild_id, interaction.channel_id, needs=Needs(mode="describe")
            )
            return await bot.actions.describe(origin, attached, provider)

        await start_job(interaction, create)


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Describe(bot))
