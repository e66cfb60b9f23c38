"""🚩 Reports and the moderators' buttons on them: registers the buttons of cogs/ui/report.py
(🚩 Report on every result; 🗑 Delete image and ⛔ Ban author on each report)."""

from __future__ import annotations

from discord.ext import commands

from bot.app import ArtFactoryBot
from cogs.ui.report import REPORT_BUTTONS


class Moderation(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*REPORT_BUTTONS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*REPORT_BUTTONS)


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Moderation(bot))
