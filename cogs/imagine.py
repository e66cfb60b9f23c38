"""`/imagine`: validate, acknowledge, hand the job to the core."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot, start_job
from bot.errors import InvalidRequest
from bot.generation import MAX_IMAGES, MAX_PROMPT_CHARS, MAX_SEED, build_request
from bot.guild_prefs import default_provider

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9"]
ProviderName = Literal["fal", "replicate", "civitai", "openai"]


class Imagine(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    @app_commands.command(name="imagine", description="Generate images from a text prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to draw",
        negative_prompt="What to keep out of the image",
        provider="Which service generates it",
        model="Which model to use (depends on the provider)",
        aspect_ratio="Image shape (width:height)",
        count=f"How many images (1-{MAX_IMAGES})",
        seed="Fix the randomness to reproduce a result",
        steps="Number of denoising steps",
        guidance="How strictly to follow the prompt",
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        negative_prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
        provider: ProviderName | None = None,
        model: str | None = None,
        aspect_ratio: AspectRatio | None = None,
        count: app_commands.Range[int, 1, MAX_IMAGES] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 1, 50] | None = None,
        guidance: app_commands.Range[float, 0.0, 20.0] | None = None,
    ) -> None:
        # When no provider was named: the server's default (or one the channel allows).
        chosen = provider or await default_provider(
            self.bot.config,
            self.bot.moderation.store,
            interaction.guild_id,
            interaction.channel_id,
            model,
        )
        try:
            request = build_request(
                self.bot.config,
                prompt=prompt,
                negative_prompt=negative_prompt,
                provider=chosen,
                model=model,
                aspect_ratio=aspect_ratio,
                count=count,
                seed=seed,
                steps=steps,
                guidance=guidance,
            )
        except InvalidRequest as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        await start_job(interaction, lambda origin: self.bot.jobs.create(request, origin))

    @imagine.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        config = self.bot.config
        chosen = (
            getattr(interaction.namespace, "provider", None) or config.generation.default_provider
        )
        names = [chosen] if chosen in config.enabled_providers else list(config.enabled_providers)
        choices = []
        for name in names:
            for model_id in config.providers[name].allowed_models():
                if current.lower() in model_id.lower():
                    choices.append(app_commands.Choice(name=f"{model_id} ({name})", value=model_id))
        return choices[:25]


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Imagine(bot))
