"""``POST /v1/images/edits`` for the fake OpenAI-compatible server (``openai_images.py``).

The SDK sends ``multipart/form-data``: ``image`` (a file), ``mask`` (a PNG), ``prompt``,
``model``, ``n``. As OpenAI's spec says of the mask: "fully transparent areas (e.g. where alpha
is zero) indicate where `image` should be edited … Must be a valid PNG file, less than 4MB, and
have the same dimensions as `image`": a mask without an alpha channel or of another size is
refused with a 400 in the API's ``{"error": …}`` shape, naming ``mask``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from PIL import Image, UnidentifiedImageError

MAX_MASK_BYTES = 4 * 1024 * 1024


@dataclass
class Edit:
    fields: dict[str, str]
    image: Image.Image
    mask: Image.Image | None


def form_parts(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data body by field name: (file name, bytes)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            data = part.get_payload(decode=True)
            parts[name.removesuffix("[]")] = (part.get_filename(), data or b"")
    return parts


def read_edit(parts: dict[str, tuple[str | None, bytes]]) -> Edit | tuple[str, str]:
    """The edit, or (the error message, the param it names)."""
    fields = {k: v[1].decode("utf-8", "replace") for k, v in parts.items() if v[0] is None}
    if "image" not in parts:
        return "Missing required parameter: 'image'.", "image"
    if not fields.get("prompt"):
        return "Missing required parameter: 'prompt'.", "prompt"
    try:
        image = _open(parts["image"][1])
    except (UnidentifiedImageError, OSError):
        return "Invalid image file or mode for image 1, please check your image file.", "image"
    mask = None
    if "mask" in parts:
        data = parts["mask"][1]
        try:
            mask = _open(data)
        except (UnidentifiedImageError, OSError):
            return "Invalid mask image file, please check your mask file.", "mask"
        if mask.format != "PNG" or len(data) > MAX_MASK_BYTES:
            return "Invalid mask: it must be a PNG file of less than 4 MB.", "mask"
        if mask.mode not in ("RGBA", "LA") and "transparency" not in mask.info:
            return (
                f"Invalid input image - format must be in ['RGBA', 'LA'], got {mask.mode}.",
                "mask",
            )
        if mask.size != image.size:
            return (
                f"Invalid mask: its size {mask.size[0]}x{mask.size[1]} does not match the "
                f"image's {image.size[0]}x{image.size[1]}.",
                "mask",
            )
    return Edit(fields, image, mask)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def edit_body(edit: Edit) -> dict[str, Any]:
    """The edit's fields as a generation body, for the shared answer code."""
    body: dict[str, Any] = {"prompt": edit.fields["prompt"], "model": edit.fields.get("model")}
    if "n" in edit.fields:
        body["n"] = int(edit.fields["n"])
    return body
