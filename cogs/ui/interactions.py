"""How every command and button answers its interaction, and the one way they start a job.

Shared by the cogs, the buttons in `cogs.ui` and the command tree's error handler (bot/app.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from bot.delivery.text import UNEXPECTED_ERROR
from bot.early_ack import NOT_SENT
from bot.errors import Refusal
from bot.i18n import _, resolve
from bot.jobs.journal import Acknowledged, origin_of
from bot.jobs.model import Origin

if TYPE_CHECKING:
    from bot.app import ArtFactoryBot
    from bot.early_ack import EarlyAck

log = logging.getLogger(__name__)


def bot_of(interaction: discord.Interaction[Any]) -> ArtFactoryBot:
    """The bot an interaction reached, typed."""
    client: ArtFactoryBot = interaction.client
    return client


def server_locale(interaction: discord.Interaction[Any]) -> str:
    """The language of a post for the whole server (a gallery post, a report for the
    moderators, an audit line): the server's own (its community language in Discord's
    settings), not that of the member whose click made it."""
    guild_locale = interaction.guild_locale
    return resolve(guild_locale.value if guild_locale is not None else None)


def attachment_urls(interaction: discord.Interaction[Any]) -> list[str]:
    """The clicked message's attachment URLs, as Discord signed them for this interaction."""
    message = interaction.message
    return [a.url for a in message.attachments] if message is not None else []


async def send_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Answer privately whatever state the interaction is in."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction %s: %s", interaction.id, exc)


async def start_job(
    interaction: discord.Interaction,
    create: Callable[[Origin], Awaitable[int]],
    *,
    private: bool | None = None,
    on_result: bool = True,
) -> int | None:
    """The one way a command or button starts a job: acknowledge first (a "thinking…"
    message that becomes the job's message), then let the core read the server's settings,
    validate, charge and queue. Nothing touches the database before the acknowledgement, and
    the intake journal notes it first, so a crash in between is answered at the next start
    (bot/jobs/journal.py). A refusal replaces the placeholder with a private answer; nothing
    is charged.

    `private`: the member asked for a private result (True), or a public one (False); None:
    their `/settings` default, and always private for a button on a private result (unless
    `on_result` is False: the button is on some other private message, e.g. a preview). The
    placeholder is ephemeral when that is known before the acknowledgement; when a read after
    it decides otherwise, the placeholder moves (`_moved`)."""
    bot: ArtFactoryBot = interaction.client  # type: ignore[assignment]
    early = bot.early_acks.claim(interaction.id)  # acknowledged from the gateway event
    if early is not None:
        received_at = early.entry.origin.interaction_created_at
    else:
        received_at = time.time()
        bot.intake.begin(Acknowledged.of(interaction, received_at))
    try:
        if private is None and on_result and _on_private_message(interaction):
            private = True  # a button on a private result makes a private result
        job_id = await _acknowledge_and_create(interaction, create, received_at, early, private)
    except asyncio.CancelledError:
        raise  # shutting down: the entry stays open and the next start answers it
    except BaseException:
        bot.intake.settle(interaction.id)
        raise
    bot.intake.settle(interaction.id)
    return job_id


def _on_private_message(interaction: discord.Interaction) -> bool:
    return interaction.message is not None and interaction.message.flags.ephemeral


ALREADY_ACKNOWLEDGED = 40060  # Discord: "Interaction has already been acknowledged"


def acknowledged_elsewhere(error: BaseException) -> bool:
    """Another process of the bot acknowledged this interaction first (Discord delivered it
    to both, e.g. across a resume): it is that process's to answer, not an error here."""
    return isinstance(error, discord.HTTPException) and error.code == ALREADY_ACKNOWLEDGED


async def _acknowledge_and_create(
    interaction: discord.Interaction,
    create: Callable[[Origin], Awaitable[int]],
    received_at: float,
    early: EarlyAck | None = None,
    private: bool | None = None,
) -> int | None:
    client: ArtFactoryBot = interaction.client  # type: ignore[assignment]
    ephemeral = (
        client.studio.defaults.private_default(interaction.user.id) if private is None else private
    )
    message_id = await early.landed(interaction) if early is not None else NOT_SENT
    if early is not None and message_id != NOT_SENT:
        ephemeral = False  # acknowledged from the gateway event: public
    if message_id == NOT_SENT:
        try:
            callback = await interaction.response.defer(thinking=True, ephemeral=ephemeral)
            message_id = callback.message_id if callback is not None else None
        except discord.HTTPException as exc:
            if early is None or not acknowledged_elsewhere(exc):
                raise
            # The early acknowledgement's answer was lost, but it had landed.
            early.mark(interaction)
            message_id = None
    if message_id is None:
        message_id = (await interaction.original_response()).id
    client.intake.acknowledged(interaction.id, message_id)
    await client.intake.earlier_acknowledged()
    moved: int | None = None
    try:
        origin = origin_of(interaction, received_at, message_id)
        wanted = await client.studio.defaults.private_wanted(
            origin.user_id, origin.guild_id, private
        )
        if wanted != ephemeral:
            moved = await _moved(interaction, wanted)
            origin = replace(origin, message_id=moved)
            client.intake.acknowledged(interaction.id, moved)
        return await create(replace(origin, private=wanted))
    except Refusal as exc:
        await _withdraw(interaction, moved)
        await send_ephemeral(interaction, str(exc))
        return None
    except Exception:
        # Answered here, before the journal entry is settled, so no crash can strand it.
        log.exception("starting a job for interaction %s failed", interaction.id)
        await _withdraw(interaction, moved)
        await send_ephemeral(interaction, _(UNEXPECTED_ERROR))
        return None


async def _withdraw(interaction: discord.Interaction, moved: int | None) -> None:
    """The placeholder removed, for a refusal's private answer instead."""
    with contextlib.suppress(discord.HTTPException):
        if moved is None:
            await interaction.delete_original_response()
        else:
            await interaction.followup.delete_message(moved)


async def _moved(interaction: discord.Interaction, ephemeral: bool) -> int:
    """The job's placeholder again, now ephemeral (or public): a follow-up, editable with the
    same token, and the first placeholder deleted."""
    # The first follow-up after a deferral would only edit the "thinking…" message: it is
    # written first, so the follow-up is a message of its own.
    await interaction.edit_original_response(content=_("⏳ Starting…"))
    message = await interaction.followup.send(_("⏳ Starting…"), ephemeral=ephemeral, wait=True)
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()
    return message.id


async def defer_journalled(interaction: discord.Interaction, *, ephemeral: bool) -> None:
    """Acknowledge with "thinking…", noted in the journal first, so a crash before the answer
    is answered at the next start. Settled when the command completes or its error is answered
    (`ArtFactoryBot.on_app_command_completion`, `ArtFactoryTree.on_error`), or by
    `journalled` for buttons."""
    bot: ArtFactoryBot = interaction.client  # type: ignore[assignment]
    bot.intake.begin(Acknowledged.of(interaction, time.time(), job=False))
    callback = await interaction.response.defer(ephemeral=ephemeral, thinking=True)
    if callback is not None and callback.message_id is not None:
        bot.intake.acknowledged(interaction.id, callback.message_id)


@contextlib.asynccontextmanager
async def journalled(interaction: discord.Interaction, *, ephemeral: bool) -> AsyncIterator[None]:
    """`defer_journalled` for a button's callback: settled when the block ends (a shutdown
    leaves it open, for the next start to answer)."""
    bot: ArtFactoryBot = interaction.client  # type: ignore[assignment]
    await defer_journalled(interaction, ephemeral=ephemeral)
    try:
        yield
    except asyncio.CancelledError:
        raise
    except BaseException:
        bot.intake.settle(interaction.id)
        raise
    bot.intake.settle(interaction.id)
