"""The bot's options written onto a model's inputs by their published names.

fal and Replicate models are mapped entirely from their schemas: an input the model does not
publish is never sent (cog drops unknown inputs silently, fal refuses some), and a value is
written in the form the schema takes (fal's `image_size` preset or `{width, height}`, an
`aspect_ratio` enum, a LoRA list or one `lora_weights` reference).
"""

from __future__ import annotations

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


def model_input(
    entry: ModelEntry, request: GenerationRequest, image: str | None = None
) -> dict[str, Any]:
    """The provider input for `request` on `entry`'s model."""
    names = entry.inputs
    data: dict[str, Any] = {}

    def put(option: str, value: Any) -> None:
        if value is not None and option in names:
            data[names[option]] = value

    if request.mode != "upscale":
        put("prompt", request.prompt)
    put("image", image)
    if request.mode == "upscale":
        put("upscale_factor", request.upscale_factor or 2)
    else:
        put("count", request.count)
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
