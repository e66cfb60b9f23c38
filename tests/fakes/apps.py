"""What the image/video apps behind the fakes answer, each with its own published output shape.

``fal.py`` and ``replicate.py`` serve flux-like results for any model; the models named in
``FAL_APPS`` and ``REPLICATE_APPS`` (the bot's issue-15 snapshots) are answered here instead, by
their kind:

- ``segment`` (fal-ai/evf-sam): ``{"image": File}``, a mode-"L" PNG mask (foreground 255, rest
  0) the size of the input. The white boxes come from ``SEGMENT_REGIONS`` (fractions of the
  image) for every key word found in ``prompt``, minus those found in ``negative_prompt``;
  nothing found → all black, as real segmenters answer. ``revert_mask`` inverts it,
  ``expand_mask`` grows the boxes by that many pixels; ``blur_mask``/``fill_holes`` are not
  modelled. ``mask_only: false`` answers the input with everything outside the mask black.
- ``fill``: the input image with the mask's white area painted (a seed colour), at the input's
  size (fal; flux-lora/inpainting's ``image_size`` when given) or at cog-flux's size (Replicate
  flux-fill-dev: ``megapixels`` "1"/"0.25" rescale, "match_input" keeps the size under
  1440x1440; both floor to multiples of 32, ``size_maybe_match_input`` in predict.py). The
  decoded mask of every fill is appended to the fake's ``masks``. fal-ai/flux-pro/v1/fill and
  fal-ai/flux-lora/inpainting refuse a mask whose size differs from the image's; cog-flux
  resizes the mask to the image (``maybe_scale_to_size_and_convert_to_tensor``) and fails
  without one (``Image.open(None)``).
- ``outpaint`` (fal-ai/image-apps-v2/outpaint): a solid PNG (or jpeg/webp) of the expanded size
  (input + ``expand_*``), grown by ``zoom_out_percentage`` (default 20) so the picture covers
  ``100 - p`` % of each side: ``round(w / (1 - p / 100))``.
- ``caption``: florence ``{"results": CAPTION}``; moondream ``{"output", "finish_reason",
  "usage_info"}`` (``length: "short"`` answers ``SHORT_CAPTION``). ``Script.result`` replaces it.
- ``blend``: every input image decoded; fal ``images[]``, Replicate's kontext-pro one URI string.
- ``video``: fal ``{"video": File}`` (wan also ``seed``), Replicate one URI string; the bytes are
  an ``ftyp``(isom) + zero ``mdat`` MP4 (``make_mp4``), ``video_bytes`` long when the fake's
  ``video_bytes`` is set. minimax/hailuo-02 fails a 10 s video at any resolution but 768p;
  kwaivgi/kling-v1.6-pro fails without a start or end image.

Input images (``open_input``): a ``data:`` URI, a file on the fake CDN (fal's storage uploads
live there too), or a Replicate ``/v1/files`` upload, read from the fakes' own records (no
network). Anything else fails the request as the provider does: fal answers 422 with its
toolkit's ``file_download_error`` (or ``image_load_error`` for bytes that are not an image),
``{"detail": [{"loc": ["body", field, ...], "msg", "type", "input", "ctx": null}]}``
(fal-ai/fal ``projects/fal/src/fal/toolkit/exceptions.py``); a Replicate prediction fails with
the error its cog worker raises: requests' ``404 Client Error: Not Found for url: …`` (cog's
``URLFile`` calls ``raise_for_status``) or Pillow's ``cannot identify image file '…'``.
"""

from __future__ import annotations

import base64
import io
import math
import os
import random
import re
import string
import struct
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw, UnidentifiedImageError

from .cdn import CONTENT_TYPES, FakeCDN, Upload, seed_color

if TYPE_CHECKING:
    from .fal import FakeFal, Job
    from .replicate import FakePrediction, FakeReplicate

# -- what tests may import ---------------------------------------------------------------------

# Key word -> the box (left, top, right, bottom), as fractions of the image, that
# fal-ai/evf-sam marks white when the word appears in its prompt (case-insensitive).
SEGMENT_REGIONS: dict[str, tuple[float, float, float, float]] = {
    "sky": (0.0, 0.0, 1.0, 0.25),
    "jacket": (0.25, 0.5, 0.75, 1.0),
    "face": (0.375, 0.125, 0.625, 0.375),
    "background": (0.0, 0.0, 1.0, 0.5),
}

CAPTION = (
    "The image shows a red fox sitting in the snow at the edge of a pine forest. "
    "The fox has a bushy tail curled around its front paws and its ears are pricked up. "
    "Its fur is a deep orange with a white chest and dark legs. "
    "In the background, tall snow-covered pine trees stand under a pale grey sky. "
    "The light is soft and even, suggesting an overcast winter afternoon."
)
SHORT_CAPTION = "A red fox sitting in the snow in front of a pine forest."

MIN_VIDEO_BYTES = 40  # an ftyp box (32) + an empty mdat header (8)
DEFAULT_VIDEO_BYTES = 2048
MP4_CONTENT_TYPE = "video/mp4"

# Replicate flux-fill-dev (cog-flux predict.py MAX_IMAGE_SIZE)
FILL_DEV_MAX_SIDE = 1440

# fal's image_size presets (fal.py reads them from here)
IMAGE_PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
}


@dataclass(frozen=True)
class App:
    """How one endpoint behaves: its kind, the arguments that carry input images (a string or
    a list of strings each), and the details of its output."""

    kind: str  # segment | fill | outpaint | caption | blend | video
    images: tuple[str, ...]
    mask: str | None = None  # fill: the argument with the mask
    mask_must_match: bool = False  # fill: refuse a mask whose size differs from the image's
    output_format: str = "png"  # the schema's default
    file_images: bool = False  # fal images[] items are File-style (file_name, file_size)
    max_images: int | None = None  # list arguments beyond this are silently dropped
    variant: str = ""  # a detail only one endpoint has (moondream, wan, hailuo, kling)


FAL_APPS: dict[str, App] = {
    "fal-ai/evf-sam": App("segment", ("image_url",)),
    "fal-ai/flux-pro/v1/fill": App(
        "fill", ("image_url", "mask_url"), mask="mask_url", mask_must_match=True,
        output_format="jpeg",
    ),
    "fal-ai/flux-lora/inpainting": App(
        "fill", ("image_url", "mask_url"), mask="mask_url", mask_must_match=True,
        output_format="jpeg",
    ),
    "fal-ai/image-apps-v2/outpaint": App("outpaint", ("image_url",), file_images=True),
    "fal-ai/florence-2-large/more-detailed-caption": App("caption", ("image_url",)),
    "fal-ai/moondream3-preview/caption": App("caption", ("image_url",), variant="moondream"),
    "fal-ai/flux-pro/kontext/multi": App("blend", ("image_urls",), output_format="jpeg"),
    "fal-ai/flux-2/edit": App("blend", ("image_urls",), file_images=True, max_images=4),
    "fal-ai/kling-video/v3/standard/image-to-video": App(
        "video", ("start_image_url", "end_image_url")
    ),
    "fal-ai/veo3.1/fast/image-to-video": App("video", ("image_url",)),
    "fal-ai/wan/v2.7/image-to-video": App("video", ("image_url", "end_image_url"), variant="wan"),
}  # fmt: skip

REPLICATE_APPS: dict[str, App] = {
    "black-forest-labs/flux-fill-dev": App("fill", ("image", "mask"), mask="mask",
                                           output_format="webp"),
    "flux-kontext-apps/multi-image-kontext-pro": App("blend", ("input_image_1", "input_image_2")),
    "minimax/hailuo-02": App("video", ("first_frame_image", "last_frame_image"),
                             variant="hailuo"),
    "kwaivgi/kling-v1.6-pro": App("video", ("start_image", "end_image", "reference_images"),
                                  variant="kling"),
}  # fmt: skip

# Errors, worded as their sources word them (see the module docstring).
FAL_DOWNLOAD_MSG = (
    "Failed to download the file. Please check if the URL is accessible and try again."
)
FAL_LOAD_MSG = (
    "Failed to load the image. Please ensure the image file is not corrupted and is in a "
    "supported format."
)
HAILUO_10S_ERROR = "10 seconds is only available for 768p resolution."
KLING_NO_IMAGE_ERROR = "A start or end image is required."
NO_MASK_ERROR = "'NoneType' object has no attribute 'read'"  # cog-flux's Image.open(None)


# -- input images ------------------------------------------------------------------------------


class InputError(Exception):
    """An input image the app could not read: ``reason`` is ``download`` (no such file) or
    ``load`` (not an image); ``loc`` its place in the arguments."""

    def __init__(self, loc: tuple[str | int, ...], value: Any, reason: str) -> None:
        super().__init__(f"{'/'.join(map(str, loc))}: {reason} {str(value)[:80]!r}")
        self.loc, self.value, self.reason = loc, value, reason


def input_bytes(value: Any, cdn: FakeCDN, uploads: Iterable[Upload] = ()) -> bytes | None:
    """The bytes an input argument stands for: a ``data:`` URI's, a fake-CDN file's, or an
    upload's (by its URL); None when it is none of them."""
    if not isinstance(value, str):
        return None
    if value.startswith("data:"):
        head, comma, payload = value[5:].partition(",")
        if not comma:
            return None
        try:
            if head.endswith(";base64"):
                return base64.b64decode(payload, validate=False)
            return urllib.parse.unquote_to_bytes(payload)
        except ValueError:
            return None
    bare = urllib.parse.urlsplit(value)._replace(query="", fragment="").geturl()
    for upload in uploads:
        if upload.url == bare or upload.url == value:
            return upload.data
    if cdn.port:
        prefix = cdn.base_url
        if bare.startswith(prefix + "/"):
            item = cdn.files.get(urllib.parse.unquote(bare[len(prefix) :]))
            if item is not None:
                return item[0]
    return None


def open_input(
    value: Any,
    cdn: FakeCDN,
    uploads: Iterable[Upload] = (),
    loc: tuple[str | int, ...] = ("image_url",),
) -> Image.Image:
    """The decoded image of an input argument (see :func:`input_bytes`); raises
    :class:`InputError` when it cannot be had or is not an image."""
    data = input_bytes(value, cdn, uploads)
    if data is None:
        raise InputError(loc, value, "download")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(loc, value, "load") from exc
    return img


@dataclass
class Prepared:
    """What an app read from one request before running: its decoded input images, by
    argument (each a list: one item for a single URL), and a fill's mask."""

    app: App
    images: dict[str, list[Image.Image]] = field(default_factory=dict)
    mask: Image.Image | None = None

    def first(self) -> Image.Image | None:
        for name in self.app.images:
            if name != self.app.mask and self.images.get(name):
                return self.images[name][0]
        return None


def _image_args(app: App, args: dict[str, Any]) -> Iterator[tuple[str, list[tuple[Any, Any]]]]:
    """``(argument, [(loc, value), ...])`` for each image argument present."""
    for name in app.images:
        value = args.get(name)
        if value is None:
            continue
        if isinstance(value, list):
            items = value[: app.max_images] if app.max_images is not None else value
            yield name, [((name, i), v) for i, v in enumerate(items)]
        else:
            yield name, [((name,), value)]


def _decode(app: App, args: dict[str, Any], cdn: FakeCDN, uploads: Iterable[Upload]) -> Prepared:
    """Every input image of the request decoded (raises :class:`InputError` at the first that
    cannot be, in argument order)."""
    uploads = list(uploads)
    prepared = Prepared(app)
    for name, items in _image_args(app, args):
        prepared.images[name] = [open_input(v, cdn, uploads, loc) for loc, v in items]
    if app.mask is not None and prepared.images.get(app.mask):
        prepared.mask = prepared.images[app.mask][0]
    return prepared


# -- fal -----------------------------------------------------------------------------------------


def fal_app(app_id: str) -> App | None:
    return FAL_APPS.get(app_id)


def fal_prepare(
    fake: FakeFal, app_id: str, args: dict[str, Any]
) -> Prepared | list[dict[str, Any]]:
    """Read a submitted request's inputs as the app would: the prepared inputs, or the 422
    ``detail`` list the job fails with. A fill's mask is recorded in ``fake.masks``."""
    app = FAL_APPS[app_id]
    try:
        prepared = _decode(app, args, fake.cdn, fake.uploads)
    except InputError as err:
        return [_fal_toolkit_error(err)]
    if prepared.mask is not None:
        fake.masks.append(prepared.mask.copy())
        image = prepared.first()
        if app.mask_must_match and image is not None and image.size != prepared.mask.size:
            (w, h), (mw, mh) = image.size, prepared.mask.size
            # fal's FieldException(field, message).to_pydantic_format()
            msg = (
                f"The mask needs to match the dimensions of the input image: the image is "
                f"{w}x{h}, the mask {mw}x{mh}."
            )
            return [{"loc": ["body", app.mask], "msg": msg, "type": "value_error"}]
    return prepared


def _fal_toolkit_error(err: InputError) -> dict[str, Any]:
    """fal toolkit's FileDownloadException / ImageLoadException ``ErrorDetail.as_dict()``."""
    download = err.reason == "download"
    return {
        "loc": ["body", *err.loc],
        "msg": FAL_DOWNLOAD_MSG if download else FAL_LOAD_MSG,
        "type": "file_download_error" if download else "image_load_error",
        "input": err.value,
        "ctx": None,
    }


def fal_result(fake: FakeFal, job: Job, prepared: Prepared) -> dict[str, Any]:
    """The result body of a finished, successful job of an app in ``FAL_APPS``."""
    app, args = prepared.app, job.arguments
    if app.kind == "segment":
        return _fal_segment(fake, job, prepared)
    if app.kind == "caption":
        return _fal_caption(app, args)
    if app.kind == "video":
        data = make_mp4(fake.video_bytes)
        url = fake.cdn.put(f"files/{job.request_id}/output.mp4", data, MP4_CONTENT_TYPE)
        video = {
            "url": url,
            "content_type": MP4_CONTENT_TYPE,
            "file_name": "output.mp4",
            "file_size": len(data),
        }
        return {"video": video, "seed": job.seed} if app.variant == "wan" else {"video": video}
    return _fal_images(fake, job, prepared)


def _fal_segment(fake: FakeFal, job: Job, prepared: Prepared) -> dict[str, Any]:
    args = job.arguments
    image = prepared.first()
    assert image is not None  # image_url is required by the schema
    mask = segment_mask(
        image.size,
        str(args.get("prompt") or ""),
        negative_prompt=str(args.get("negative_prompt") or ""),
        revert=bool(args.get("revert_mask", False)),
        expand=int(args.get("expand_mask") or 0),
    )
    out = mask
    if args.get("mask_only", True) is False:
        out = Image.composite(image.convert("RGB"), Image.new("RGB", image.size), mask)
    data = encode(out, "png")
    url = fake.cdn.put(f"files/{job.request_id}/mask.png", data, CONTENT_TYPES["png"])
    return {
        "image": {
            "url": url,
            "content_type": CONTENT_TYPES["png"],
            "file_name": "mask.png",
            "file_size": len(data),
        }
    }


def _fal_caption(app: App, args: dict[str, Any]) -> dict[str, Any]:
    if app.variant != "moondream":
        return {"results": CAPTION}
    text = SHORT_CAPTION if args.get("length") == "short" else CAPTION
    words = len(text.split())
    return {
        "output": text,
        "finish_reason": "stop",
        "usage_info": {
            "input_tokens": 735,
            "output_tokens": math.ceil(words * 1.3),
            "prefill_time_ms": 41.5,
            "decode_time_ms": round(words * 9.2, 1),
            "ttft_ms": 52.3,
        },
    }


def _fal_images(fake: FakeFal, job: Job, prepared: Prepared) -> dict[str, Any]:
    """fill, outpaint and blend: ``images[]`` (+ the flux extras where the schema has them)."""
    app, args, script = prepared.app, job.arguments, job.script
    n = int(args.get("num_images", 1) or 1)
    fmt = str(args.get("output_format") or app.output_format).lower()
    fmt = "jpeg" if fmt == "jpg" else fmt
    ext = "jpg" if fmt == "jpeg" else fmt
    nsfw = script.nsfw if isinstance(script.nsfw, list) else [script.nsfw] * n
    nsfw = (list(nsfw) + [False] * n)[:n]
    images = []
    for i in range(n):
        color = (0, 0, 0) if nsfw[i] else seed_color(job.seed, i)
        if app.kind == "outpaint":
            width, height = outpaint_size(prepared.first(), args)
            data = solid_image(width, height, color, fmt)
        else:
            if app.kind == "fill":
                picture = _filled(prepared, _fal_fill_size(prepared, args), color)
            else:
                picture = Image.new("RGB", _fal_blend_size(prepared, args), color)
            if nsfw[i]:
                picture = Image.new("RGB", picture.size)
            width, height = picture.size
            data = encode(picture, fmt)
        url = fake.cdn.put(f"files/{job.request_id}/{i}.{ext}", data, CONTENT_TYPES[fmt])
        item: dict[str, Any] = {"url": url, "width": width, "height": height}
        item["content_type"] = CONTENT_TYPES[fmt]
        if app.file_images:
            item.update(file_name=f"{i}.{ext}", file_size=len(data))
        images.append(item)
    if app.kind == "outpaint":
        return {"images": images, "seed": job.seed}
    return {
        "images": images,
        "timings": {"inference": script.run_s},
        "seed": job.seed,
        "has_nsfw_concepts": nsfw,
        "prompt": args.get("prompt", ""),
    }


def _fal_fill_size(prepared: Prepared, args: dict[str, Any]) -> tuple[int, int]:
    size = _preset_size(args.get("image_size"))
    if size is not None:  # flux-lora/inpainting
        return size
    image = prepared.first()
    return image.size if image is not None else (1024, 1024)


def _fal_blend_size(prepared: Prepared, args: dict[str, Any]) -> tuple[int, int]:
    size = _preset_size(args.get("image_size"))  # flux-2/edit
    if size is not None:
        return size
    ratio = args.get("aspect_ratio")  # kontext/multi
    if isinstance(ratio, str) and ":" in ratio:
        return ratio_size(ratio)
    image = prepared.first()
    return image.size if image is not None else (1024, 1024)


def _preset_size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, dict):
        return int(value.get("width", 512)), int(value.get("height", 512))
    if isinstance(value, str):
        return IMAGE_PRESETS.get(value)
    return None


# -- Replicate -----------------------------------------------------------------------------------


def replicate_app(model: str) -> App | None:
    return REPLICATE_APPS.get(model)


def replicate_prepare(fake: FakeReplicate, model: str, inp: dict[str, Any]) -> Prepared | str:
    """Read a created prediction's inputs as cog and the model would: the prepared inputs, or
    the error string the prediction fails with. A fill's mask is recorded in ``fake.masks``."""
    app = REPLICATE_APPS[model]
    try:
        prepared = _decode(app, inp, fake.cdn, fake.uploads)
    except InputError as err:
        return _replicate_error(err)
    if app.kind == "fill":
        if prepared.mask is None:
            return NO_MASK_ERROR
        fake.masks.append(prepared.mask.copy())
    if app.variant == "hailuo":
        duration, resolution = inp.get("duration", 6), inp.get("resolution", "1080p")
        if duration == 10 and resolution != "768p":
            return HAILUO_10S_ERROR
    if app.variant == "kling" and not (inp.get("start_image") or inp.get("end_image")):
        return KLING_NO_IMAGE_ERROR
    return prepared


def _replicate_error(err: InputError) -> str:
    if err.reason == "download":
        return f"404 Client Error: Not Found for url: {err.value}"
    # cog downloads into NamedTemporaryFile(suffix=filename) and the model opens that path
    value = str(err.value)
    name = "" if value.startswith("data:") else os.path.basename(urllib.parse.urlsplit(value).path)
    tmp = "".join(random.choices(string.ascii_lowercase + string.digits + "_", k=8))
    return f"cannot identify image file '/tmp/tmp{tmp}{name}'"


def replicate_output(fake: FakeReplicate, pred: FakePrediction, prepared: Prepared) -> Any:
    """The output of a succeeded prediction of a model in ``REPLICATE_APPS``."""
    app, inp = prepared.app, pred.input
    if app.kind == "video":
        data = make_mp4(fake.video_bytes)
        return fake.cdn.put(f"xezq/{pred.id}/output.mp4", data, MP4_CONTENT_TYPE)
    fmt = str(inp.get("output_format") or app.output_format).lower()
    fmt = "jpg" if fmt == "jpeg" else fmt
    if app.kind == "blend":  # multi-image-kontext-pro: one URI string
        ratio = str(inp.get("aspect_ratio") or "match_input_image")
        image = prepared.first()
        if ratio == "match_input_image" and image is not None:
            size = image.size
        else:
            size = ratio_size(ratio if ":" in ratio else "1:1")
        data = encode(Image.new("RGB", size, seed_color(pred.seed, 0)), fmt)
        return fake.cdn.put(f"xezq/{pred.id}/output.{fmt}", data, CONTENT_TYPES[fmt])
    # flux-fill-dev: a list, less the images the safety checker drops (Script.drop)
    image = prepared.first()
    assert image is not None  # image is required by the schema
    size = fill_dev_size(image.size, str(inp.get("megapixels") or "1"))
    urls = []
    for i in range(max(int(inp.get("num_outputs", 1) or 1) - pred.script.drop, 0)):
        data = encode(_filled(prepared, size, seed_color(pred.seed, i)), fmt)
        urls.append(fake.cdn.put(f"xezq/{pred.id}/out-{i}.{fmt}", data, CONTENT_TYPES[fmt]))
    return urls


def fill_dev_size(size: tuple[int, int], megapixels: str) -> tuple[int, int]:
    """cog-flux ``size_maybe_match_input``: the output size of flux-fill-dev."""
    width, height = size
    if megapixels == "match_input":
        scale = min(FILL_DEV_MAX_SIDE / width, FILL_DEV_MAX_SIDE / height, 1)
        if scale < 1:
            width, height = int(width * scale), int(height * scale)
    else:
        scale = (int(float(megapixels) * 1024 * 1024) / (width * height)) ** 0.5
        width, height = int(width * scale), int(height * scale)
    return int(width / 32) * 32, int(height / 32) * 32


# -- pictures ------------------------------------------------------------------------------------


def segment_mask(
    size: tuple[int, int],
    prompt: str,
    *,
    negative_prompt: str = "",
    revert: bool = False,
    expand: int = 0,
) -> Image.Image:
    """The evf-sam mask (mode "L", 0/255) of ``prompt`` on an image of ``size``."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for box in _boxes(size, prompt, expand):
        draw.rectangle(box, fill=255)
    for box in _boxes(size, negative_prompt, expand):
        draw.rectangle(box, fill=0)
    if revert:
        mask = mask.point(lambda v: 255 - v)
    return mask


def segment_words(prompt: str) -> list[str]:
    """The ``SEGMENT_REGIONS`` keys that appear as words in ``prompt`` (case-insensitive)."""
    return [k for k in SEGMENT_REGIONS if re.search(rf"\b{re.escape(k)}\b", prompt, re.I)]


def region_box(
    size: tuple[int, int], fractions: tuple[float, float, float, float], expand: int = 0
) -> tuple[int, int, int, int]:
    """The pixel box (left, top, right, bottom; right/bottom exclusive) of a region."""
    w, h = size
    left, top, right, bottom = fractions
    return (
        max(0, round(left * w) - expand),
        max(0, round(top * h) - expand),
        min(w, round(right * w) + expand),
        min(h, round(bottom * h) + expand),
    )


def _boxes(size: tuple[int, int], prompt: str, expand: int) -> Iterator[tuple[int, int, int, int]]:
    for word in segment_words(prompt):
        left, top, right, bottom = region_box(size, SEGMENT_REGIONS[word], expand)
        if right > left and bottom > top:
            yield left, top, right - 1, bottom - 1  # ImageDraw's boxes include their edge


def outpaint_size(image: Image.Image | None, args: dict[str, Any]) -> tuple[int, int]:
    """image-apps-v2/outpaint's output size for an input image and its arguments."""
    width, height = image.size if image is not None else (1024, 1024)
    width += int(args.get("expand_left", 0) or 0) + int(args.get("expand_right", 0) or 0)
    height += int(args.get("expand_top", 0) or 0) + int(args.get("expand_bottom", 0) or 0)
    keep = 1 - float(args.get("zoom_out_percentage", 20)) / 100
    return round(width / keep), round(height / keep)


def ratio_size(ratio: str, megapixels: float = 1.0, multiple: int = 16) -> tuple[int, int]:
    """About ``megapixels`` at ``ratio`` ("w:h"), each side a multiple of ``multiple``."""
    rw, rh = (float(x) for x in ratio.split(":", 1))
    area = megapixels * 1024 * 1024
    width = math.sqrt(area * rw / rh)
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(area / width / multiple) * multiple),
    )


def _filled(prepared: Prepared, size: tuple[int, int], color: tuple[int, int, int]) -> Image.Image:
    """The input image at ``size`` with the mask's white area painted ``color``."""
    image = prepared.first()
    base = (image or Image.new("RGB", size)).convert("RGB")
    if base.size != size:
        base = base.resize(size)
    if prepared.mask is None:
        return base
    mask = prepared.mask.convert("L")
    if mask.size != size:
        mask = mask.resize(size)
    return Image.composite(Image.new("RGB", size, color), base, mask)


_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


def encode(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if _PIL_FORMATS[fmt.lower()] != "PNG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(buf, format=_PIL_FORMATS[fmt.lower()])
    return buf.getvalue()


def solid_image(width: int, height: int, color: tuple[int, int, int], fmt: str = "png") -> bytes:
    """A solid-colour image of that size; a PNG is written row by row (cheap at any size)."""
    if fmt.lower() != "png":
        return encode(Image.new("RGB", (width, height), color), fmt)
    return solid_png(width, height, color)


def solid_png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    """A valid RGB PNG of one colour, never holding more than one row uncompressed."""
    row = b"\x00" + bytes(color) * width  # filter type 0, then the pixels
    comp = zlib.compressobj(6)
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", ihdr), _chunk(b"IDAT", b"".join(parts)),
         _chunk(b"IEND", b""))
    )  # fmt: skip


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def make_mp4(size: int | None = None) -> bytes:
    """An MP4-looking file: an ``ftyp`` box (major brand ``isom``) and a zero-filled ``mdat``,
    ``size`` bytes in all (at least ``MIN_VIDEO_BYTES``; default ``DEFAULT_VIDEO_BYTES``)."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    total = max(MIN_VIDEO_BYTES, DEFAULT_VIDEO_BYTES if size is None else size)
    return ftyp + struct.pack(">I", total - len(ftyp)) + b"mdat" + bytes(total - len(ftyp) - 8)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload
