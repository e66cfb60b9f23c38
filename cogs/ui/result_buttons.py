"""Buttons on finished results: 🔁 Reroll, 🎨 Remix (and the form it opens) and 🗑 Delete. The
views a result is posted with, and the V/U buttons, are in cogs/ui/layouts.py.

Every button is a `DynamicItem` whose custom_id carries the job id (and image number) and
whose state is read from the ledger, so results keep working after restarts for as long as the
message exists. Each click is checked on the server side (job of this server, finished, image
in range) and refused with a clear private answer otherwise. New jobs are charged to whoever
clicked and credit the parent's author.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import DatabaseBusy, InvalidRequest
from bot.i18n import _
from bot.jobs.model import Origin
from bot.providers.request import GenerationRequest
from cogs.ui.custom_ids import (
    DELETE,
    DELETE_TEMPLATE,
    REMIX,
    REMIX_FORM,
    REMIX_NEGATIVE_PROMPT,
    REMIX_PROMPT,
    REMIX_TEMPLATE,
    REROLL,
    REROLL_TEMPLATE,
    custom_id,
)
from cogs.ui.interactions import bot_of, send_ephemeral, start_job
from cogs.ui.share import remove_gallery_posts

if TYPE_CHECKING:
    pass


async def _parent(interaction: discord.Interaction[Any], job_id: int, index: int | None) -> Any:
    try:
        return await bot_of(interaction).derive.parent_for(job_id, interaction.guild_id, index)
    except InvalidRequest as exc:
        await send_ephemeral(interaction, str(exc))
        return None


class RerollButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=REROLL_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="🔁", style=discord.ButtonStyle.secondary, custom_id=custom_id(REROLL, job_id)
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> RerollButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        derivations = bot_of(interaction).derive

        async def create(origin: Origin) -> int:
            parent = await derivations.parent_for(self.job_id, interaction.guild_id, None)
            return await derivations.reroll(parent, origin)

        await start_job(interaction, create)


REMIX_READ_TIMEOUT_S = 2.0


class RemixModal(discord.ui.Modal):
    """The form only. Its submission is handled by `ResultButtons.on_interaction` from the
    custom_id and the submitted values, not by this object: discord.py keeps open modals in
    memory under their custom_id alone, so a restart, or two members remixing the same image at
    once, would otherwise lose a submission."""

    def __init__(
        self, job_id: int, prompt: str, negative_prompt: str | None, *, offer_negative: bool
    ) -> None:
        super().__init__(title=_("Remix"), custom_id=custom_id(REMIX_FORM, job_id), timeout=15 * 60)
        self.add_item(
            discord.ui.TextInput(
                label=_("Prompt"),
                custom_id=REMIX_PROMPT,
                style=discord.TextStyle.paragraph,
                default=prompt[:4000],
                max_length=4000,
            )
        )
        if not offer_negative:  # the model has no such input: the form doesn't pretend it has
            return
        self.add_item(
            discord.ui.TextInput(
                label=_("Negative prompt"),
                custom_id=REMIX_NEGATIVE_PROMPT,
                style=discord.TextStyle.paragraph,
                default=(negative_prompt or "")[:4000] or None,
                required=False,
                max_length=4000,
            )
        )


class RemixButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=REMIX_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="🎨",
                label=_("Remix"),
                style=discord.ButtonStyle.secondary,
                custom_id=custom_id(REMIX, job_id),
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> RemixButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # A form must be the first answer, so this one read comes before it: bounded, since a
        # locked ledger must not run past Discord's 3 s (WAL keeps reads going meanwhile).
        try:
            async with asyncio.timeout(REMIX_READ_TIMEOUT_S):
                parent = await _parent(interaction, self.job_id, None)
        except TimeoutError:
            await send_ephemeral(interaction, DatabaseBusy(REMIX_READ_TIMEOUT_S).args[0])
            return
        if parent is None:
            return
        request = GenerationRequest.from_json(parent.inputs_json)
        offer = interaction.client.derive.takes_negative_prompt(request)
        await interaction.response.send_modal(
            RemixModal(parent.id, request.prompt, request.negative_prompt, offer_negative=offer)
        )


class DeleteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=DELETE_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="🗑️", style=discord.ButtonStyle.danger, custom_id=custom_id(DELETE, job_id)
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> DeleteButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        await interaction.response.defer()  # before the database; refusals are followups
        job = await bot.jobs.get(self.job_id)
        if job is None or job.guild_id != interaction.guild_id:
            await send_ephemeral(interaction, _("That result does not belong to a job here."))
            return
        moderator = bool(interaction.guild_id) and interaction.permissions.manage_messages
        if job.user_id != interaction.user.id and not moderator:
            await send_ephemeral(
                interaction,
                _(
                    "Only the member who made this image, or a moderator with Manage Messages, "
                    "can delete it."
                ),
            )

            return
        if interaction.message is not None:
            with contextlib.suppress(discord.NotFound):  # already gone
                await interaction.message.delete()
        await remove_gallery_posts(bot, job.id)
        await bot.derive.mark_deleted(job.id)


RESULT_BUTTONS = (RerollButton, RemixButton, DeleteButton)
