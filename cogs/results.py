"""Buttons on finished results (cogs/ui/layouts.py, result_buttons.py, image_actions.py):
registers them, and answers the 🎨 Remix, Vary (Region) and Animate forms. A form's submission
is read from its custom_id and submitted values, not from the modal object (see `RemixModal`),
so it survives restarts.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.jobs.model import Origin
from cogs.ui.custom_ids import (
    ANIMATE_FORM_TEMPLATE,
    REGION_FORM_TEMPLATE,
    REMIX_FORM_TEMPLATE,
    REMIX_NEGATIVE_PROMPT,
    REMIX_PROMPT,
)
from cogs.ui.image_actions import animate_submitted, region_submitted
from cogs.ui.interactions import bot_of, start_job
from cogs.ui.layouts import ALL_RESULT_ITEMS

REMIX_SUBMIT = re.compile(REMIX_FORM_TEMPLATE)
IMAGE_FORMS = (
    (re.compile(REGION_FORM_TEMPLATE), region_submitted),
    (re.compile(ANIMATE_FORM_TEMPLATE), animate_submitted),
)


def submitted_values(data: Any) -> dict[str, str]:
    """Text input values (and a select's chosen value) of a modal submission, by custom_id,
    whatever the layout nesting (action rows or labels)."""
    values: dict[str, str] = {}
    pending = list(data.get("components", ())) if isinstance(data, dict) else []
    while pending:
        component = pending.pop()
        if not isinstance(component, dict):
            continue
        if isinstance(component.get("value"), str) and "custom_id" in component:
            values[str(component["custom_id"])] = component["value"]
        chosen = component.get("values")
        if isinstance(chosen, list) and chosen and "custom_id" in component:
            values[str(component["custom_id"])] = str(chosen[0])
        pending.extend(component.get("components", ()))
        if isinstance(component.get("component"), dict):
            pending.append(component["component"])
    return values


async def remix_submitted(interaction: discord.Interaction[Any], job_id: int) -> None:
    values = submitted_values(interaction.data)
    prompt = values.get(REMIX_PROMPT, "")
    negative = values.get(REMIX_NEGATIVE_PROMPT) or None
    derivations = bot_of(interaction).derive

    async def create(origin: Origin) -> int:
        parent = await derivations.parent_for(job_id, interaction.guild_id, None)
        return await derivations.remix(parent, origin, prompt=prompt, negative_prompt=negative)

    await start_job(interaction, create)


class ResultButtons(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*ALL_RESULT_ITEMS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*ALL_RESULT_ITEMS)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        form = str(data.get("custom_id", ""))
        match = REMIX_SUBMIT.fullmatch(form)
        if match is not None:
            await remix_submitted(interaction, int(match["job_id"]))
            return
        for template, answer in IMAGE_FORMS:
            match = template.fullmatch(form)
            if match is not None:
                values = submitted_values(data)
                await answer(interaction, int(match["job_id"]), int(match["index"]), values)
                return


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(ResultButtons(bot))
