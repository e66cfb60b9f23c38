"""🚩 Report on every result, and the moderators' buttons on each report.

A report is posted to the server's mod channel with the image (uploaded with the report, so it
outlives the result's expiring attachment URLs and the result itself), the prompt, the author,
the reporter and a link, plus 🗑 Delete image and ⛔ Ban author buttons (Manage Messages, checked
when clicked). All three are `DynamicItem`s, so they keep working after restarts.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.community.reports import MAX_REPORT_IMAGES, ReportCase
from bot.delivery.downloads import ImageFile
from bot.delivery.messenger import discord_files
from bot.delivery.text import quote, result_link
from bot.errors import ArtFactoryError
from bot.i18n import _, using
from cogs.ui.custom_ids import (
    MOD_BAN,
    MOD_BAN_TEMPLATE,
    MOD_DELETE,
    MOD_DELETE_TEMPLATE,
    REPORT,
    REPORT_TEMPLATE,
    custom_id,
)
from cogs.ui.interactions import bot_of, journalled, send_ephemeral, server_locale
from cogs.ui.share import remove_gallery_posts

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def report_message(
    case: ReportCase, images: Sequence[ImageFile]
) -> tuple[str, list[discord.Embed]]:
    """The report's text and embeds; `images` (the reported ones that could be fetched) are
    uploaded with it, so the report keeps showing them. Called in the server's language: the
    moderators read it, not the reporter."""
    job = case.job
    link = result_link(job)
    content = _(
        "🚩 <@{reporter}> reported job #{job} by <@{author}>",
        reporter=case.reporter_id,
        job=job.id,
        author=job.user_id,
    )
    embed = discord.Embed(
        title=_("Reported image — job #{job}", job=job.id),
        url=link,
        description=quote(case.prompt, 1000),
        colour=discord.Colour.red(),
    )
    embed.add_field(name=_("Author"), value=f"<@{job.user_id}>")
    embed.add_field(name=_("Reported by"), value=f"<@{case.reporter_id}>")
    embed.add_field(name=_("Result"), value=_("[Jump to the result]({link})", link=link))
    if case.lineage:
        embed.add_field(name=_("Lineage"), value=case.lineage, inline=False)
    embeds = [embed]
    if images:
        embed.set_image(url=images[0].uri)
        # Embeds sharing the first one's url are shown by Discord as one image grid.
        for image in images[1:MAX_REPORT_IMAGES]:
            embeds.append(discord.Embed(url=link).set_image(url=image.uri))
    if not case.image_urls:
        embed.add_field(name=_("Image"), value=_("No image is available any more."), inline=False)
    elif len(images) < min(len(case.image_urls), MAX_REPORT_IMAGES):
        embed.add_field(
            name=_("Image"),
            value=_("I couldn't fetch every image from Discord: see the result."),
            inline=False,
        )
    return content, embeds


class ReportButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=REPORT_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="🚩", style=discord.ButtonStyle.secondary, custom_id=custom_id(REPORT, job_id)
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> ReportButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with journalled(interaction, ephemeral=True):
            await self._report(interaction)

    async def _report(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        reports = bot.reports
        message = interaction.message
        try:
            case = await reports.open(
                self.job_id,
                guild_id=interaction.guild_id,
                reporter_id=interaction.user.id,
                attachment_urls=[a.url for a in message.attachments] if message else [],
                message_id=message.id if message else None,
            )
        except ArtFactoryError as exc:
            await send_ephemeral(interaction, str(exc))
            return
        images = await reports.images(case, limit=interaction.filesize_limit)
        with using(server_locale(interaction)):
            content, embeds = report_message(case, images)
            view = mod_components(case.job.id)
        channel = bot.get_partial_messageable(case.mod_channel_id, guild_id=case.job.guild_id)
        try:
            assert view is not None
            with discord_files(images) as files:
                await channel.send(content, embeds=embeds, files=files, view=view)
        except discord.HTTPException as exc:
            log.warning("report on job %s could not be posted: %s", case.job.id, exc)
            await reports.withdraw(case)
            await send_ephemeral(
                interaction,
                _(
                    "Sorry, I couldn't post your report to the moderators' channel. Please tell "
                    "a moderator directly."
                ),
            )
            return
        await send_ephemeral(
            interaction, _("Thank you for the report: the moderators will take a look.")
        )


async def _moderator(interaction: discord.Interaction[Any]) -> bool:
    """Checked at run time from the payload's permissions, whoever can see the button."""
    if interaction.guild_id is not None and interaction.permissions.manage_messages:
        return True
    await send_ephemeral(
        interaction,
        _("Only moderators with the Manage Messages permission can use these buttons."),
    )
    return False


async def _update_report(
    interaction: discord.Interaction[Any], job_id: int, line: str, *, warning: str | None = None
) -> None:
    """Add what was done to the report message and drop the buttons that no longer apply
    (`line` and the buttons in the server's language, like the report)."""
    bot = bot_of(interaction)
    deleted, banned = await bot.reports.state(job_id, interaction.guild_id, time.time())
    before = interaction.message.content if interaction.message else ""
    content = f"{before}\n{line}".strip()[:2000]
    with using(server_locale(interaction)):
        view = mod_components(job_id, deleted=deleted, banned=banned)
    await interaction.edit_original_response(content=content, view=view)
    if warning:
        await interaction.followup.send(warning, ephemeral=True)


class ModDeleteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=MOD_DELETE_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="🗑️",
                label=_("Delete image"),
                style=discord.ButtonStyle.danger,
                custom_id=custom_id(MOD_DELETE, job_id),
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> ModDeleteButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if not await _moderator(interaction):
            return
        bot = bot_of(interaction)
        reports = bot.reports
        try:
            removal = await reports.removal(self.job_id, interaction.guild_id)
        except ArtFactoryError as exc:
            await send_ephemeral(interaction, str(exc))
            return
        await interaction.response.defer()
        reason = f"reported image removed by {interaction.user} ({interaction.user.id})"
        if removal.result_message is not None:
            channel_id, message_id = removal.result_message
            try:
                await bot.http.delete_message(channel_id, message_id, reason=reason)
            except discord.NotFound:
                pass  # already gone
            except discord.HTTPException as exc:
                log.warning("could not delete result of job %s: %s", removal.job.id, exc)
                await interaction.followup.send(
                    _(
                        "I couldn't delete the result message ({reason}); nothing was changed.",
                        reason=exc.text or exc.status,
                    ),
                    ephemeral=True,
                )
                return
        await remove_gallery_posts(bot, removal.job.id, reason)
        await reports.mark_removed(removal.job)
        moderator, job = interaction.user.id, removal.job
        with using(server_locale(interaction)):  # the audit channel and the report
            audit = _(
                "🗑️ <@{moderator}> deleted reported image #{job} by <@{author}>",
                moderator=moderator,
                job=job.id,
                author=job.user_id,
            )
            line = _(
                "🗑️ Image deleted by <@{moderator}> <t:{at}:R>",
                moderator=moderator,
                at=int(time.time()),
            )
        bot.audit.record(job.guild_id or 0, audit)
        await _update_report(interaction, self.job_id, line)


class ModBanButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=MOD_BAN_TEMPLATE):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="⛔",
                label=_("Ban author"),
                style=discord.ButtonStyle.secondary,
                custom_id=custom_id(MOD_BAN, job_id),
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> ModBanButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if not await _moderator(interaction):
            return
        bot = bot_of(interaction)
        try:
            job = await bot.reports.ban_author(
                self.job_id, interaction.guild_id, interaction.user.id
            )
        except ArtFactoryError as exc:
            await send_ephemeral(interaction, str(exc))
            return
        await interaction.response.defer()
        moderator = interaction.user.id
        with using(server_locale(interaction)):  # the audit channel and the report
            audit = _(
                "⛔ <@{moderator}> banned <@{author}> from generating (reported image #{job})",
                moderator=moderator,
                author=job.user_id,
                job=job.id,
            )
            line = _(
                "⛔ <@{author}> banned from generating by <@{moderator}> <t:{at}:R> (lift it "
                "with /admin unban)",
                author=job.user_id,
                moderator=moderator,
                at=int(time.time()),
            )
        bot.audit.record(job.guild_id or 0, audit)
        await _update_report(interaction, self.job_id, line)


def mod_components(
    job_id: int, *, deleted: bool = False, banned: bool = False
) -> discord.ui.View | None:
    """🗑 Delete image and ⛔ Ban author, without the ones already done (None: neither left)."""
    if deleted and banned:
        return None
    view = discord.ui.View(timeout=None)
    if not deleted:
        view.add_item(ModDeleteButton(job_id))
    if not banned:
        view.add_item(ModBanButton(job_id))
    view.stop()  # sent but not stored: the DynamicItem registry answers the clicks
    return view


REPORT_BUTTONS = (ReportButton, ModDeleteButton, ModBanButton)
