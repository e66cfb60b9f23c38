"""The gallery: ⭐ Share buttons on results, ⭐ votes on gallery posts, `/gallery top`.

Each image of a result has its own Share button (`af:share:{job}:{n}`), so every gallery post
shows one image and collects its own votes. Only the image's author can share it. The post
uploads its own copy of the image (fetched by the URL Discord signed for the click) and
`/gallery top` reads the posts again for thumbnails: Discord's attachment URLs expire after
about a day, so none is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot, send_ephemeral
from bot.community.gallery import (
    STAR,
    GalleryService,
    ShareDraft,
    TopEntry,
    has_images,
    result_link,
)
from bot.delivery.downloads import ImageFile
from bot.delivery.messenger import discord_files
from bot.delivery.text import quote
from bot.errors import ArtFactoryError

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 10.0  # a post not read by then is listed without its thumbnail


def _bot(interaction: discord.Interaction[Any]) -> ArtFactoryBot:
    client: ArtFactoryBot = interaction.client
    return client


def _gallery(bot: ArtFactoryBot) -> GalleryService:
    return GalleryService(bot.db, bot.derive)


def share_embed(draft: ShareDraft, image: ImageFile) -> discord.Embed:
    """The gallery post's embed; `image` is uploaded with it (the post owns its image)."""
    job = draft.job
    which = f" · image {draft.index + 1}" if job.image_count > 1 else ""
    embed = discord.Embed(
        title=f"#{job.id}{which}",
        url=result_link(job),
        description=f"by <@{job.user_id}>\n{quote(draft.prompt, 300)}",
        colour=discord.Colour.gold(),
    )
    lineage = f"{draft.lineage}\n" if draft.lineage else ""
    embed.add_field(name="Lineage", value=f"{lineage}[Jump to the result]({result_link(job)})")
    embed.set_image(url=image.uri)
    embed.set_footer(text=f"React with {STAR} to vote")
    return embed


class ShareButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"af:share:(?P<job_id>[0-9]{1,18}):(?P<index>[1-9])",
):
    def __init__(self, job_id: int, index: int, *, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                emoji=STAR,
                label=label if label is not None else f"Share {index}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"af:share:{job_id}:{index}",
            )
        )
        self.job_id, self.index = job_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> ShareButton:
        return cls(int(match["job_id"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = _bot(interaction)
        gallery = _gallery(bot)
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = interaction.message
        try:
            draft = await gallery.draft(
                self.job_id,
                self.index - 1,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                attachment_urls=[a.url for a in message.attachments] if message else [],
                message_id=message.id if message else None,
            )
            image = await gallery.image(draft, limit=interaction.filesize_limit)
        except ArtFactoryError as exc:
            await send_ephemeral(interaction, str(exc))
            return
        channel = bot.get_partial_messageable(draft.channel_id, guild_id=interaction.guild_id)
        try:
            with discord_files([image]) as files:
                post = await channel.send(embed=share_embed(draft, image), files=files)
        except discord.HTTPException as exc:
            log.warning("share of job %s could not be posted: %s", draft.job.id, exc)
            await send_ephemeral(
                interaction,
                "Sorry, I couldn't post to the gallery channel. Please tell a moderator.",
            )
            return
        if not await gallery.record(draft, post.id):
            await post.delete()
            await send_ephemeral(interaction, "This image is already in the gallery.")
            return
        try:
            await post.add_reaction(STAR)
        except discord.HTTPException as exc:
            log.info("could not add the vote reaction to %s: %s", post.id, exc)
        await send_ephemeral(interaction, f"Shared to the gallery: {post.jump_url}")


async def remove_gallery_posts(bot: ArtFactoryBot, job_id: int, reason: str | None = None) -> None:
    """Take a deleted result's images out of the gallery channel too."""
    for share in await _gallery(bot).shares_of_job(job_id):
        try:
            await bot.http.delete_message(share.channel_id, share.message_id, reason=reason)
        except discord.HTTPException as exc:
            if exc.status != 404:
                log.warning("gallery post %s could not be deleted: %s", share.message_id, exc)


def share_buttons(job_id: int, images: int) -> list[ShareButton]:
    if images == 1:
        return [ShareButton(job_id, 1, label="Share")]
    return [ShareButton(job_id, n) for n in range(1, min(images, 4) + 1)]


class Gallery(commands.Cog):
    gallery = app_commands.Group(
        name="gallery", description="This server's gallery of shared images", guild_only=True
    )

    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot
        self.service = _gallery(bot)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ShareButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ShareButton)

    @gallery.command(name="top", description="The most voted images shared to the gallery")
    @app_commands.describe(period="How far back to look (default: week)")
    async def top(
        self,
        interaction: discord.Interaction,
        period: Literal["day", "week", "month"] = "week",
    ) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(thinking=True)  # before the database is read
        entries = (await self.service.top(interaction.guild_id, period))[:10]
        if not entries:
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
            await send_ephemeral(
                interaction,
                f"Nothing has been shared to the gallery in the last {period} yet. Share your "
                f"own results with their {STAR} button.",
            )
            return
        thumbnails = await asyncio.gather(*(self._thumbnail(entry) for entry in entries))
        embeds = []
        for rank, (entry, thumbnail) in enumerate(zip(entries, thumbnails, strict=True), 1):
            votes = entry.share.votes
            embed = discord.Embed(
                title=f"{rank}. {STAR} {votes} vote{'s' if votes != 1 else ''}",
                url=entry.link,
                description=(
                    f"by <@{entry.share.user_id}> · {quote(entry.prompt, 150)}\n"
                    f"[Open in the gallery]({entry.link})"
                ),
                colour=discord.Colour.gold(),
            )
            if thumbnail:
                embed.set_thumbnail(url=thumbnail)
            embeds.append(embed)
        await interaction.edit_original_response(
            content=f"{STAR} Top of the gallery, last {period}:", embeds=embeds
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
