"""`/variations` and the "Make variations" message command: image-to-image from an attachment."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.i18n import N_, _
from bot.jobs.model import Origin
from bot.providers.offers import Needs, can_serve
from bot.providers.request import MAX_IMAGES, MAX_PROMPT_CHARS, RequestOptions
from cogs.ui.attachments import first_image
from cogs.ui.choices import provider_choices
from cogs.ui.interactions import send_ephemeral, start_job

STRENGTHS = {"subtle": N_("subtle (0.35)"), "strong": N_("strong (0.75)")}  # value: its name


class Variations(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Make variations", callback=self.make_variations)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="variations", description="Make variations of an image")
    @app_commands.guild_only()
    @app_commands.describe(
        image="The image to start from",
        prompt="What the variations should show (optional)",
        strength="subtle, strong, or a number from 0.05 (close) to 1.0 (free)",
        count=f"How many images (1-{MAX_IMAGES})",
        provider="Which service generates them",
    )
    async def variations(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
        strength: str | None = None,
        count: app_commands.Range[int, 1, MAX_IMAGES] | None = None,
        provider: str | None = None,
    ) -> None:
        await self._start(
            interaction, image, prompt=prompt, strength=strength, count=count, provider=provider
        )

    @variations.autocomplete("strength")
    async def strength_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # What was typed is offered back as is (a number), when Discord can take it as a choice.
        fits = 0 < len(current) <= 100
        typed = [app_commands.Choice(name=current, value=current)] if fits else []
        offered = [
            app_commands.Choice(name=_(name), value=value)
            for value, name in STRENGTHS.items()
            if current.lower() in value
        ]
        return offered + typed[:1]

    @variations.autocomplete("provider")
    async def provider_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return provider_choices(self.bot.config, current)

    async def make_variations(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        image = first_image(message)
        if image is None:
            await send_ephemeral(interaction, _("That message has no image attached."))

            return
        await self._start(interaction, image, source_message_id=message.id)

    async def _start(
        self,
        interaction: discord.Interaction[Any],
        image: discord.Attachment,
        *,
        prompt: str | None = None,
        strength: str | None = None,
        count: int | None = None,
        provider: str | None = None,
        source_message_id: int | None = None,
    ) -> None:
        """Both entry points: when no provider was named, the server's default provider, or the
        first allowed one that can start from an image."""
        derivations = self.bot.derive

        async def create(origin: Origin) -> int:
            # After the acknowledgement: nothing may wait on the database before it. The
            # member's default provider (when it can start from an image) and count fill
            # what the command left open.
            config = self.bot.config
            filled = await self.bot.studio.defaults.fill(
                RequestOptions(prompt="", provider=provider, count=count),
                origin.user_id,
                origin.guild_id,
                origin.channel_id,
            )
            usable = filled.provider and can_serve(config, filled.provider, Needs(mode="img2img"))
            chosen = provider or (filled.provider if usable else None)
            chosen = chosen or await self.bot.preferences.default_provider(
                interaction.guild_id,
                interaction.channel_id,
                needs=Needs(mode="img2img"),
            )
            return await derivations.variations_from_attachment(
                origin,
                url=image.url,
                size=image.size,
                content_type=image.content_type,
                prompt=prompt,
                strength=strength,
                count=filled.count,
                provider=chosen,
                source_message_id=source_message_id,
            )

        await start_job(interaction, create)


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Variations(bot))
