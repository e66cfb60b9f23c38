"""`/providers`: what each configured provider offers here, and how it has been doing."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.config import Config, ProviderConfig
from bot.ops.health import ProviderHealth
from bot.providers.capabilities import PROVIDER_CAPABILITIES, Capabilities
from cogs.ui.interactions import defer_journalled

HEALTH_WINDOW_S = 24 * 3600


def capability_line(caps: Capabilities, settings: ProviderConfig) -> str:
    can = ["text-to-image"]
    if caps.image_to_image and settings.img2img_model:
        can.append("image-to-image")
    if caps.upscale and settings.upscale_model:
        can.append("upscale")
    if caps.max_loras and settings.lora_model:
        can.append(f"≤{caps.max_loras} LoRA" + ("s" if caps.max_loras > 1 else ""))
    can.append(f"≤{caps.max_images} images")
    shows = [
        what
        for what, has in (("queue position", caps.queue_position), ("steps", caps.step_progress))
        if has
    ]
    lacks = [
        what
        for what, has in (
            ("negative prompt", caps.negative_prompt),
            ("seed", caps.seed),
            ("steps", caps.steps),
            ("guidance", caps.guidance),
        )
        if not has
    ]
    line = " · ".join(can)
    line += f"\nprogress: {', '.join(shows) if shows else 'elapsed time only'}"
    if lacks:
        line += f"\nno {', '.join(lacks)}"
    return line


def health_line(health: ProviderHealth | None) -> str:
    if health is None or health.jobs == 0:
        return "no jobs in the last 24 h"
    parts = [f"{health.jobs} job" + ("s" if health.jobs != 1 else "") + " in 24 h"]
    rate = health.success_rate
    if rate is not None:
        parts.append(f"{round(rate * 100)}% ok ({health.done} done, {health.failed} failed)")
    if health.median_s is not None:
        parts.append(f"median {health.median_s:.1f} s")
    return " · ".join(parts)


def providers_embed(config: Config, health: dict[str, ProviderHealth]) -> discord.Embed:
    default = config.generation.default_provider
    embed = discord.Embed(title="Image providers", colour=discord.Colour.blurple())
    for name in config.enabled_providers:
        settings = config.providers[name]
        caps = PROVIDER_CAPABILITIES[name]
        models = ", ".join(
            f"`{m}`" + (" (default)" if m == settings.model else "")
            for m in settings.allowed_models()
        )
        ratios = ", ".join(caps.aspect_ratios_for(settings.model))
        value = (
            f"**models:** {models}\n{capability_line(caps, settings)}\n"
            f"**ratios:** {ratios}\n**health:** {health_line(health.get(name))}"
        )
        title = name + (" ★ default" if name == default else "")
        embed.add_field(name=title, value=value[:1024], inline=False)
    if config.generation.fallback_providers:
        embed.set_footer(
            text="While a provider is down, jobs move to: "
            + ", ".join(config.generation.fallback_providers)
        )
    return embed


class ProvidersCog(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="providers", description="Which image services this bot uses, and how they're doing"
    )
    async def providers(self, interaction: discord.Interaction) -> None:
        await defer_journalled(interaction, ephemeral=True)  # before the ledger
        health = await self.bot.provider_health.recent(HEALTH_WINDOW_S)
        await interaction.edit_original_response(embed=providers_embed(self.bot.config, health))


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(ProvidersCog(bot))
