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


@dataclass(frozen=True)
class Canvas:
    image: bytes  # PNG
    mask: bytes  # PNG, white = the new area
    width: int
    height: int


def padded(data: bytes, margins: tuple[int, int, int, int], zoom_out: float) -> Canvas:
    """`data` on a canvas grown by `margins` (left, right, top, bottom), then by `zoom_out`
    percent (the picture keeps 100 - zoom_out percent of each side), centred."""
    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
    left, right, top, bottom = margins
    width = picture.width + left + right
    height = picture.height + top + bottom
    if zoom_out:
        keep = 1 - zoom_out / 100
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
    image.save(out, format="PNG")
    return out.getvalue()
