"""Getting results in front of the member: image downloads and the job's Discord message.

Images stream from the provider's CDN through the bot's one aiohttp session, capped in size,
and are re-encoded (in a worker thread, never on the event loop, in bounded memory:
bot/shrink.py) only when a file is larger than what this interaction may attach.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from urllib.parse import urlparse

import aiohttp
import discord

from bot.errors import DeliveryError
from bot.netguard import MAX_REDIRECTS
from bot.posting import Paths, deliver, once
from bot.providers.base import GenerationResult
from bot.retry import RetryPolicy
from bot.shrink import shrink_to_fit

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # refuse anything a sane image model would not produce
MAX_REQUEST_BYTES = 25 * 1024 * 1024  # Discord's cap on one request's attachments
TOKEN_LIFETIME_S = 15 * 60
_MAGIC = {
    b"\x89PNG\r\n\x1a\n": ("png", "image/png"),
    b"\xff\xd8\xff": ("jpg", "image/jpeg"),
    b"GIF87a": ("gif", "image/gif"),
    b"GIF89a": ("gif", "image/gif"),
}


@dataclass(frozen=True)
class ImageFile:
    filename: str
    data: bytes
    content_type: str
    spoiler: bool = False

    @property
    def uri(self) -> str:
        """How an embed of the message that uploads this file shows it as its image."""
        return f"attachment://{'SPOILER_' if self.spoiler else ''}{self.filename}"


def sniff(data: bytes) -> tuple[str, str] | None:
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ("webp", "image/webp")
    return None


async def download_images(
    session: aiohttp.ClientSession,
    result: GenerationResult,
    *,
    job_id: int,
    per_file_limit: int,
    timeout_s: float = 60.0,
) -> list[ImageFile]:
    """Fetch every image concurrently and make each fit Discord's per-file limit."""
    count = len(result.images)
    limit = min(per_file_limit, MAX_REQUEST_BYTES // max(count, 1))
    tasks = [
        _fetch_one(session, image.url, f"art-{job_id}-{i + 1}", limit, timeout_s)
        for i, image in enumerate(result.images)
    ]
    return list(await asyncio.gather(*tasks))


async def _fetch_one(
    session: aiohttp.ClientSession, url: str, stem: str, limit: int, timeout_s: float
) -> ImageFile:
    if url.startswith("data:"):
        return await _fit(decode_data_url(url), stem, limit)
    data = await _download(
        session, url, max_bytes=MAX_DOWNLOAD_BYTES, timeout_s=timeout_s, server="the provider's"
    )
    return await _fit(data, stem, limit)


async def _download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    server: str,
    what: str = "the generated image",
) -> bytes:
    """The body of `url`, refused (DeliveryError) past `max_bytes`; errors name the `server`
    ("the provider's image server") and `what` was fetched.

    Provider result URLs come from the provider's answer, not from a member, and live on
    whatever CDN the provider uses, so they are not held to `bot.netguard`'s public-address
    rule; redirects are followed, but at most `MAX_REDIRECTS` of them."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with session.get(url, timeout=timeout, max_redirects=MAX_REDIRECTS) as response:
            if response.status != 200:
                raise DeliveryError(
                    f"{server} image server answered HTTP {response.status}",
                    retryable=response.status >= 500 or response.status == 429,
                )
            if (response.content_length or 0) > max_bytes:
                raise DeliveryError(f"{what} is too large to fetch", retryable=False)
            chunks = []
            size = 0
            async for chunk in response.content.iter_chunked(256 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise DeliveryError(f"{what} is too large to fetch", retryable=False)
                chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(
            f"the images could not be downloaded ({type(exc).__name__})", retryable=True
        ) from exc
    return b"".join(chunks)


async def fetch_posted_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    stem: str,
    limit: int,
    timeout_s: float = 30.0,
) -> ImageFile:
    """An image already posted on Discord (by a URL Discord signed recently: they expire after
    about a day), to post again as a file of another message, which then owns its copy. Capped
    like any download, re-encoded only when larger than `limit`; a spoilered image stays
    spoilered."""
    data = await _download(
        session,
        url,
        max_bytes=MAX_DOWNLOAD_BYTES,
        timeout_s=timeout_s,
        server="Discord's",
        what="the posted image",
    )
    image = await _fit(data, stem, limit, source="Discord")
    spoiler = urlparse(url).path.rsplit("/", 1)[-1].startswith("SPOILER_")
    return replace(image, spoiler=spoiler)


def decode_data_url(url: str) -> bytes:
    """The bytes of a base64 `data:` URL (how OpenAI-compatible APIs' `b64_json` images reach
    this module), with the same size cap as a download."""
    header, _, payload = url.partition(",")
    if not header.endswith(";base64") or not payload:
        raise DeliveryError("the provider returned an unreadable inline image", retryable=True)
    if len(payload) * 3 // 4 > MAX_DOWNLOAD_BYTES:
        raise DeliveryError("the generated image is too large to fetch", retryable=False)
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise DeliveryError(
            "the provider returned an unreadable inline image", retryable=True
        ) from None


async def _fit(data: bytes, stem: str, limit: int, source: str = "the provider") -> ImageFile:
    kind = sniff(data)
    if kind is None:
        raise DeliveryError(f"{source} returned something that is not an image", retryable=True)
    if len(data) > limit:
        data = await asyncio.to_thread(shrink_to_fit, data, limit, source)
        kind = ("jpg", "image/jpeg")
    return ImageFile(f"{stem}.{kind[0]}", data, kind[1])


@dataclass(frozen=True)
class MessageTarget:
    """Where a job's messages go: the interaction's original response while its token lives,
    else a reply in the channel."""

    job_id: int
    application_id: int
    interaction_token: str
    interaction_created_at: float  # unix seconds
    message_id: int | None
    channel_id: int
    user_id: int
    guild_id: int | None = None

    def token_alive(self, now: float | None = None, margin_s: float = 30.0) -> bool:
        now = time.time() if now is None else now
        return now - self.interaction_created_at < TOKEN_LIFETIME_S - margin_s


NO_MENTIONS = discord.AllowedMentions.none()


ComponentsFactory = Callable[[int], "discord.ui.View | None"]
ResultComponentsFactory = Callable[[int, str, int], "discord.ui.View | None"]


class Messenger:
    """Edits a job's message through discord.py's webhook API (rate limits handled there).

    The Discord adapters (cogs) register `progress_components`, e.g. a Cancel button for a
    job id; the core never builds UI itself. Final edits always remove the components."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self.progress_components: ComponentsFactory | None = None
        self.result_components: ResultComponentsFactory | None = None

    def _webhook(self, target: MessageTarget) -> discord.Webhook:
        return discord.Webhook.partial(
            target.application_id, target.interaction_token, client=self._client
        )

    async def edit(self, target: MessageTarget, content: str) -> None:
        """A progress edit; failures are the caller's to ignore."""
        if target.message_id is None or not target.token_alive():
            return
        view = self.progress_components(target.job_id) if self.progress_components else None
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        # Through `once`: a 5xx fails this edit at once instead of discord.py retrying it for
        # 25 s with the webhook's lock held (the final edit would wait for it); the next
        # state replaces it anyway.
        await once(
            partial(
                self._webhook(target).edit_message,
                target.message_id,
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
        target: MessageTarget,
        content: str,
        files: Sequence[ImageFile] = (),
        *,
        kind: str | None = None,
        policy: RetryPolicy | None = None,
    ) -> Delivered:
        """The final state of the job's message, with the result buttons when there are images:
        the original response edited, else a channel reply that mentions the member (a text
        notice may also go as a follow-up). Discord's faults are retried with `policy`, and it
        is posted once (bot/posting.py; the reply's nonce is fixed per job and kind: result or
        notice). DeliveryError when no path worked."""
        view = None
        if files and kind is not None and self.result_components is not None:
            view = self.result_components(target.job_id, kind, len(files))
        paths = self._paths(
            target, content, files, view, nonce=f"af{target.job_id}{'r' if kind else 'n'}"
        )
        how, message = await deliver(paths, policy or RetryPolicy(), what=f"job {target.job_id}")
        if how != "edit" and target.message_id and target.token_alive():
            await self._point_to(target, message)
        return Delivered(how, message.id, _urls(message))

    async def _point_to(self, target: MessageTarget, message: discord.Message) -> None:
        """Best effort, one try: the original response, still showing progress (and a Cancel
        button) because Discord would not let it be edited, now points to the reply."""
        assert target.message_id is not None
        webhook = self._webhook(target)
        text = f"⬇️ Posted in a reply: {message.jump_url}"
        try:
            await once(
                lambda: webhook.edit_message(
                    target.message_id,  # type: ignore[arg-type]
                    content=text,
                    attachments=[],
                    allowed_mentions=NO_MENTIONS,
                    view=None,
                ),
                timeout_s=10,
            )
        except (discord.HTTPException, DeliveryError) as exc:
            log.info("job %s: the original response still can't be edited: %s", target.job_id, exc)

    def _paths(
        self,
        target: MessageTarget,
        content: str,
        files: Sequence[ImageFile],
        view: discord.ui.View | None,
        *,
        nonce: str,
    ) -> Paths:
        """The requests that can carry this final message; each opens its own file buffers."""
        webhook = self._webhook(target)
        mention = f"<@{target.user_id}> {content}"
        pinged = discord.AllowedMentions(
            everyone=False, roles=False, users=[discord.Object(target.user_id)]
        )
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        if target.message_id:
            extra["reference"] = discord.MessageReference(
                message_id=target.message_id,
                channel_id=target.channel_id,
                fail_if_not_exists=False,
            )

        async def edit(message_id: int) -> discord.Message:
            with discord_files(files) as attachments:
                return await webhook.edit_message(
                    message_id,
                    content=content,
                    attachments=attachments,
                    allowed_mentions=NO_MENTIONS,
                    view=view,
                )

        async def reply() -> discord.Message:
            channel = self._client.get_partial_messageable(
                target.channel_id, guild_id=target.guild_id
            )
            with discord_files(files) as attachments:
                return await channel.send(
                    mention, files=attachments, allowed_mentions=pinged, nonce=nonce, **extra
                )

        async def follow_up() -> discord.Message:
            return await webhook.send(mention, wait=True, allowed_mentions=pinged)

        message_id = target.message_id
        return Paths(
            edit=partial(edit, message_id) if message_id and target.token_alive() else None,
            read_back=partial(webhook.fetch_message, message_id or 0),
            landed=lambda m: (
                m.content.strip() == content.strip() and len(m.attachments) == len(files)
            ),
            reply=reply,
            follow_up=None if files else follow_up,
            token_expires=target.interaction_created_at + TOKEN_LIFETIME_S,
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
