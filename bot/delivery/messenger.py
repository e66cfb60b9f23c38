"""The job's Discord message: progress edits and the final message, posted once (see
bot/delivery/posting.py for the paths and the retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import discord

from bot.delivery.downloads import ImageFile
from bot.delivery.posting import Paths, deliver, once
from bot.errors import DeliveryError
from bot.i18n import _
from bot.jobs.model import Origin
from bot.jobs.retry import RetryPolicy

log = logging.getLogger(__name__)


NO_MENTIONS = discord.AllowedMentions.none()


ComponentsFactory = Callable[[int], "discord.ui.View | None"]
ResultComponentsFactory = Callable[[int, str, int], "discord.ui.View | None"]


class Messenger:
    """Edits a job's message through discord.py's webhook API (rate limits handled there).

    The composition root (bot/app.py) hands it the views the Discord adapters build (a Cancel
    button on progress, the buttons on a result, cogs/ui/); the core never builds UI itself,
    and the factories exist before any cog loads. Final edits always remove the components."""

    def __init__(
        self,
        client: discord.Client,
        *,
        progress_components: ComponentsFactory | None = None,
        result_components: ResultComponentsFactory | None = None,
    ) -> None:
        self._client = client
        self.progress_components = progress_components
        self.result_components = result_components

    def _webhook(self, origin: Origin) -> discord.Webhook:
        return discord.Webhook.partial(
            origin.application_id, origin.interaction_token, client=self._client
        )

    async def edit(self, job_id: int, origin: Origin, content: str) -> None:
        """A progress edit; failures are the caller's to ignore."""
        if origin.message_id is None or not origin.token_alive():
            return
        view = self.progress_components(job_id) if self.progress_components else None
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        # Through `once`: a 5xx fails this edit at once instead of discord.py retrying it for
        # 25 s with the webhook's lock held (the final edit would wait for it); the next
        # state replaces it anyway.
        await once(
            partial(
                self._webhook(origin).edit_message,
                origin.message_id,
                content=content,
                allowed_mentions=NO_MENTIONS,
                **extra,
            )
        )

    async def attachment_urls(
        self, channel_id: int, message_id: int, *, timeout_s: float | None = None
    ) -> tuple[str, ...] | None:
        """A message's attachment URLs as Discord signs them now (a stored one expires after
        about a day), from one GET of the message. None when the message is gone or can't be
        read (also after `timeout_s`): the caller goes without the image."""
        try:
            async with asyncio.timeout(timeout_s):
                data = await self._client.http.get_message(channel_id, message_id)
        except (discord.NotFound, discord.Forbidden):
            return None
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("message %s/%s could not be fetched: %r", channel_id, message_id, exc)
            return None
        return tuple(str(a["url"]) for a in data.get("attachments") or [] if a.get("url"))

    async def finish(
        self,
        job_id: int,
        origin: Origin,
        content: str,
        files: Sequence[ImageFile] = (),
        *,
        kind: str | None = None,
        items: int | None = None,
        policy: RetryPolicy | None = None,
    ) -> Delivered:
        """The final state of the job's message, with the result buttons when there are images:
        the original response edited, else a channel reply that mentions the member (a text
        notice may also go as a follow-up). Discord's faults are retried with `policy`, and it
        is posted once (bot/delivery/posting.py; the reply's nonce is fixed per job and kind:
        result or notice). DeliveryError when no path worked."""
        view = None
        items = len(files) if items is None else items
        if items and kind is not None and self.result_components is not None:
            view = self.result_components(job_id, kind, items)
        paths = self._paths(
            job_id, origin, content, files, view, nonce=f"af{job_id}{'r' if kind else 'n'}"
        )
        how, message = await deliver(paths, policy or RetryPolicy(), what=f"job {job_id}")
        if how != "edit" and origin.message_id and origin.token_alive():
            await self._point_to(job_id, origin, message)
        return Delivered(how, message.id, _urls(message))

    async def _point_to(self, job_id: int, origin: Origin, message: discord.Message) -> None:
        """Best effort, one try: the original response, still showing progress (and a Cancel
        button) because Discord would not let it be edited, now points to the reply."""
        assert origin.message_id is not None
        webhook = self._webhook(origin)
        text = _("⬇️ Posted in a reply: {link}", link=message.jump_url)
        try:
            await once(
                lambda: webhook.edit_message(
                    origin.message_id,  # type: ignore[arg-type]
                    content=text,
                    attachments=[],
                    allowed_mentions=NO_MENTIONS,
                    view=None,
                ),
                timeout_s=10,
            )
        except (discord.HTTPException, DeliveryError) as exc:
            log.info("job %s: the original response still can't be edited: %s", job_id, exc)

    @staticmethod
    async def _edit(
        webhook: discord.Webhook,
        message_id: int,
        content: str,
        files: Sequence[ImageFile],
        view: discord.ui.View | None,
    ) -> discord.Message:
        with discord_files(files) as attachments:
            return await webhook.edit_message(
                message_id,
                content=content,
                attachments=attachments,
                allowed_mentions=NO_MENTIONS,
                view=view,
            )

    async def _direct(
        self,
        origin: Origin,
        content: str,
        files: Sequence[ImageFile],
        view: discord.ui.View | None,
        nonce: str,
    ) -> discord.Message:
        """A private result, or one asked for outside a server (a user install), goes to the
        member's DMs once the interaction can't carry it: never to a channel."""
        channel = await self._client.create_dm(discord.Object(origin.user_id))
        view_only: dict[str, Any] = {"view": view} if view is not None else {}
        with discord_files(files) as attachments:
            return await channel.send(
                content, files=attachments, allowed_mentions=NO_MENTIONS, nonce=nonce, **view_only
            )

    def _paths(
        self,
        job_id: int,
        origin: Origin,
        content: str,
        files: Sequence[ImageFile],
        view: discord.ui.View | None,
        *,
        nonce: str,
    ) -> Paths:
        """The requests that can carry this final message; each opens its own file buffers."""
        webhook = self._webhook(origin)
        mention = f"<@{origin.user_id}> {content}"
        pinged = discord.AllowedMentions(
            everyone=False, roles=False, users=[discord.Object(origin.user_id)]
        )
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        if origin.message_id:
            extra["reference"] = discord.MessageReference(
                message_id=origin.message_id, channel_id=origin.channel_id, fail_if_not_exists=False
            )

        async def reply() -> discord.Message:
            channel = self._client.get_partial_messageable(
                origin.channel_id, guild_id=origin.guild_id
            )
            with discord_files(files) as attachments:
                return await channel.send(
                    mention, files=attachments, allowed_mentions=pinged, nonce=nonce, **extra
                )

        async def follow_up() -> discord.Message:
            private = origin.private
            return await webhook.send(
                mention, wait=True, allowed_mentions=pinged, ephemeral=private
            )

        message_id = origin.message_id
        return Paths(
            edit=(
                partial(self._edit, webhook, message_id, content, files, view)
                if message_id and origin.token_alive()
                else None
            ),
            read_back=partial(webhook.fetch_message, message_id or 0),
            landed=lambda m: (
                m.content.strip() == content.strip() and len(m.attachments) == len(files)
            ),
            reply=(
                partial(self._direct, origin, content, files, view, nonce)
                if origin.private or origin.guild_id is None
                else reply
            ),
            follow_up=None if files else follow_up,
            token_expires=origin.token_expires,
            has_files=bool(files),
        )


@dataclass(frozen=True)
class Delivered:
    how: str  # "edit" (the original response), "channel" (a reply) or "followup" (notices)
    message_id: int
    attachment_urls: tuple[str, ...]


def _urls(message: discord.Message) -> tuple[str, ...]:
    return tuple(attachment.url for attachment in message.attachments)


@contextlib.contextmanager
def discord_files(files: Sequence[ImageFile]) -> Iterator[list[discord.File]]:
    """The files for one request, their buffers released right after it. discord.py leaves a
    caller's BytesIO open, and aiohttp's upload keeps a private copy of it inside reference
    cycles that only a full garbage collection frees: at 50 deliveries a second that held
    ~150 MB of finished uploads (bench/README.md)."""
    attachments = [
        discord.File(io.BytesIO(f.data), filename=f.filename, spoiler=f.spoiler) for f in files
    ]
    try:
        yield attachments
    finally:
        for attachment in attachments:
            attachment.close()  # gives the BytesIO its own close() back…
            attachment.fp.close()  # …and this frees its buffer
