"""Input images for image-to-image and upscale jobs: fetched, checked and normalised.

Only Discord attachment/CDN URLs taken from the interaction reach this module, and only
Discord's CDN origins are fetched: scheme, host AND port must match one (in production https on
443 of cdn.discordapp.com or media.discordapp.net; tests add the fake Discord's own origin).
Redirects are followed by hand (`bot.moderation.netguard.guarded_get`), only to those origins
and at most three hops, so a link can't lead the bot to another port of the same host or to an
internal address. Downloads are capped in bytes, Pillow decodes in a worker thread with a pixel cap
(decompression bombs are refused before any pixel is decoded), animations and corrupt files are
refused, EXIF orientation is applied, and the result is a plain RGB JPEG or PNG the providers
accept.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import aiohttp
import yarl
from PIL import Image, ImageOps, UnidentifiedImageError

from bot.errors import InvalidRequest
from bot.i18n import N_, _
from bot.moderation.netguard import Origin, guarded_get, origin_of

MAX_INPUT_BYTES = 25 * 1024 * 1024  # Discord's own upload ceiling for bots
MAX_INPUT_PIXELS = 40_000_000  # ~6300x6300: anything larger is refused, not decoded
MAX_SIDE = 2048  # what the models use; larger inputs are scaled down before sending
DISCORD_CDN: tuple[Origin, ...] = (
    ("https", "cdn.discordapp.com", 443),
    ("https", "media.discordapp.net", 443),
)


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    content_type: str
    width: int
    height: int


def image_origins(extra_urls: Iterable[str] = ()) -> tuple[Origin, ...]:
    """Discord's CDN origins plus those of `extra_urls` (the configured API base, which is
    where a Discord stand-in such as the tests' fake serves its attachments)."""
    extra = [origin for origin in map(origin_of, extra_urls) if origin is not None]
    return DISCORD_CDN + tuple(o for o in extra if o not in DISCORD_CDN)


def is_discord_url(url: str, origins: Collection[Origin] = DISCORD_CDN) -> bool:
    return origin_of(url) in origins


async def fetch_input_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    origins: Collection[Origin] = DISCORD_CDN,
    max_bytes: int = MAX_INPUT_BYTES,
    timeout_s: float = 30.0,
) -> bytes:
    """The body of `url`, fetched only from `origins` (redirects included); InvalidRequest
    with the reason otherwise, or past `max_bytes`."""

    async def on_discord(target: yarl.URL, hop: int) -> None:
        if origin_of(target) not in origins:
            where = (
                _(
                    "That image link is on {origin}, which is not Discord's CDN: only images "
                    "attached on Discord can be used.",
                    origin=target.origin(),
                )
                if hop == 0
                else _(
                    "The image link redirected to {origin}, which is not Discord's CDN: only "
                    "images attached on Discord can be used.",
                    origin=target.origin(),
                )
            )
            raise InvalidRequest(where)

    try:
        async with (
            asyncio.timeout(timeout_s),
            guarded_get(session, url, check=on_discord, what=N_("The image link")) as response,
        ):
            if response.status != 200:
                raise InvalidRequest(
                    _(
                        "The image could not be downloaded (HTTP {status}); try attaching it "
                        "again.",
                        status=response.status,
                    )
                )
            if (response.content_length or 0) > max_bytes:
                raise InvalidRequest(_too_big(response.content_length or 0, max_bytes))
            chunks = []
            size = 0
            async for chunk in response.content.iter_chunked(256 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidRequest(_too_big(size, max_bytes))
                chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise InvalidRequest(
            _("The image could not be downloaded ({error}); try again.", error=type(exc).__name__)
        ) from exc
    return b"".join(chunks)


def _too_big(size: int, limit: int) -> str:
    return _(
        "That file is {size:.1f} MB; images up to {limit:.0f} MB are accepted.",
        size=size / 1e6,
        limit=limit / 1e6,
    )


def prepare(data: bytes, *, max_pixels: int = MAX_INPUT_PIXELS) -> PreparedImage:
    """Validate and normalise image bytes (blocking: call through `asyncio.to_thread`)."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if width * height > max_pixels:
                raise InvalidRequest(
                    _(
                        "That image is {width}x{height} ({megapixels:.0f} megapixels); the limit "
                        "is {limit:.0f} megapixels.",
                        width=width,
                        height=height,
                        megapixels=width * height / 1e6,
                        limit=max_pixels / 1e6,
                    )
                )
            if getattr(probe, "is_animated", False) and getattr(probe, "n_frames", 1) > 1:
                raise InvalidRequest(_("Animated images can't be used: attach a still image."))
            probe.verify()  # structural check of the whole file, before decoding pixels
        with Image.open(io.BytesIO(data)) as source:
            source.load()
            image = ImageOps.exif_transpose(source) or source
            has_alpha = image.mode in ("RGBA", "LA") or "transparency" in image.info
            image = image.convert("RGBA" if has_alpha else "RGB")
    except InvalidRequest:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidRequest(_("That image is too large to process.")) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequest(
            _("That file is not an image I can read (PNG, JPEG, WebP or GIF), or it is damaged.")
        ) from exc
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if has_alpha:
        image.save(out, "PNG", optimize=True)
        content_type = "image/png"
    else:
        image.save(out, "JPEG", quality=92)
        content_type = "image/jpeg"
    return PreparedImage(out.getvalue(), content_type, image.width, image.height)


async def load_input_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    declared_size: int | None = None,
    origins: Collection[Origin] = DISCORD_CDN,
) -> PreparedImage:
    """Download (capped), then validate and normalise in a worker thread."""
    if declared_size is not None and declared_size > MAX_INPUT_BYTES:
        raise InvalidRequest(_too_big(declared_size, MAX_INPUT_BYTES))
    data = await fetch_input_image(session, url, origins=origins)
    return await asyncio.to_thread(prepare, data)
