"""Zoom Out and Pan through a fill model: the padded canvas and the mask of its new area."""

from __future__ import annotations

import io

from PIL import Image

from bot.community.canvas import MAX_CANVAS, SEAM, padded
from tests.fakes.cdn import make_png


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_a_pan_left_paints_only_the_new_strip_and_the_seam() -> None:
    canvas = padded(make_png(64, 48), (32, 0, 0, 0), 0.0)
    assert (canvas.width, canvas.height) == (96, 48)
    mask = opened(canvas.mask).convert("L")
    assert mask.getpixel((0, 24)) == 255  # the new strip
    assert mask.getpixel((32 + SEAM - 1, 24)) == 255  # the seam, repainted
    assert mask.getpixel((32 + SEAM + 1, 24)) == 0  # the picture
    assert mask.getpixel((95, 24)) == 0  # the untouched right edge stays


def test_a_zoom_out_centres_the_picture_on_a_canvas_twice_the_size() -> None:
    canvas = padded(make_png(64, 64), (0, 0, 0, 0), 50.0)
    assert (canvas.width, canvas.height) == (128, 128)
    mask = opened(canvas.mask).convert("L")
    assert mask.getpixel((64, 64)) == 0 and mask.getpixel((5, 64)) == 255


def test_a_canvas_that_would_pass_the_largest_side_is_scaled_down_first() -> None:
    canvas = padded(make_png(2048, 1024), (0, 0, 0, 0), 50.0)
    assert max(canvas.width, canvas.height) == MAX_CANVAS
    assert opened(canvas.image).size == (canvas.width, canvas.height)
