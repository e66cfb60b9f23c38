"""Buttons on finished results (cogs/ui/result_buttons.py): registers them, and answers the
🎨 Remix form. The form's submission is read from its custom_id and submitted values, not from
the `RemixModal` object (see there), so it survives restarts.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.jobs.model import Origin
from cogs.ui.custom_ids import REMIX_FORM_TEMPLATE, REMIX_NEGATIVE_PROMPT, REMIX_PROMPT
from cogs.ui.interactions import start_job
from cogs.ui.result_buttons import RESULT_BUTTONS

REMIX_SUBMIT = re.compile(REMIX_FORM_TEMPLATE)


def _bot(interaction: discord.Interaction[Any]) -> ArtFactoryBot:
    client: ArtFactoryBot = interaction.client
    return client


def submitted_values(data: Any) -> dict[str, str]:
    """Text input values of a modal submission, by custom_id, whatever the layout nesting
    (action rows or labels)."""
    values: dict[str, str] = {}
    pending = list(data.get("components", ())) if isinstance(data, dict) else []
    while pending:
        component = pending.pop()
        if not isinstance(component, dict):
            continue
        if isinstance(component.get("value"), str) and "custom_id" in component:
            values[str(component["custom_id"])] = component["value"]
        pending.extend(component.get("components", ()))
        if isinstance(component.get("component"), dict):
            pending.append(component["component"])
    return values


async def remix_submitted(interaction: discord.Interaction[Any], job_id: int) -> None:
    values = submitted_values(interaction.data)
    prompt = values.get(REMIX_PROMPT, "")
    negative = values.get(REMIX_NEGATIVE_PROMPT) or None
    derivations = _bot(interaction).derive

    async def create(origin: Origin) -> int:
        parent = await derivations.parent_for(job_id, interaction.guild_id, None)
        return await derivations.remix(parent, origin, prompt=prompt, negative_prompt=negative)

    await start_job(interaction, create)


class ResultButtons(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*RESULT_BUTTONS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*RESULT_BUTTONS)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        match = REMIX_SUBMIT.fullmatch(str(data.get("custom_id", "")))
        if match is not None:
            await remix_submitted(interaction, int(match["job_id"]))


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(ResultButtons(bot))
