"""The gallery: ⭐ Share buttons on results (cogs/ui/share.py), ⭐ votes on gallery posts,
`/gallery top`.

Each image of a result has its own Share button, so every gallery post shows one image and
collects its own votes. `/gallery top` reads the posts again for thumbnails: Discord's
attachment URLs expire after about a day, so none is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.community.gallery import STAR, TopEntry, has_images
from bot.delivery.text import quote
from bot.i18n import N_, _, n_
from bot.i18n.commands import labelled
from cogs.ui.interactions import defer_journalled, send_ephemeral
from cogs.ui.share import ShareButton

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 10.0  # a post not read by then is listed without its thumbnail
Period = Literal["day", "week", "month"]
# Whole sentences per period: a period's word alone would not fit each language's grammar.
NOTHING_SHARED: dict[str, str] = {
    "day": N_(
        "Nothing has been shared to the gallery in the last day yet. Share your own results "
        "with their {star} button."
    ),
    "week": N_(
        "Nothing has been shared to the gallery in the last week yet. Share your own results "
        "with their {star} button."
    ),
    "month": N_(
        "Nothing has been shared to the gallery in the last month yet. Share your own results "
        "with their {star} button."
    ),
}
TOP_OF: dict[str, str] = {
    "day": N_("{star} Top of the gallery, last day:"),
    "week": N_("{star} Top of the gallery, last week:"),
    "month": N_("{star} Top of the gallery, last month:"),
}


class Gallery(commands.Cog):
    gallery = app_commands.Group(
        name="gallery", description="This server's gallery of shared images", guild_only=True
    )

    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot
        self.service = bot.gallery

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ShareButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ShareButton)

    @gallery.command(name="top", description="The most voted images shared to the gallery")
    @app_commands.choices(period=labelled(*TOP_OF))
    @app_commands.describe(period="How far back to look (default: week)")
    async def top(
        self,
        interaction: discord.Interaction,
        period: Period = "week",
    ) -> None:
        assert interaction.guild_id is not None
        await defer_journalled(interaction, ephemeral=False)  # before the database is read
        entries = (await self.service.top(interaction.guild_id, period))[:10]
        if not entries:
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
            await send_ephemeral(interaction, _(NOTHING_SHARED[period], star=STAR))
            return
        thumbnails = await asyncio.gather(*(self._thumbnail(entry) for entry in entries))
        embeds = []
        for rank, (entry, thumbnail) in enumerate(zip(entries, thumbnails, strict=True), 1):
            votes = entry.share.votes
            embed = discord.Embed(
                title=n_(
                    "{rank}. {star} {n} vote",
                    "{rank}. {star} {n} votes",
                    votes,
                    rank=rank,
                    star=STAR,
                ),
                url=entry.link,
                description=_(
                    "by <@{user}> · {prompt}\n[Open in the gallery]({link})",
                    user=entry.share.user_id,
                    prompt=quote(entry.prompt, 150),
                    link=entry.link,
                ),
                colour=discord.Colour.gold(),
            )
            if thumbnail:
                embed.set_thumbnail(url=thumbnail)
            embeds.append(embed)
        await interaction.edit_original_response(
            content=_(TOP_OF[period], star=STAR), embeds=embeds
        )

    async def _thumbnail(self, entry: TopEntry) -> str | None:
        """The gallery post's image by the URL Discord signs for it now (a stored one would have
        expired); none when the post is gone."""
        messenger = self.bot.messenger
        share = entry.share
        post = await messenger.attachment_urls(
            share.channel_id, share.message_id, timeout_s=FETCH_TIMEOUT_S
        )
        if post is None:
            return None
        if post:
            return entry.thumbnail(post)
        # Shared before gallery posts carried their own image: the result's, if it is still up.
        job = entry.job
        if not has_images(job) or job.result_message_id is None:
            return None
        result = await messenger.attachment_urls(
            job.channel_id, job.result_message_id, timeout_s=FETCH_TIMEOUT_S
        )
        return entry.result_thumbnail(result or ())

    # -- votes ------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._vote(payload, +1)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._vote(payload, -1)

    async def _vote(self, payload: discord.RawReactionActionEvent, delta: int) -> None:
        if payload.guild_id is None or payload.emoji.id is not None:
            return
        if (payload.emoji.name or "").replace("\ufe0f", "") != STAR:
            return
        me = self.bot.user
        if me is not None and payload.user_id == me.id:
            return  # the bot's own reaction, added to every post
        try:
            await self.service.vote(payload.message_id, delta)
        except Exception:
            log.exception("vote on %s could not be counted", payload.message_id)


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Gallery(bot))
