"""`/imagine`: validate, acknowledge, hand the job to the core."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.config import Config
from bot.delivery.text import short_prompt
from bot.errors import InvalidRequest
from bot.jobs.model import Origin
from bot.providers.request import (
    MAX_IMAGES,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    GenerationRequest,
    RequestOptions,
)
from bot.studio.params import InlineParams, parse_params
from cogs.ui.interactions import start_job

CHOICE_LIMIT = 100  # Discord's limit for a choice's name and its value
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
        try:  # `--ar 16:9` and the like inside the prompt: read before anything else
            inline = parse_params(prompt)
        except InvalidRequest as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        model = model or inline.model
        build = request_builder(
            self.bot.config,
            inline,
            negative_prompt=negative_prompt,
            model=model,
            aspect_ratio=aspect_ratio,
            count=count,
            seed=seed,
            steps=steps,
            guidance=guidance,
        )

        # Options are checked before the acknowledgement wherever no database read is needed,
        # so a bad option gets a private answer at once: with the provider the member named,
        # or, when none was named, against every enabled provider (invalid for all of them is
        # invalid whatever the server's default). That default is read after the
        # acknowledgement: nothing may wait on the database before it. In a burst of commands
        # (a server's announcement) the check waits until after the acknowledgement, where an
        # invalid option is answered privately too: Discord's 3 s are for everyone's ack.
        checked: GenerationRequest | None = None
        try:
            if self.bot.intake.in_burst() or self.bot.early_acks.acknowledged_early(interaction.id):
                pass
            elif provider is not None:
                checked = build(provider)
            else:
                preferred = await self.bot.preferences.default_provider(None, None, model)
                valid_somewhere(build, preferred, self.bot.config.enabled_providers)
        except InvalidRequest as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return

        async def create(origin: Origin) -> int:
            chosen = provider or await self.bot.preferences.default_provider(
                interaction.guild_id, interaction.channel_id, model
            )
            request = await self.bot.prompt_help.apply(checked or build(chosen))
            return await self.bot.jobs.create(request, origin)

        await start_job(interaction, create)

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
                # Discord refuses the whole list if one choice's name or value is over 100
                # characters: a longer id can still be typed, just not offered.
                if current.lower() in model_id.lower() and len(model_id) <= CHOICE_LIMIT:
                    label = short_prompt(f"{model_id} ({name})", CHOICE_LIMIT)
                    choices.append(app_commands.Choice(name=label, value=model_id))
        return choices[:25]


def request_builder(
    config: Config, inline: InlineParams, **explicit: Any
) -> Callable[[str], GenerationRequest]:
    """The request for a provider, built once per provider (checked before the ack, reused
    after it): a slash option the member set beats the same parameter in the prompt."""
    built: dict[str, GenerationRequest] = {}
    options = inline.under(RequestOptions(prompt=inline.prompt, **explicit))

    def build(chosen: str) -> GenerationRequest:
        if chosen not in built:
            built[chosen] = replace(options, provider=chosen).build(config)
        return built[chosen]

    return build


def valid_somewhere(
    build: Callable[[str], GenerationRequest], preferred: str, providers: Iterable[str]
) -> None:
    """Raise `preferred`'s InvalidRequest when no provider could take these options."""
    errors: dict[str, InvalidRequest] = {}
    for name in providers:
        try:
            build(name)
            return
        except InvalidRequest as exc:
            errors[name] = exc
    if errors:
        raise errors.get(preferred) or next(iter(errors.values()))


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Imagine(bot))
