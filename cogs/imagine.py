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
from bot.studio.permutations import expand
from cogs.ui.interactions import start_job
from cogs.ui.permutations import PermutationButton, preview
from cogs.ui.styles import style_choices

CHOICE_LIMIT = 100  # Discord's limit for a choice's name and its value
AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9"]
ProviderName = Literal["fal", "replicate", "civitai", "openai"]


class Imagine(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PermutationButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PermutationButton)

    @app_commands.command(name="imagine", description="Generate images from a text prompt")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.describe(
        prompt="What to draw ({a, b} makes one job per option; --ar 16:9 and the like work)",
        negative_prompt="What to keep out of the image",
        provider="Which service generates it",
        model="Which model to use (depends on the provider)",
        aspect_ratio="Image shape (width:height)",
        count=f"How many images (1-{MAX_IMAGES})",
        seed="Fix the randomness to reproduce a result",
        steps="Number of denoising steps",
        guidance="How strictly to follow the prompt",
        style="A style from this server's or your own library",
        private="Only you see the result",
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
        style: app_commands.Range[str, 1, 40] | None = None,
        private: bool | None = None,
    ) -> None:
        try:  # `{a, b}` and `--ar 16:9` inside the prompt: read before anything else
            variants = expand(prompt, self.bot.config.generation.max_permutations)
            inlines = [parse_params(variant) for variant in variants]
        except InvalidRequest as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        if private is None and any(inline.private for inline in inlines):
            private = True  # a slash option beats `--private`
        explicit: dict[str, Any] = dict(negative_prompt=negative_prompt, aspect_ratio=aspect_ratio)
        explicit |= dict(count=count)
        explicit |= dict(seed=seed, steps=steps, guidance=guidance, style=style)
        if len(inlines) > 1:
            await preview(interaction, inlines, explicit, provider, model, private)
            return
        inline = inlines[0]
        model = model or inline.model
        build = RequestBuilder(self.bot.config, inline, model=model, **explicit)

        # Options are checked before the acknowledgement wherever no database read is needed,
        # so a bad option gets a private answer at once: with the provider the member named,
        # or, when none was named, against every enabled provider (invalid for all of them is
        # invalid whatever the server's default). That default is read after the
        # acknowledgement: nothing may wait on the database before it. In a burst of commands
        # (a server's announcement) the check waits until after the acknowledgement, where an
        # invalid option is answered privately too: Discord's 3 s are for everyone's ack.
        try:
            if self.bot.intake.in_burst() or self.bot.early_acks.acknowledged_early(interaction.id):
                pass
            elif provider is not None:
                build(provider)
            else:
                preferred = await self.bot.preferences.default_provider(None, None, model)
                valid_somewhere(build, preferred, self.bot.config.enabled_providers)
        except InvalidRequest as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        options = replace(build.options, provider=provider)
        studio = self.bot.studio

        async def create(origin: Origin) -> int:
            return await studio.imagine(options, origin, checked=build.built)

        await start_job(interaction, create, private=private)

    @imagine.autocomplete("style")
    async def style_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await style_choices(interaction, current)

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


class RequestBuilder:
    """The request for a provider, built once per provider (checked before the ack, reused
    after it when the style and the member's defaults change nothing): a slash option the
    member set beats the same parameter in the prompt."""

    def __init__(self, config: Config, inline: InlineParams, **explicit: Any) -> None:
        self._config = config
        asked = RequestOptions(prompt=inline.prompt, **explicit)
        self.options: RequestOptions = inline.under(asked)
        self.built: dict[RequestOptions, GenerationRequest] = {}

    def __call__(self, chosen: str) -> GenerationRequest:
        # A style is checked after the acknowledgement (it is read from the database).
        plain = replace(self.options, provider=chosen)
        if plain not in self.built:
            self.built[plain] = replace(plain, style=None).build(self._config)
        return self.built[plain]


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
