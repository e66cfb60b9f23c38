"""`/usage`: the caller's images today; for members with Manage Server, also the server's
spending this month against its budget, its top users and its totals per provider."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.i18n import _, n_
from bot.moderation.admin import ServerUsage
from cogs.ui.interactions import defer_journalled


def _money(amount: float, currency: str) -> str:
    """Cents, or tenths of a cent when they matter (an image can cost $0.003)."""
    cents = round(amount, 2) == round(amount, 3)
    return f"{amount:.2f} {currency}" if cents else f"{amount:.3f} {currency}"


def render_server_usage(usage: ServerUsage) -> str:
    money = usage.currency
    spent = _money(usage.spent, money)
    since = int(usage.month_start)
    if usage.budget is not None:
        left = max(usage.budget - usage.spent, 0.0)
        head = _(
            "**This server this month** (since <t:{since}:D>): {spent} of its {budget} budget "
            "spent, {left} left.",
            since=since,
            spent=spent,
            budget=_money(usage.budget, money),
            left=_money(left, money),
        )
    else:
        head = _(
            "**This server this month** (since <t:{since}:D>): {spent} spent; no monthly "
            "budget is set.",
            since=since,
            spent=spent,
        )
    lines = [head]
    if usage.top_users:
        lines.append(_("Top users:"))
        lines += [
            n_(
                "{rank}. <@{user}> — {n} image, {cost}",
                "{rank}. <@{user}> — {n} images, {cost}",
                images,
                rank=rank,
                user=user,
                cost=_money(cost, money),
            )
            for rank, (user, images, cost) in enumerate(usage.top_users, 1)
        ]
    if usage.providers:
        lines.append(_("By provider:"))
        lines += [
            n_(
                "• {name} — {n} image, {cost}",
                "• {name} — {n} images, {cost}",
                images,
                name=name,
                cost=_money(cost, money),
            )
            for name, images, cost in usage.providers
        ]
    if not usage.top_users and not usage.providers:
        lines.append(_("No images have been made on this server this month."))
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
        content = _(
            "You have used **{used}** of your **{limit}** images today; **{remaining}** left. "
            "Your quota resets <t:{resets_at}:R> (midnight UTC).",
            used=usage.used,
            limit=usage.limit,
            remaining=usage.remaining,
            resets_at=usage.resets_at,
        )

        # Checked from the payload's permissions, like every moderator-only answer.
        if interaction.guild_id is not None and interaction.permissions.manage_guild:
            server = await self.admin.server_usage(interaction.guild_id)
            content += "\n\n" + render_server_usage(server)
        await interaction.edit_original_response(content=content[:2000])


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(UsageCog(bot))
