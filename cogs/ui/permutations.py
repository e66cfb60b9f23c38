"""A permutation's preview (`/imagine a {red, blue} car`): how many jobs and images it will cost,
shown privately before anything is charged, with Run and Cancel. Run starts every job or none:
the jobs are reserved in one statement (db/reservation.py), so a quota or budget that can't
cover them all refuses the whole permutation.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import replace
from typing import Any

import discord

from bot.delivery.text import quote
from bot.early_ack import NOT_SENT
from bot.errors import Refusal
from bot.i18n import _, n_
from bot.jobs.journal import origin_of
from bot.jobs.model import Origin
from bot.providers.action import quota_images
from bot.providers.request import GenerationRequest, RequestOptions
from bot.studio.params import InlineParams
from cogs.ui.custom_ids import PERMUTATION, PERMUTATION_TEMPLATE, custom_id
from cogs.ui.interactions import bot_of, defer_journalled, send_ephemeral, start_job

PREVIEW_PROMPT_CHARS = 180


async def preview(
    interaction: discord.Interaction[Any],
    inlines: list[InlineParams],
    explicit: dict[str, Any],
    provider: str | None,
    model: str | None,
    private: bool | None,
) -> None:
    """Check every prompt of the permutation and show what it costs (after a private
    acknowledgement: the member's defaults and quota are read from the database)."""
    bot = bot_of(interaction)
    await acknowledge_privately(interaction)
    origin = origin_of(interaction, time.time())
    try:
        requests: list[GenerationRequest] = []
        for inline in inlines:
            options = inline.under(
                RequestOptions(prompt=inline.prompt, provider=provider, model=model, **explicit)
            )
            requests.append(await bot.studio.imagine_request(options, origin, help_prompt=False))
        usage = await bot.jobs.usage(origin.user_id, origin.guild_id, origin.role_ids)
    except Refusal as exc:
        await send_ephemeral(interaction, str(exc))
        return
    config = bot.config
    images = sum(quota_images(config, r.mode, r.count, r.duration) for r in requests)
    jobs = n_("{n} job", "{n} jobs", len(requests))
    cost = n_("{n} image", "{n} images", images)
    if images > usage.remaining:
        await send_ephemeral(
            interaction,
            _(
                "That permutation makes {jobs} and {cost}, and you have {left} left today "
                "(more <t:{reset}:R>). Nothing was run or charged: use fewer options.",
                jobs=jobs,
                cost=cost,
                left=usage.remaining,
                reset=usage.resets_at,
            ),
        )
        return
    token = bot.studio.pending.put(origin.user_id, requests, private)
    lines = [
        f"{index}. {quote(request.prompt, PREVIEW_PROMPT_CHARS)}"
        for index, request in enumerate(requests, 1)
    ]
    text = _(
        "This permutation makes {jobs} and {cost} ({left} left today):\n{prompts}",
        jobs=jobs,
        cost=cost,
        left=usage.remaining,
        prompts="\n".join(lines),
    )
    view = discord.ui.View(timeout=None)
    view.add_item(PermutationButton("run", token, label=_("Run {jobs}", jobs=jobs)))
    view.add_item(PermutationButton("drop", token, label=_("Cancel")))
    await interaction.followup.send(text, view=view, ephemeral=True)


async def acknowledge_privately(interaction: discord.Interaction[Any]) -> None:
    """A private "thinking…" for the preview; in a burst, /imagine was already acknowledged
    publicly from the gateway event (bot/early_ack.py): that placeholder is written (so it
    stops loading and the preview is a follow-up of its own) and removed."""
    early = bot_of(interaction).early_acks.claim(interaction.id)
    if early is None or await early.landed(interaction) == NOT_SENT:
        await defer_journalled(interaction, ephemeral=True)
        return
    with contextlib.suppress(discord.HTTPException):
        await interaction.edit_original_response(content=_("⏳ Checking the permutation…"))
        await interaction.delete_original_response()


class PermutationButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=PERMUTATION_TEMPLATE
):
    def __init__(self, choice: str, token: str, *, label: str = "…") -> None:
        style = discord.ButtonStyle.primary if choice == "run" else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(
                label=label, style=style, custom_id=custom_id(PERMUTATION, choice, token)
            )
        )
        self.choice, self.token = choice, token

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> PermutationButton:
        return cls(match["choice"], match["token"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        batch = bot.studio.pending.take(self.token, interaction.user.id)
        if self.choice == "drop" or batch is None:
            text = (
                _("Cancelled: nothing was run or charged.")
                if self.choice == "drop"
                else _("This preview has expired: run the command again. Nothing was charged.")
            )
            await interaction.response.edit_message(content=text, view=None)
            return
        requests = list(batch.requests)

        async def create(origin: Origin) -> int:
            origins = [origin]
            # The first follow-up after a deferral would replace the "thinking…" message (the
            # first job's): that one is written first, so each follow-up is a message of its own.
            await interaction.edit_original_response(content=_("⏳ Queued…"))
            try:
                for _request in requests[1:]:
                    placeholder = await interaction.followup.send(
                        _("⏳ Queued…"), ephemeral=origin.private, wait=True
                    )
                    origins.append(replace(origin, interaction_id=None, message_id=placeholder.id))
                ids = await bot.studio.imagine_batch(requests, origins)
            except BaseException:
                for other in origins[1:]:
                    with contextlib.suppress(discord.HTTPException):
                        await interaction.followup.delete_message(other.message_id or 0)
                raise
            return ids[0] if ids else 0

        # The preview keeps its buttons (an ephemeral message is edited only through the
        # token that sent it); a second click finds the batch taken and says so.
        await start_job(interaction, create, private=batch.private, on_result=False)
