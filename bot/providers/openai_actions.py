"""Vary (Region) and /describe on an OpenAI-compatible API: `images.edit` with the image and
a mask, and a vision chat model asked for four prompts.

OpenAI's mask is the other way round from the fill models': "fully transparent areas (e.g.
where alpha is zero) indicate where `image` should be edited", a PNG "with the same dimensions
as `image`". The bot's masks are white where to repaint (bot/jobs/masks.py), so white becomes
transparent here and everything else opaque. The SDK uploads both as files (multipart), so the
data URIs the runner hands over are decoded back to bytes. Blocking (Pillow): called through
`asyncio.to_thread`.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any

from PIL import Image

from bot.errors import ProviderError
from bot.i18n import _
from bot.providers.request import GenerationRequest

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def edit_arguments(
    request: GenerationRequest, image: str | None, mask: str | None
) -> dict[str, Any]:
    """The arguments of one `images.edit` call for the whole job."""
    if image is None or mask is None:
        raise ProviderError("openai", _("an edit needs the image and its mask"), retryable=False)
    data, content_type = _decoded(image)
    extension = _EXTENSIONS.get(content_type, "png")
    return {
        "model": request.model,
        "prompt": request.prompt,
        "n": request.count,
        "image": (f"image.{extension}", data, content_type),
        "mask": ("mask.png", transparent_where_white(_decoded(mask)[0]), "image/png"),
    }


def transparent_where_white(mask_png: bytes) -> bytes:
    """The bot's mask (white = repaint) as OpenAI's (transparent = edit)."""
    with Image.open(io.BytesIO(mask_png)) as opened:
        grey = opened.convert("L")
    alpha = grey.point(lambda value: 0 if value >= 128 else 255)
    out = Image.new("RGBA", grey.size, (0, 0, 0, 255))
    out.putalpha(alpha)
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return buffer.getvalue()


def _decoded(uri: str) -> tuple[bytes, str]:
    header, _comma, payload = uri.partition(",")
    if not uri.startswith("data:") or not header.endswith(";base64"):
        raise ProviderError("openai", _("the image must be sent as a file"), retryable=False)
    return base64.b64decode(payload), header[5:].split(";", 1)[0]


# /describe through a vision chat model: what it is asked, and how its answer becomes prompts.
DESCRIBE_INSTRUCTIONS = (
    "You write prompts for an image generation model. Look at the image and write four "
    "different prompts that would produce an image like it: subject, setting, composition, "
    "lighting, medium and style, each in one paragraph of at most 60 words. Answer with the "
    "four prompts only, numbered 1. to 4., one per line."
)
_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*(.+?)\s*$")


def describe_arguments(request: GenerationRequest, image: str | None) -> dict[str, Any]:
    """One `chat.completions.create` call: the instructions and the image as a data URL."""
    if image is None:
        raise ProviderError("openai", _("a description needs the image"), retryable=False)
    return {
        "model": request.model,
        "messages": [
            {"role": "system", "content": DESCRIBE_INSTRUCTIONS},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Four prompts for this image."},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            },
        ],
    }


def answered_prompts(text: str) -> tuple[str, ...]:
    """The numbered prompts of the model's answer (the whole answer when it numbered none)."""
    found = [m.group(1).strip('"') for line in text.splitlines() if (m := _NUMBERED.match(line))]
    prompts = tuple(p for p in found if p) or ((" ".join(text.split()),) if text.strip() else ())
    return prompts[:4]
