"""A single image's buttons (issue 15): Vary (Subtle), Vary (Strong), Vary (Region), Zoom Out
1.5x, Zoom Out 2x, the four pan arrows, Upscale and Animate; the forms Vary (Region) and Animate
open; and the Imagine buttons of a /describe.

Every button is a `DynamicItem` whose custom_id carries the action, the job id and the image
number, and whose state is read from the ledger, so it works after restarts and a forged id is
refused by the same server-side checks as the V/U buttons. The forms are answered from their
custom_id and submitted values by the results cog (cogs/results.py), like the Remix form.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import DatabaseBusy, InvalidRequest
from bot.i18n import N_, _
from bot.jobs.masks import ROUGH_REGIONS
from bot.jobs.model import Origin
from bot.providers.request import GenerationRequest
from cogs.ui.custom_ids import (
    ACTION_PROMPT,
    ANIMATE_DURATION,
    ANIMATE_FORM,
    DESCRIBED,
    DESCRIBED_TEMPLATE,
    IMAGE_ACTION,
    REGION_FORM,
    REGION_ROUGH,
    REGION_WORDS,
    SINGLE_ACTION_TEMPLATE,
    custom_id,
)
from cogs.ui.interactions import attachment_urls, bot_of, send_ephemeral, start_job

if TYPE_CHECKING:
    pass

# code: (label, emoji), in the order the buttons are laid out.
ACTIONS: dict[str, tuple[str | None, str | None]] = {
    "vs": (N_("Vary (Subtle)"), None),
    "vg": (N_("Vary (Strong)"), None),
    "vr": (N_("Vary (Region)"), None),
    "z15": (N_("Zoom Out 1.5x"), None),
    "z2": (N_("Zoom Out 2x"), None),
    "up": (N_("Upscale"), None),
    "an": (N_("Animate"), None),
    "pl": (None, "⬅️"),
    "pr": (None, "➡️"),
    "pu": (None, "⬆️"),
    "pd": (None, "⬇️"),
}
ROWS = (("vs", "vg", "vr"), ("z15", "z2", "up", "an"), ("pl", "pr", "pu", "pd"))
PANS = {"pl": "left", "pr": "right", "pu": "up", "pd": "down"}
ZOOMS = {"z15": 1.5, "z2": 2.0}
FORM_READ_TIMEOUT_S = 2.0  # a form must be the first answer (Discord: within 3 s)
# The rough regions of Vary (Region) as the form lists them (the value is the English key).
REGION_NAMES = {
    "left half": N_("Left half"),
    "right half": N_("Right half"),
    "top half": N_("Top half"),
    "bottom half": N_("Bottom half"),
    "left third": N_("Left third"),
    "right third": N_("Right third"),
    "top third": N_("Top third"),
    "bottom third": N_("Bottom third"),
    "centre": N_("Centre"),
}


class ActionButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=SINGLE_ACTION_TEMPLATE):
    def __init__(self, action: str, job_id: int, index: int) -> None:
        label, emoji = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=_(label) if label else None,
                emoji=emoji,
                style=discord.ButtonStyle.secondary,
                custom_id=custom_id(IMAGE_ACTION, action, job_id, index),
            )
        )
        self.action, self.job_id, self.index = action, job_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> ActionButton:
        return cls(match["action"], int(match["job_id"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if self.action in ("vr", "an"):
            await self._open_form(interaction)
            return
        bot, urls, index = bot_of(interaction), attachment_urls(interaction), self.index - 1
        actions, derive = bot.actions, bot.derive

        async def create(origin: Origin) -> int:
            parent = await derive.parent_for(self.job_id, interaction.guild_id, index)
            if self.action in ZOOMS:
                return await actions.zoom(parent, index, origin, urls, ZOOMS[self.action])
            if self.action in PANS:
                return await actions.pan(parent, index, origin, urls, PANS[self.action])
            if self.action == "up":
                return await derive.upscale(parent, index, origin, urls)
            return await actions.vary(parent, index, origin, urls, strong=self.action == "vg")

        await start_job(interaction, create)

    async def _open_form(self, interaction: discord.Interaction[Any]) -> None:
        """The form must be the first answer, so the one read it needs comes before it,
        bounded (a locked ledger must not run past Discord's 3 s)."""
        bot = bot_of(interaction)
        try:
            async with asyncio.timeout(FORM_READ_TIMEOUT_S):
                parent = await bot.derive.parent_for(
                    self.job_id, interaction.guild_id, self.index - 1
                )
        except TimeoutError:
            await send_ephemeral(interaction, DatabaseBusy(FORM_READ_TIMEOUT_S).args[0])
            return
        except InvalidRequest as exc:
            await send_ephemeral(interaction, str(exc))
            return
        request = GenerationRequest.from_json(parent.inputs_json)
        if self.action == "vr":
            form: discord.ui.Modal = RegionModal(parent.id, self.index, request.prompt)
        else:
            try:
                durations = bot.actions.video_durations(request.provider)
            except InvalidRequest as exc:
                await send_ephemeral(interaction, str(exc))
                return
            form = AnimateModal(parent.id, self.index, durations)
        await interaction.response.send_modal(form)


def _label(text: str, component: discord.ui.Item[Any], description: str | None = None) -> Any:
    return discord.ui.Label(text=text, component=component, description=description)


class RegionModal(discord.ui.Modal):
    """What to change (words for the segmenter, or a rough region) and what to put there."""

    def __init__(self, job_id: int, index: int, prompt: str) -> None:
        super().__init__(
            title=_("Vary (Region)"),
            custom_id=custom_id(REGION_FORM, job_id, index),
            timeout=15 * 60,
        )
        words: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id=REGION_WORDS,
            placeholder=_("the sky, her jacket, the dog on the left…"),
            required=False,
            max_length=200,
        )
        rough: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=REGION_ROUGH,
            placeholder=_("…or a rough region"),
            required=False,
            options=[
                discord.SelectOption(label=_(REGION_NAMES[name]), value=name)
                if name in REGION_NAMES
                else discord.SelectOption(label=name.capitalize(), value=name)
                for name in ROUGH_REGIONS
            ],
        )
        new: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id=ACTION_PROMPT,
            style=discord.TextStyle.paragraph,
            default=prompt[:4000],
            max_length=4000,
        )
        self.add_item(_label(_("What to change"), words, _("A part of the image, in a few words")))
        self.add_item(_label(_("Or a rough region"), rough))
        self.add_item(_label(_("What to put there"), new))


class AnimateModal(discord.ui.Modal):
    def __init__(self, job_id: int, index: int, durations: Sequence[int]) -> None:
        super().__init__(
            title=_("Animate"),
            custom_id=custom_id(ANIMATE_FORM, job_id, index),
            timeout=15 * 60,
        )
        motion: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id=ACTION_PROMPT,
            placeholder=_("slow camera push-in, leaves drifting…"),
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=2000,
        )
        self.add_item(_label(_("Motion (optional)"), motion))
        if durations:
            chosen = 5 if 5 in durations else durations[0]
            length: discord.ui.Select[Any] = discord.ui.Select(
                custom_id=ANIMATE_DURATION,
                options=[
                    discord.SelectOption(
                        label=_("{seconds} s", seconds=s), value=str(s), default=s == chosen
                    )
                    for s in durations[:25]
                ],
            )
            self.add_item(_label(_("Length"), length))


async def region_submitted(
    interaction: discord.Interaction[Any], job_id: int, index: int, values: dict[str, str]
) -> None:
    words = values.get(REGION_WORDS, "").strip() or values.get(REGION_ROUGH, "").strip()
    prompt = values.get(ACTION_PROMPT, "")
    bot, urls = bot_of(interaction), attachment_urls(interaction)

    async def create(origin: Origin) -> int:
        parent = await bot.derive.parent_for(job_id, interaction.guild_id, index - 1)
        return await bot.actions.region(parent, index - 1, origin, urls, words=words, prompt=prompt)

    await start_job(interaction, create)


async def animate_submitted(
    interaction: discord.Interaction[Any], job_id: int, index: int, values: dict[str, str]
) -> None:
    chosen = values.get(ANIMATE_DURATION, "").strip()
    duration = int(chosen) if chosen.isdigit() else None
    bot, urls = bot_of(interaction), attachment_urls(interaction)

    async def create(origin: Origin) -> int:
        parent = await bot.derive.parent_for(job_id, interaction.guild_id, index - 1)
        return await bot.actions.animate(
            parent, index - 1, origin, urls, prompt=values.get(ACTION_PROMPT), duration=duration
        )

    await start_job(interaction, create)


class DescribedButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=DESCRIBED_TEMPLATE):
    """Imagine <n> under a /describe: that prompt as a new job, charged to whoever clicks."""

    def __init__(self, job_id: int, index: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Imagine {number}", number=index),
                emoji="🎨",
                style=discord.ButtonStyle.primary,
                custom_id=custom_id(DESCRIBED, job_id, index),
            )
        )
        self.job_id, self.index = job_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> DescribedButton:
        return cls(int(match["job_id"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        actions = bot_of(interaction).actions

        async def create(origin: Origin) -> int:
            return await actions.imagine_described(self.job_id, self.index - 1, origin)

        await start_job(interaction, create)


def action_rows(job_id: int, index: int) -> list[list[discord.ui.Item[Any]]]:
    return [[ActionButton(code, job_id, index) for code in row] for row in ROWS]


IMAGE_ACTION_ITEMS = (ActionButton, DescribedButton)
