"""The bot's options written onto a model's inputs by their published names.

fal and Replicate models are mapped entirely from their schemas: an input the model does not
publish is never sent (cog drops unknown inputs silently, fal refuses some), and a value is
written in the form the schema takes (fal's `image_size` preset or `{width, height}`, an
`aspect_ratio` enum, a LoRA list or one `lora_weights` reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.providers.catalogue.entry import ModelEntry

if TYPE_CHECKING:
    from bot.providers.request import GenerationRequest

# fal's `image_size` presets for the bot's ratios; the others go as `{width, height}`.
FAL_PRESETS: dict[str, str] = {
    "1:1": "square_hd",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
}
# Sizes near one megapixel, multiples of 16, for each of the bot's ratios.
PIXEL_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1024, 576),
    "9:16": (576, 1024),
    "4:3": (1024, 768),
    "3:4": (768, 1024),
    "3:2": (1216, 816),
    "2:3": (816, 1216),
    "21:9": (1536, 656),
}
PLACEHOLDER_IMAGE = "https://example.com/input.png"  # what validation checks before upload
# The cheaper of a video model's tiers where its defaults are the dearest (1080p, audio on).
VIDEO_RESOLUTIONS = ("768p", "720p")
# The pair of image inputs of a two-image blend model (Replicate's multi-image-kontext-pro).
IMAGE_PAIR = ("input_image_1", "input_image_2")


@dataclass(frozen=True)
class ExtraInputs:
    """A job's input files beyond its first image, as URLs (or data URIs) the provider
    fetches: the inpainting mask, and a blend's other images."""

    mask: str | None = None
    images: tuple[str, ...] = ()


NO_EXTRA = ExtraInputs()


def model_input(
    entry: ModelEntry,
    request: GenerationRequest,
    image: str | None = None,
    extra: ExtraInputs = NO_EXTRA,
) -> dict[str, Any]:
    """The provider input for `request` on `entry`'s model."""
    names = entry.inputs
    data: dict[str, Any] = {}

    def put(option: str, value: Any) -> None:
        if value is not None and option in names:
            data[names[option]] = value

    if request.mode not in ("upscale", "describe"):
        put("prompt", request.region if request.mode == "segment" else request.prompt)
    put("image", image)
    if request.mode == "upscale":
        put("upscale_factor", request.upscale_factor or 2)
    elif request.mode not in ("segment", "describe", "video"):
        put("count", request.count)
    _action_inputs(entry, request, data, image, extra)
    if request.mode == "txt2img" and "aspect_ratio" in names:
        data[names["aspect_ratio"]] = _size(entry, request.aspect_ratio)
    if request.loras:
        _put_loras(entry, request, data)
    put("negative_prompt", request.negative_prompt)
    put("seed", request.seed)
    put("steps", request.steps)
    put("guidance", request.guidance)
    put("strength", request.strength)
    _safety_and_format(entry, request, data)
    return data


def _action_inputs(
    entry: ModelEntry,
    request: GenerationRequest,
    data: dict[str, Any],
    image: str | None,
    extra: ExtraInputs,
) -> None:
    """The image actions' own inputs (issue 15), by the names the model publishes."""
    names, schema, mode = entry.inputs, entry.schema, request.mode
    if mode == "inpaint" and "mask" in names:
        data[names["mask"]] = extra.mask
        if "strength" in names and request.strength is None:
            data[names["strength"]] = 1.0  # flux-lora/inpainting's 0.85 would keep some old
        if "match_input" in schema.enum("megapixels"):
            data["megapixels"] = "match_input"  # cog's fill: the output the input's size
    elif mode == "outpaint":
        for side, pixels in zip(("left", "right", "top", "bottom"), request.expand, strict=True):
            if schema.has(f"expand_{side}"):
                data[f"expand_{side}"] = pixels
        if "zoom_out" in names:  # its default (20) would shrink a pan too
            data[names["zoom_out"]] = round(request.zoom_out or 0.0, 2)
    elif mode == "segment" and schema.has("mask_only"):
        data["mask_only"] = True
    elif mode == "blend":
        every = [u for u in (image, *extra.images) if u]
        if "images" in names:
            data.pop(names.get("image", ""), None)
            data[names["images"]] = every
        elif schema.has(IMAGE_PAIR[1]):
            data.update(zip(IMAGE_PAIR, every, strict=False))
    elif mode == "video":
        _video_inputs(entry, request, data)


def _video_inputs(entry: ModelEntry, request: GenerationRequest, data: dict[str, Any]) -> None:
    """A duration in the type the schema takes ("5", "8s" or 5), the cheaper resolution where
    it offers one (the defaults are the dearest), and no audio track."""
    schema = entry.schema
    if request.duration is not None and "duration" in entry.inputs:
        data["duration"] = video_duration(entry, request.duration)
    for resolution in VIDEO_RESOLUTIONS:
        if resolution in schema.enum("resolution"):
            data["resolution"] = resolution
            break
    if schema.has("generate_audio"):
        data["generate_audio"] = False


def video_durations(entry: ModelEntry) -> tuple[int, ...]:
    """The clip lengths, in seconds, the model's schema offers."""
    offered = entry.schema.enum("duration")
    if offered:
        found = (int(str(v).rstrip("s")) for v in offered if str(v).rstrip("s").isdigit())
        return tuple(sorted(set(found)))
    bounds = entry.schema.bounds("duration")
    if bounds is not None:
        low = max(1, int(bounds[0]) if bounds[0] != float("-inf") else 1)
        high = min(30, int(bounds[1]) if bounds[1] != float("inf") else 10)
        return tuple(range(low, high + 1))
    default = entry.schema.default("duration")
    return (int(str(default).rstrip("s")),) if default is not None else ()


def video_duration(entry: ModelEntry, seconds: int) -> Any:
    """`seconds` written as the model's schema spells durations."""
    for value in entry.schema.enum("duration"):
        if str(value).rstrip("s") == str(seconds):
            return value
    return seconds


def _size(entry: ModelEntry, ratio: str) -> Any:
    name = entry.inputs["aspect_ratio"]
    if name != "image_size":
        return ratio
    preset = FAL_PRESETS.get(ratio)
    if preset is not None and preset in entry.schema.enum(name):
        return preset
    width, height = PIXEL_SIZES[ratio]
    return {"width": width, "height": height}


def _put_loras(entry: ModelEntry, request: GenerationRequest, data: dict[str, Any]) -> None:
    name = entry.inputs.get("loras")
    if name is None:
        return
    if entry.schema.is_array(name):
        data[name] = [{"path": lora.path, "scale": lora.scale} for lora in request.loras]
        return
    data[name] = request.loras[0].path
    if "lora_scale" in entry.inputs:
        data[entry.inputs["lora_scale"]] = request.loras[0].scale


def _safety_and_format(entry: ModelEntry, request: GenerationRequest, data: dict[str, Any]) -> None:
    """The provider's safety checker stays on, results come as PNG where the model offers it,
    and a fixed seed turns off what would keep it from reproducing."""
    schema = entry.schema
    if schema.has("enable_safety_checker"):
        data["enable_safety_checker"] = True
    if schema.has("disable_safety_checker"):
        data["disable_safety_checker"] = False
    if "png" in schema.enum("output_format"):
        data["output_format"] = "png"
    if request.seed is not None and schema.has("go_fast"):
        # cog-flux's `go_fast` (fp8 weights, on by default) does not reproduce a seed exactly:
        # a member who fixed one wants the same image again.
        data["go_fast"] = False
