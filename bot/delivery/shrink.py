"""Re-encoding an image that is larger (in bytes) than Discord lets this message attach.

Blocking: run it through `asyncio.to_thread`. Memory stays bounded whatever the file claims:
Pillow's `Image.open` reads only the header, so the pixel count is known before anything is
decoded. A JPEG over `MAX_INPUT_PIXELS` is decoded by libjpeg at 1/2, 1/4 or 1/8 scale
(`Image.draft`) to at most `DRAFT_PIXELS`, so its full-size pixels never exist; any other
format over it is refused, since Pillow can't decode a PNG, WebP or GIF at less than full size.
Pillow keeps RGB as 4 bytes a pixel: a 40 MP image is 160 MB, a drafted one at most 40 MB.
(A file small enough to be posted as it is never reaches this module and is never decoded:
Discord scales it for display.)
"""

from __future__ import annotations

import io
import math

from PIL import Image

from bot.community.images import MAX_INPUT_PIXELS
from bot.errors import DeliveryError
from bot.i18n import N_, _

# A result that was too large is posted at this size at most: still more than Discord shows.
DRAFT_PIXELS = MAX_INPUT_PIXELS // 4
_SCALES = (1.0, 0.75, 0.5, 0.35, 0.25)
_QUALITIES = (92, 85, 75)
PROVIDER = N_("the provider")  # where a result image came from, as errors name it


def shrink_to_fit(data: bytes, limit: int, source: str = PROVIDER) -> bytes:
    """Re-encode as JPEG, lowering quality then size, until it fits `limit` bytes. `source`
    names where the image came from in errors (shown with `_`)."""
    image = _decode_capped(data, source)
    for scale in _SCALES:
        frame = image
        if scale < 1.0:
            size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            frame = image.resize(size, Image.Resampling.LANCZOS)
        for quality in _QUALITIES:
            out = io.BytesIO()
            frame.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= limit:
                return out.getvalue()
        del frame  # one resized copy at a time
    raise DeliveryError(_("an image could not be made small enough for Discord"), retryable=False)


def _decode_capped(data: bytes, source: str) -> Image.Image:
    """The pixels in a mode JPEG can store: at most `MAX_INPUT_PIXELS` of them as they are,
    or a JPEG over that decoded at a fraction of its size."""
    try:
        image = Image.open(io.BytesIO(data))  # the header only
        width, height = image.size
        if width * height > MAX_INPUT_PIXELS:
            scale = next((s for s in (2, 4, 8) if _scaled(width, height, s) <= DRAFT_PIXELS), 0)
            if image.format != "JPEG" or not scale:
                raise _too_large(source, width, height)
            image.draft("RGB", (math.ceil(width / scale), math.ceil(height / scale)))
            if image.width * image.height > DRAFT_PIXELS:
                raise _too_large(source, width, height)
        image.load()
        # Not `convert` when the mode already fits: it would copy every pixel.
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    except Image.DecompressionBombError as exc:  # over twice Pillow's own cap: no size read
        raise DeliveryError(
            _("{source} returned an image too large to post", source=_(source)), retryable=False
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DeliveryError(
            _("{source} returned an image that can't be read", source=_(source)), retryable=True
        ) from exc


def _scaled(width: int, height: int, scale: int) -> int:
    return math.ceil(width / scale) * math.ceil(height / scale)


def _too_large(source: str, width: int, height: int) -> DeliveryError:
    return DeliveryError(
        _(
            "{source} returned an image too large to post ({width}x{height}, {megapixels:.0f} "
            "megapixels; the limit is {limit:.0f})",
            source=_(source),
            width=width,
            height=height,
            megapixels=width * height / 1e6,
            limit=MAX_INPUT_PIXELS / 1e6,
        ),
        retryable=False,
    )
