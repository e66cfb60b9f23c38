"""❌ Cancel on a job's progress message: a `DynamicItem` whose custom_id carries the job id,
and whose state is read from the ledger, so it keeps working across restarts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.i18n import _, using
from bot.jobs.model import CancelOutcome
from cogs.ui.custom_ids import CANCEL, CANCEL_TEMPLATE, custom_id
from cogs.ui.interactions import send_ephemeral

if TYPE_CHECKING:
    from bot.app import ArtFactoryBot


class CancelJobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CANCEL_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Cancel"),
                emoji="❌",
                style=discord.ButtonStyle.secondary,
                custom_id=custom_id(CANCEL, job_id),
            )
        )
        self.job_id = job_id
        self.job_locale: str | None = None  # its member's, once the click is checked

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CancelJobButton:
        return cls(int(match["job_id"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        bot: ArtFactoryBot = interaction.client
        await interaction.response.defer()  # before the database; the runner edits the message
        job = await bot.jobs.get(self.job_id)
        if job is None or job.guild_id != interaction.guild_id:
            await send_ephemeral(interaction, _("This button does not belong to a job here."))
            return False
        self.job_locale = job.locale
        allowed = job.user_id == interaction.user.id or (
            interaction.permissions.manage_messages if interaction.guild_id else False
        )
        if not allowed:
            await send_ephemeral(
                interaction,
                _(
                    "Only the member who started this job, or a moderator with Manage Messages, "
                    "can cancel it."
                ),
            )
            return False
        return True

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: ArtFactoryBot = interaction.client
        # The job's message says it was cancelled in its own member's language (a moderator's
        # cancel included); the answer below is the clicker's.
        with using(self.job_locale):
            outcome = await bot.runner.cancel(self.job_id, interaction.user.id)
        if outcome is CancelOutcome.FINISHED:
            await interaction.followup.send(
                _("Too late to cancel: this job has already finished."), ephemeral=True
            )
        elif outcome is CancelOutcome.UNKNOWN:
            await interaction.followup.send(_("This job no longer exists."), ephemeral=True)


def progress_components(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelJobButton(job_id))
    # A stopped view is sent but not stored by discord.py: the DynamicItem registry answers
    # the clicks, so nothing is kept in memory per message.
    view.stop()
    return view
