"""⭐ Share on each image of a result (`af:share:{job}:{n}`), the gallery post it makes, and
taking a deleted result's posts out of the gallery.

Only the image's author can share it. The post uploads its own copy of the image (fetched by
the URL Discord signed for the click): Discord's attachment URLs expire after about a day.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.community.gallery import STAR, ShareDraft
from bot.delivery.downloads import ImageFile
from bot.delivery.messenger import discord_files
from bot.delivery.text import quote, result_link
from bot.errors import ArtFactoryError
from bot.i18n import _, using
from cogs.ui.custom_ids import SHARE, SHARE_TEMPLATE, custom_id
from cogs.ui.interactions import journalled, send_ephemeral, server_locale

if TYPE_CHECKING:
    from bot.app import ArtFactoryBot

log = logging.getLogger(__name__)


def share_embed(draft: ShareDraft, image: ImageFile) -> discord.Embed:
    """The gallery post's embed; `image` is uploaded with it (the post owns its image). In
    the server's language: the post is for everyone there."""
    job = draft.job
    if job.image_count > 1:
        title = _("#{job} · image {number}", job=job.id, number=draft.index + 1)
    else:
        title = f"#{job.id}"
    embed = discord.Embed(
        title=title,
        url=result_link(job),
        description=_("by <@{user}>\n{prompt}", user=job.user_id, prompt=quote(draft.prompt, 300)),
        colour=discord.Colour.gold(),
    )
    lineage = f"{draft.lineage}\n" if draft.lineage else ""
    jump = _("[Jump to the result]({link})", link=result_link(job))
    embed.add_field(name=_("Lineage"), value=f"{lineage}{jump}")
    embed.set_image(url=image.uri)
    embed.set_footer(text=_("React with {star} to vote", star=STAR))
    return embed


class ShareButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=SHARE_TEMPLATE):
    def __init__(self, job_id: int, index: int, *, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                emoji=STAR,
                label=label if label is not None else _("Share {number}", number=index),
                style=discord.ButtonStyle.secondary,
                custom_id=custom_id(SHARE, job_id, index),
            )
        )
        self.job_id, self.index = job_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> ShareButton:
        return cls(int(match["job_id"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with journalled(interaction, ephemeral=True):
            await self._share(interaction)

    async def _share(self, interaction: discord.Interaction[Any]) -> None:
        bot: ArtFactoryBot = interaction.client
        gallery = bot.gallery
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
        with using(server_locale(interaction)):
            embed = share_embed(draft, image)
        try:
            with discord_files([image]) as files:
                post = await channel.send(embed=embed, files=files)
        except discord.HTTPException as exc:
            log.warning("share of job %s could not be posted: %s", draft.job.id, exc)
            await send_ephemeral(
                interaction,
                _("Sorry, I couldn't post to the gallery channel. Please tell a moderator."),
            )
            return
        if not await gallery.record(draft, post.id):
            await post.delete()
            await send_ephemeral(interaction, _("This image is already in the gallery."))
            return
        try:
            await post.add_reaction(STAR)
        except discord.HTTPException as exc:
            log.info("could not add the vote reaction to %s: %s", post.id, exc)
        await send_ephemeral(interaction, _("Shared to the gallery: {link}", link=post.jump_url))


async def remove_gallery_posts(bot: ArtFactoryBot, job_id: int, reason: str | None = None) -> None:
    """Take a deleted result's images out of the gallery channel too."""
    for share in await bot.gallery.shares_of_job(job_id):
        try:
            await bot.http.delete_message(share.channel_id, share.message_id, reason=reason)
        except discord.HTTPException as exc:
            if exc.status != 404:
                log.warning("gallery post %s could not be deleted: %s", share.message_id, exc)


def share_buttons(job_id: int, images: int) -> list[ShareButton]:
    if images == 1:
        return [ShareButton(job_id, 1, label=_("Share"))]

    return [ShareButton(job_id, n) for n in range(1, min(images, 4) + 1)]
