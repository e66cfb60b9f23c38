"""The `style` option's autocomplete, shared by /imagine and /lora: the member's own styles
first, then the server's."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import _
from cogs.ui.interactions import bot_of


async def style_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    rows = await bot_of(interaction).studio.styles.styles(
        interaction.guild_id, interaction.user.id, current, limit=25
    )
    return [
        app_commands.Choice(
            name=_("{name} (yours)", name=row.name) if row.personal else row.name, value=row.name
        )
        for row in rows
    ]
