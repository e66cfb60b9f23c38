"""Buttons on a job's progress message: registers ❌ Cancel (cogs/ui/cancel.py), which the
Messenger puts on every progress edit."""

from __future__ import annotations

from discord.ext import commands

from bot.app import ArtFactoryBot
from cogs.ui.cancel import CancelJobButton


class JobButtons(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(CancelJobButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(CancelJobButton)


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(JobButtons(bot))
