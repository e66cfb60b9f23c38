"""``POST /v1/images/edits`` and ``POST /v1/chat/completions`` for the fake OpenAI-compatible
server (``openai_images.py``).

Chat: a request whose messages carry an ``image_url`` part (a data URL or https) is answered in
OpenAI's completion shape with ``VISION_PROMPTS``, numbered, as a vision model asked for four
prompts would; a malformed one gets a 400 naming ``messages``.

Edits:
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


# ``POST /v1/chat/completions`` with an image part: a vision model's answer to /describe.
VISION_PROMPTS = (
    "A red fox curled in fresh snow at the edge of a pine forest, soft overcast light, wildlife "
    "photography, 200 mm lens",
    "Watercolour of a fox asleep in a snowy clearing, muted blues and warm orange, loose brush",
    "A fox in winter woods at dusk, cinematic lighting, shallow depth of field, film grain",
    "Minimalist poster: an orange fox on white snow under tall dark pines, flat colours",
)


def image_parts(body: Any) -> list[str] | str:
    """The image URLs of a chat request's messages, or the error message of a malformed one."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return "Missing required parameter: 'messages'."
    if not body.get("model"):
        return "Missing required parameter: 'model'."
    urls: list[str] = []
    for message in body["messages"]:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = (part.get("image_url") or {}).get("url")
                if not isinstance(url, str) or not url.startswith(("data:image/", "https://")):
                    return "Invalid image URL: expected a data URL or an https URL."
                urls.append(url)
    return urls


def completion(model: str, text: str) -> dict[str, Any]:
    """A chat completion in OpenAI's response shape (CreateChatCompletionResponse)."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 850, "completion_tokens": 160, "total_tokens": 1010},
    }
