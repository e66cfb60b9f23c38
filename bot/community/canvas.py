"""Zoom Out and Pan through an inpainting model, where no outpainting model is set up: the image
on a larger canvas and a mask of the new area (white = paint here), for any fill model.

The new area starts mid-grey (the fill models repaint it entirely) and the mask reaches a few
pixels into the picture, so the model blends the seam instead of drawing a hard edge. Blocking:
called through `asyncio.to_thread`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

SEAM = 8  # pixels of the picture the mask also covers, so the seam is repainted
NEUTRAL = (127, 127, 127)
MULTIPLE = 16  # the fill models' sizes are multiples of 16 (or 32): the canvas rounds up
MAX_CANVAS = 2048  # the largest side the bot sends (as bot/community/images.py MAX_SIDE)


@dataclass(frozen=True)
class Canvas:
    image: bytes  # PNG
    mask: bytes  # PNG, white = the new area
    width: int
    height: int


def padded(data: bytes, margins: tuple[int, int, int, int], zoom_out: float) -> Canvas:
    """`data` on a canvas grown by `margins` (left, right, top, bottom), then by `zoom_out`
    percent (the picture keeps 100 - zoom_out percent of each side), centred; scaled down
    first where the canvas would pass MAX_CANVAS (the fill models draw no larger)."""
    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
    left, right, top, bottom = margins
    keep = 1 - zoom_out / 100
    largest = max(picture.width + left + right, picture.height + top + bottom) / keep
    if largest > MAX_CANVAS:
        scale = MAX_CANVAS / largest
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.LANCZOS)
        left, right, top, bottom = (round(m * scale) for m in margins)
    width = picture.width + left + right
    height = picture.height + top + bottom
    if zoom_out:
        grown_w, grown_h = round(width / keep), round(height / keep)
        left += (grown_w - width) // 2
        top += (grown_h - height) // 2
        width, height = grown_w, grown_h
    width, height = _round_up(width), _round_up(height)
    canvas = Image.new("RGB", (width, height), NEUTRAL)
    canvas.paste(picture, (left, top))
    mask = Image.new("L", (width, height), 255)
    keep_box = (
        left + (SEAM if left else 0),
        top + (SEAM if top else 0),
        left + picture.width - (SEAM if right or width > left + picture.width else 0),
        top + picture.height - (SEAM if bottom or height > top + picture.height else 0),
    )
    mask.paste(0, keep_box)
    return Canvas(_png(canvas), _png(mask), width, height)


def _round_up(size: int) -> int:
    return -(-size // MULTIPLE) * MULTIPLE


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)  # sent once, soon: speed over size
    return out.getvalue()
