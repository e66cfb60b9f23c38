"""How results are laid out in buttons (Discord: at most 5 rows of 5), and the V/U buttons.

- A result with several images: V1-V4, U1-U4, ⭐ Share per image, then 🔁 🎨 🗑 🚩.
- `U<n>` posts that image alone in a **single-image message** (no provider call, nothing
  charged) whose buttons are the image actions (cogs/ui/image_actions.py); a result of one
  image carries them itself.
- A /describe: an Imagine button per prompt; a video: 🗑 and 🚩.

The Messenger posts results with `result_components` (wired in bot/app.py).
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.delivery.messenger import NO_MENTIONS, discord_files
from bot.delivery.text import image_stem, quote, result_link
from bot.errors import DeliveryError, InvalidRequest
from bot.i18n import _
from bot.jobs.model import JobKind, Origin
from bot.providers.request import GenerationRequest
from cogs.ui.custom_ids import IMAGE_ACTION_TEMPLATE, UPSCALE, VARIATION, custom_id
from cogs.ui.image_actions import IMAGE_ACTION_ITEMS, DescribedButton, action_rows
from cogs.ui.interactions import attachment_urls, bot_of, journalled, send_ephemeral, start_job
from cogs.ui.report import ReportButton
from cogs.ui.result_buttons import RESULT_BUTTONS, DeleteButton, RemixButton, RerollButton
from cogs.ui.share import ShareButton, share_buttons

if TYPE_CHECKING:
    pass

IMAGE_LABELS = {VARIATION: "V", UPSCALE: "U"}
Rows = list[list[discord.ui.Item[Any]]]


class ImageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=IMAGE_ACTION_TEMPLATE):
    """V<n> (a variation of image n) or U<n> (image n alone, with its actions), by `prefix`:
    VARIATION or UPSCALE."""

    def __init__(self, prefix: str, job_id: int, index: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"{IMAGE_LABELS[prefix]}{index}",
                style=discord.ButtonStyle.secondary,
                custom_id=custom_id(prefix, job_id, index),
            )
        )
        self.prefix, self.job_id, self.index = prefix, job_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> ImageButton:
        return cls(match["prefix"], int(match["job_id"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if self.prefix == UPSCALE:
            await post_single_image(interaction, self.job_id, self.index)
            return
        urls = attachment_urls(interaction)
        derive = bot_of(interaction).derive
        index = self.index - 1

        async def create(origin: Origin) -> int:
            parent = await derive.parent_for(self.job_id, interaction.guild_id, index)
            return await derive.variation(parent, index, origin, urls)

        await start_job(interaction, create)


async def post_single_image(interaction: discord.Interaction[Any], job_id: int, index: int) -> None:
    """U<n>: image n of the result in a message of its own, with the image actions. A copy of
    the posted file, so the new message owns it; no provider call, nothing charged."""
    bot = bot_of(interaction)
    async with journalled(interaction, ephemeral=False):
        try:
            parent = await bot.derive.parent_for(job_id, interaction.guild_id, index - 1)
            url = bot.derive.image_url(parent, index - 1, attachment_urls(interaction))
            image = await bot.derive.posted_image(
                url, stem=image_stem(job_id, index - 1), limit=interaction.filesize_limit
            )
        except (InvalidRequest, DeliveryError) as exc:
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
            await send_ephemeral(interaction, str(exc))
            return
        prompt = GenerationRequest.from_json(parent.inputs_json).prompt
        content = _(
            "🖼️ **{prompt}** — image {number} of <@{user}>'s [#{job}]({link})",
            prompt=quote(prompt, 600),
            number=index,
            user=parent.user_id,
            job=parent.id,
            link=result_link(parent),
        )
        try:
            with discord_files([image]) as files:
                await interaction.followup.send(
                    content,
                    files=files,
                    view=single_image_components(job_id, index),
                    allowed_mentions=NO_MENTIONS,
                )
        except discord.HTTPException as exc:  # never left at "thinking…"
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
            await send_ephemeral(
                interaction, _("That image could not be posted ({status}).", status=exc.status)
            )


def _view(rows: Rows) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for row, items in enumerate(r for r in rows if r):
        for item in items:
            item.row = row  # before add_item, which places the item
            view.add_item(item)
    view.stop()  # sent but not stored: the DynamicItem registry answers the clicks
    return view


def single_image_components(job_id: int, index: int) -> discord.ui.View:
    """The image actions, then ⭐ Share, 🎨 Remix and 🚩 Report (🔁 and 🗑 act on the whole
    result, so they stay on it)."""
    last: list[discord.ui.Item[Any]] = [ShareButton(job_id, index, label=_("Share"))]
    last += [RemixButton(job_id), ReportButton(job_id)]
    return _view([*action_rows(job_id, index), last])


def result_components(job_id: int, kind: str, items: int) -> discord.ui.View:
    """The buttons a result is posted with (`items`: its images, or a /describe's prompts)."""
    if kind == JobKind.DESCRIBE:
        prompts: list[discord.ui.Item[Any]] = [
            DescribedButton(job_id, i) for i in range(1, min(items, 4) + 1)
        ]
        return _view([prompts, [DeleteButton(job_id)]])
    if kind == JobKind.ANIMATE:
        return _view([[DeleteButton(job_id), ReportButton(job_id)]])
    actions: list[discord.ui.Item[Any]] = []
    if kind != JobKind.UPSCALE:
        actions += [RerollButton(job_id), RemixButton(job_id)]
    closing = [DeleteButton(job_id), ReportButton(job_id)]
    if items == 1:
        share: list[discord.ui.Item[Any]] = [ShareButton(job_id, 1, label=_("Share"))]

        return _view([*action_rows(job_id, 1), [*share, *actions, *closing]])
    shown = range(1, min(items, 4) + 1)
    rows: Rows = []
    if kind != JobKind.UPSCALE:
        rows.append([ImageButton(VARIATION, job_id, index) for index in shown])
        rows.append([ImageButton(UPSCALE, job_id, index) for index in shown])
    rows.append(list(share_buttons(job_id, items)))
    rows.append([*actions, *closing])
    return _view(rows)


ALL_RESULT_ITEMS = (ImageButton, *RESULT_BUTTONS, *IMAGE_ACTION_ITEMS)
