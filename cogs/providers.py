"""`/providers`: what each configured provider offers here, and how it has been doing;
`/models`: each model members can use here, what it does and its estimated price."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.config import Config
from bot.i18n import _, n_
from bot.moderation.preferences import Here
from bot.ops.health import ProviderHealth
from bot.providers.listing import (
    MODELS_NOTE,
    MODELS_TITLE,
    capability_line,
    models_fields,
    ratios_line,
)
from cogs.ui.interactions import defer_journalled

HEALTH_WINDOW_S = 24 * 3600


def health_line(health: ProviderHealth | None) -> str:
    if health is None or health.jobs == 0:
        return _("no jobs in the last 24 h")
    parts = [n_("{n} job in 24 h", "{n} jobs in 24 h", health.jobs)]
    rate = health.success_rate
    if rate is not None:
        parts.append(
            _(
                "{percent}% ok ({done} done, {failed} failed)",
                percent=round(rate * 100),
                done=health.done,
                failed=health.failed,
            )
        )
    if health.median_s is not None:
        parts.append(_("median {seconds:.1f} s", seconds=health.median_s))
    return " · ".join(parts)


def providers_embed(config: Config, health: dict[str, ProviderHealth]) -> discord.Embed:
    default = config.generation.default_provider
    embed = discord.Embed(
        title=_("Image providers"),
        description=_("Each model's modes and price: `/models`."),
        colour=discord.Colour.blurple(),
    )
    for name in config.enabled_providers:
        settings = config.providers[name]
        models = ", ".join(
            _("`{model}` (default)", model=m) if m == settings.model else f"`{m}`"
            for m in settings.allowed_models()
        )
        value = _(
            "**models:** {models}\n{capabilities}\n**ratios:** {ratios}\n**health:** {health}",
            models=models,
            capabilities=capability_line(config, name),
            ratios=ratios_line(config, name),
            health=health_line(health.get(name)),
        )
        title = _("{provider} ★ default", provider=name) if name == default else name
        embed.add_field(name=title, value=value[:1024], inline=False)
    if config.generation.fallback_providers:
        fallbacks = ", ".join(config.generation.fallback_providers)
        embed.set_footer(
            text=_("While a provider is down, jobs move to: {providers}", providers=fallbacks)
        )
    return embed


def models_embed(config: Config, here: Here) -> discord.Embed:
    embed = discord.Embed(
        title=_(MODELS_TITLE), description=_(MODELS_NOTE), colour=discord.Colour.blurple()
    )

    fields = models_fields(
        config, providers=here.providers, models=here.models, default=here.default_provider
    )
    for field in fields:
        embed.add_field(name=field.name, value=field.value, inline=False)
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

    @app_commands.command(
        name="models", description="The models you can use here: what each does and its price"
    )
    async def models(self, interaction: discord.Interaction) -> None:
        await defer_journalled(interaction, ephemeral=True)  # before the settings are read
        here = await self.bot.preferences.here(interaction.guild_id, interaction.channel_id)
        await interaction.edit_original_response(embed=models_embed(self.bot.config, here))


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(ProvidersCog(bot))
