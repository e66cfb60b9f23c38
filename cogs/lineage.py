"""`/lineage`: a result's chain back to its root and its direct children, one per page.

Each page's thumbnail is read from the job's result message when the page is shown: the URL
stored at delivery stops working after about a day."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.community.gallery import has_images, job_images
from bot.community.lineage import Lineage
from bot.delivery.text import is_spoiler, quote, result_link
from bot.errors import InvalidRequest
from bot.i18n import N_, _
from bot.jobs.model import JobKind, JobState
from bot.providers.request import GenerationRequest
from cogs.ui.custom_ids import LINEAGE_PAGE, LINEAGE_PAGE_TEMPLATE, custom_id
from cogs.ui.interactions import defer_journalled, send_ephemeral
from db.jobs import JobRow

# Reading the result message for the thumbnail happens after the acknowledgement; a late read
# means no thumbnail, never a late answer.
THUMBNAIL_FETCH_S = 10.0

KIND_NAMES: dict[str, str] = {
    JobKind.IMAGINE: N_("original"),
    JobKind.REROLL: N_("reroll"),
    JobKind.VARIATION: N_("variation"),
    JobKind.REMIX: N_("remix"),
    JobKind.UPSCALE: N_("upscale"),
    JobKind.LORA: N_("LoRA generation"),
    JobKind.REGION: N_("region edit"),
    JobKind.ZOOM: N_("zoom out"),
    JobKind.PAN: N_("pan"),
    JobKind.ANIMATE: N_("animation"),
    JobKind.BLEND: N_("blend"),
    JobKind.DESCRIBE: N_("description"),
}
STATE_NAMES: dict[str, str] = {
    JobState.QUEUED: N_("queued"),
    JobState.SUBMITTED: N_("submitted"),
    JobState.RUNNING: N_("running"),
    JobState.DELIVERING: N_("delivering"),
    JobState.DONE: N_("done"),
    JobState.FAILED: N_("failed"),
    JobState.CANCELLED: N_("cancelled"),
    JobState.EXPIRED: N_("expired"),
}


def _named(names: dict[str, str], key: str) -> str:
    """`key`'s name in the member's language (a key with no name is shown as it is)."""
    return _(names[key]) if key in names else key


def lineage_pages(lineage: Lineage) -> list[tuple[str, JobRow]]:
    """(label, job) for each page: the chain root-first, then the children."""
    chain, children = len(lineage.chain), len(lineage.children)
    pages = [
        (_("Generation {number} of {total} in the chain", number=i + 1, total=chain), job)
        for i, job in enumerate(lineage.chain)
    ]
    pages += [
        (_("Child {number} of {total}", number=i + 1, total=children), job)
        for i, job in enumerate(lineage.children)
    ]
    return pages


def page_job(lineage: Lineage, page: int) -> JobRow:
    pages = lineage_pages(lineage)
    return pages[max(0, min(page, len(pages) - 1))][1]


def render_page(lineage: Lineage, page: int, thumbnail: str | None = None) -> discord.Embed:
    """The page's embed; `thumbnail` is its job's image by a URL Discord signed just now."""
    pages = lineage_pages(lineage)
    page = max(0, min(page, len(pages) - 1))
    label, job = pages[page]
    request = GenerationRequest.from_json(job.inputs_json)
    asked = lineage.chain[-1]
    embed = discord.Embed(
        title=f"#{job.id} · {_named(KIND_NAMES, job.kind)}",
        description=quote(request.prompt, 300),
        url=result_link(job) if job.state == JobState.DONE and job.deleted_at is None else None,
    )
    embed.add_field(name=_("By"), value=f"<@{job.user_id}>")
    embed.add_field(name=_("Model"), value=f"{job.provider} · `{job.model}`")
    status = _("deleted") if job.deleted_at else _named(STATE_NAMES, job.state)
    embed.add_field(name=_("Status"), value=status)
    chain = " → ".join(f"#{j.id}" for j in lineage.chain)
    children = ", ".join(f"#{j.id}" for j in lineage.children) or _("none")
    embed.add_field(name=_("Chain"), value=chain[:1000], inline=False)
    embed.add_field(name=_("Children of #{job}", job=asked.id), value=children[:1000], inline=False)
    if thumbnail and job.deleted_at is None:
        embed.set_thumbnail(url=thumbnail)
    footer = _("{label} · page {page}/{pages}", label=label, page=page + 1, pages=len(pages))
    embed.set_footer(text=footer)

    return embed


class LineagePage(discord.ui.DynamicItem[discord.ui.Button[Any]], template=LINEAGE_PAGE_TEMPLATE):
    def __init__(self, job_id: int, page: int, direction: str, *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="◀️" if direction == "p" else "▶️",
                style=discord.ButtonStyle.secondary,
                custom_id=custom_id(LINEAGE_PAGE, job_id, page, direction),
                disabled=disabled,
            )
        )
        self.job_id, self.page = job_id, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> LineagePage:
        return cls(int(match["job_id"]), int(match["page"]), match["dir"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: ArtFactoryBot = interaction.client
        await interaction.response.defer()  # the page is edited in place once it is read
        try:
            job = await bot.lineage.find_job(
                str(self.job_id), interaction.guild_id, interaction.user.id
            )
        except InvalidRequest as exc:
            await send_ephemeral(interaction, str(exc))
            return
        lineage = await bot.lineage.lineage(job, viewer=interaction.user.id)
        thumbnail = await result_thumbnail(bot, page_job(lineage, self.page), THUMBNAIL_FETCH_S)
        embed, view = page_message(lineage, self.page, thumbnail)
        await interaction.edit_original_response(embed=embed, view=view)


async def result_thumbnail(bot: ArtFactoryBot, job: JobRow, timeout_s: float) -> str | None:
    """The job's first image by the URL Discord signs for it now (the one stored at delivery
    expires after about a day), read from its result message; none when that is gone."""
    if not has_images(job):
        return None
    message_id = job.result_message_id or job.message_id
    if message_id is None:
        return None
    urls = await bot.messenger.attachment_urls(job.channel_id, message_id, timeout_s=timeout_s)
    images = job_images(job, urls or ())
    # A flagged image is only ever shown behind a spoiler; a thumbnail cannot be one.
    return images[0] if images and not is_spoiler(images[0]) else None


def page_message(
    lineage: Lineage, page: int, thumbnail: str | None = None
) -> tuple[discord.Embed, discord.ui.View]:
    total = len(lineage_pages(lineage))
    page = max(0, min(page, total - 1))
    job_id = lineage.chain[-1].id
    view = discord.ui.View(timeout=None)
    view.add_item(LineagePage(job_id, max(page - 1, 0), "p", disabled=page == 0))
    view.add_item(LineagePage(job_id, min(page + 1, total - 1), "n", disabled=page >= total - 1))
    view.stop()
    return render_page(lineage, page, thumbnail), view


class LineageCog(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(LineagePage)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(LineagePage)

    @app_commands.command(
        name="lineage", description="Where a result came from, and what came of it"
    )
    @app_commands.guild_only()
    @app_commands.describe(job="A job number (like 123) or a link to a result message")
    async def lineage(self, interaction: discord.Interaction, job: str) -> None:
        await defer_journalled(interaction, ephemeral=True)
        found = await self.bot.lineage.find_job(job, interaction.guild_id, interaction.user.id)
        lineage = await self.bot.lineage.lineage(found, viewer=interaction.user.id)
        start = len(lineage.chain) - 1  # open on the asked-for job
        thumbnail = await result_thumbnail(self.bot, page_job(lineage, start), THUMBNAIL_FETCH_S)
        embed, view = page_message(lineage, start, thumbnail)
        await interaction.edit_original_response(embed=embed, view=view)


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(LineageCog(bot))
