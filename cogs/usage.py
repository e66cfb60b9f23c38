"""`/usage`: the caller's images today; for members with Manage Server, also the server's
spending this month against its budget, its top users and its totals per provider."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.moderation.admin import ServerUsage
from cogs.ui.interactions import defer_journalled


def _money(amount: float, currency: str) -> str:
    """Cents, or tenths of a cent when they matter (an image can cost $0.003)."""
    cents = round(amount, 2) == round(amount, 3)
    return f"{amount:.2f} {currency}" if cents else f"{amount:.3f} {currency}"


def render_server_usage(usage: ServerUsage) -> str:
    money = usage.currency
    spent = _money(usage.spent, money)
    if usage.budget is not None:
        left = max(usage.budget - usage.spent, 0.0)
        head = (
            f"**This server this month** (since <t:{int(usage.month_start)}:D>): {spent} of "
            f"its {_money(usage.budget, money)} budget spent, {_money(left, money)} left."
        )
    else:
        head = (
            f"**This server this month** (since <t:{int(usage.month_start)}:D>): {spent} "
            "spent; no monthly budget is set."
        )
    lines = [head]
    if usage.top_users:
        lines.append("Top users:")
        lines += [
            f"{rank}. <@{user}> — {images} image{'s' if images != 1 else ''}, {_money(cost, money)}"
            for rank, (user, images, cost) in enumerate(usage.top_users, 1)
        ]
    if usage.providers:
        lines.append("By provider:")
        lines += [
            f"• {name} — {images} image{'s' if images != 1 else ''}, {_money(cost, money)}"
            for name, images, cost in usage.providers
        ]
    if not usage.top_users and not usage.providers:
        lines.append("No images have been made on this server this month.")
    return "\n".join(lines)


class UsageCog(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot
        self.admin = bot.admin

    @app_commands.command(name="usage", description="How many images you have left today")
    async def usage(self, interaction: discord.Interaction) -> None:
        await defer_journalled(interaction, ephemeral=True)
        roles = tuple(r.id for r in getattr(interaction.user, "roles", ()))
        usage = await self.bot.jobs.usage(interaction.user.id, interaction.guild_id, roles)
        content = (
            f"You have used **{usage.used}** of your **{usage.limit}** images today; "
            f"**{usage.remaining}** left. Your quota resets <t:{usage.resets_at}:R> "
            f"(midnight UTC)."
        )
        # Checked from the payload's permissions, like every moderator-only answer.
        if interaction.guild_id is not None and interaction.permissions.manage_guild:
            server = await self.admin.server_usage(interaction.guild_id)
            content += "\n\n" + render_server_usage(server)
        await interaction.edit_original_response(content=content[:2000])


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(UsageCog(bot))
