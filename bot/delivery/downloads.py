"""Results' images on their way in: streamed from the provider's CDN through the bot's one
aiohttp session, capped in size, and re-encoded (in a worker thread, in bounded memory:
bot/delivery/shrink.py) only when a file is larger than what this interaction may attach.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from dataclasses import dataclass, replace
from urllib.parse import urlparse

import aiohttp

from bot.delivery.shrink import PROVIDER, shrink_to_fit
from bot.delivery.text import image_stem
from bot.errors import DeliveryError
from bot.i18n import N_, _
from bot.moderation.netguard import MAX_REDIRECTS
from bot.providers.base import GenerationResult

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # refuse anything a sane image model would not produce
MAX_REQUEST_BYTES = 25 * 1024 * 1024  # Discord's cap on one request's attachments
PROVIDER_SERVER = N_("the provider's image server")  # as download errors name it
_MAGIC = {
    b"\x89PNG\r\n\x1a\n": ("png", "image/png"),
    b"\xff\xd8\xff": ("jpg", "image/jpeg"),
    b"GIF87a": ("gif", "image/gif"),
    b"GIF89a": ("gif", "image/gif"),
}


class TooLarge(DeliveryError):
    """A download past its cap: stopped there (`size` when the server announced it)."""

    def __init__(self, message: str, size: int | None) -> None:
        super().__init__(message, retryable=False)
        self.size = size


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
        _fetch_one(session, image.url, image_stem(job_id, i), limit, timeout_s)
        for i, image in enumerate(result.images)
    ]
    return list(await asyncio.gather(*tasks))


async def _fetch_one(
    session: aiohttp.ClientSession, url: str, stem: str, limit: int, timeout_s: float
) -> ImageFile:
    if url.startswith("data:"):
        return await _fit(decode_data_url(url), stem, limit)
    data = await _download(
        session, url, max_bytes=MAX_DOWNLOAD_BYTES, timeout_s=timeout_s, server=PROVIDER_SERVER
    )
    return await _fit(data, stem, limit)


async def _download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    server: str,
    what: str = N_("the generated image"),
) -> bytes:
    """The body of `url`, refused (DeliveryError) past `max_bytes`; errors name the `server`
    ("the provider's image server") and `what` was fetched (both shown with `_`).

    Provider result URLs come from the provider's answer, not from a member, and live on
    whatever CDN the provider uses, so they are not held to `bot.moderation.netguard`'s
    public-address rule; redirects are followed, but at most `MAX_REDIRECTS` of them."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with session.get(url, timeout=timeout, max_redirects=MAX_REDIRECTS) as response:
            if response.status != 200:
                raise DeliveryError(
                    _("{server} answered HTTP {status}", server=_(server), status=response.status),
                    retryable=response.status >= 500 or response.status == 429,
                )
            if (response.content_length or 0) > max_bytes:
                raise TooLarge(
                    _("{what} is too large to fetch", what=_(what)), response.content_length
                )
            chunks = []
            size = 0
            async for chunk in response.content.iter_chunked(256 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(_("{what} is too large to fetch", what=_(what)), None)
                chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(
            _("the images could not be downloaded ({error})", error=type(exc).__name__),
            retryable=True,
        ) from exc
    return b"".join(chunks)


async def fetch_file(
    session: aiohttp.ClientSession, url: str, *, max_bytes: int, timeout_s: float = 60.0
) -> bytes:
    """One file of a provider's result (a mask, a video) as bytes, capped at `max_bytes`."""
    if url.startswith("data:"):
        return decode_data_url(url)
    return await _download(
        session,
        url,
        max_bytes=max_bytes,
        timeout_s=timeout_s,
        server=PROVIDER_SERVER,
        what=N_("the result file"),
    )


async def fetch_video(
    session: aiohttp.ClientSession, url: str, *, stem: str, limit: int, timeout_s: float = 120.0
) -> tuple[ImageFile | None, int | None]:
    """A video result as an MP4 file when it is at most `limit` bytes; otherwise (None, its
    size when known): the download stops at the limit, a larger clip is linked, not held."""
    if url.startswith("data:"):
        data = decode_data_url(url)
    else:
        try:
            data = await _download(
                session,
                url,
                max_bytes=limit,
                timeout_s=timeout_s,
                server=PROVIDER_SERVER,
                what=N_("the video"),
            )
        except TooLarge as exc:
            return None, exc.size
    if len(data) > limit:
        return None, len(data)
    if data[4:8] != b"ftyp":
        raise DeliveryError(
            _("the provider returned something that is not an MP4 video"), retryable=True
        )
    return ImageFile(f"{stem}.mp4", data, "video/mp4"), len(data)


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
        server=N_("Discord's image server"),
        what=N_("the posted image"),
    )
    image = await _fit(data, stem, limit, source="Discord")
    spoiler = urlparse(url).path.rsplit("/", 1)[-1].startswith("SPOILER_")
    return replace(image, spoiler=spoiler)


def decode_data_url(url: str) -> bytes:
    """The bytes of a base64 `data:` URL (how OpenAI-compatible APIs' `b64_json` images reach
    this module), with the same size cap as a download."""
    header, _comma, payload = url.partition(",")
    if not header.endswith(";base64") or not payload:
        raise DeliveryError(_("the provider returned an unreadable inline image"), retryable=True)
    if len(payload) * 3 // 4 > MAX_DOWNLOAD_BYTES:
        raise DeliveryError(_("the generated image is too large to fetch"), retryable=False)
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise DeliveryError(
            _("the provider returned an unreadable inline image"), retryable=True
        ) from None


async def _fit(data: bytes, stem: str, limit: int, source: str = PROVIDER) -> ImageFile:
    kind = sniff(data)
    if kind is None:
        raise DeliveryError(
            _("{source} returned something that is not an image", source=_(source)),
            retryable=True,
        )
    if len(data) > limit:
        data = await asyncio.to_thread(shrink_to_fit, data, limit, source)
        kind = ("jpg", "image/jpeg")
    return ImageFile(f"{stem}.{kind[0]}", data, kind[1])
