"""One usable model: its provider, id, published input schema and price, and everything the
bot derives from that schema (which of its options the model takes, their ranges, the modes it
serves). Nothing here is written per model by hand: a new model is a new schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from bot.config.providers import SPECIAL_MODES
from bot.i18n import N_, _
from bot.providers.capabilities import ASPECT_RATIOS, PROVIDER_CAPABILITIES
from bot.providers.catalogue.schema import InputSchema

Mode = Literal[
    "txt2img", "img2img", "upscale", "inpaint", "outpaint", "segment", "describe", "blend", "video"
]
ALL_MODES: tuple[str, ...] = ("txt2img", *SPECIAL_MODES)  # the order modes are listed in
# Shown with `_` (in /models and in refusals).
MODE_LABELS = {
    "txt2img": N_("text-to-image"),
    "img2img": N_("image-to-image"),
    "lora": N_("LoRAs"),
    "upscale": N_("upscale"),
    "inpaint": N_("inpainting"),
    "outpaint": N_("outpainting"),
    "segment": N_("segmentation"),
    "describe": N_("describing images"),
    "blend": N_("blending images"),
    "video": N_("image-to-video"),
}

# The bot's options and the published input names that carry them, first match wins (fal's and
# cog's snake_case, CivitAI's camelCase, OpenAI's `n` and `size`).
OPTION_NAMES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "negative_prompt": ("negative_prompt", "negativePrompt"),
    "seed": ("seed",),
    "steps": ("num_inference_steps", "steps"),
    "guidance": ("guidance_scale", "guidance", "cfgScale"),
    "count": ("num_images", "num_outputs", "n", "quantity"),
    "aspect_ratio": ("aspect_ratio", "image_size", "size", "width"),
    "image": (
        "image_url",
        "image",
        "input_image",
        "start_image_url",
        "first_frame_image",
        "start_image",
        "input_image_1",
    ),
    "images": ("image_urls",),
    "mask": ("mask_url", "mask_image_url", "mask"),
    "expand": ("expand_left",),
    "zoom_out": ("zoom_out_percentage",),
    "duration": ("duration",),
    "strength": ("strength", "prompt_strength"),
    "loras": ("loras", "lora_weights", "additionalNetworks"),
    "lora_scale": ("lora_scale",),
    "upscale_factor": ("scale", "upscale_factor"),
}

# The start-frame inputs of image-to-video models (a Replicate video model's output is a bare
# URI, like an image model's: these inputs, with a duration, are what tell it apart).
VIDEO_FRAMES = ("start_image_url", "first_frame_image", "start_image")

# What members call each option in refusals.
# An option as refusals name it: with its article ("can't do a fixed seed"), and without it
# ("takes no fixed seed"). Shown with `_`.
OPTION_LABELS = {
    "negative_prompt": N_("a negative prompt"),
    "seed": N_("a fixed seed"),
    "steps": N_("a step count"),
    "guidance": N_("a guidance value"),
    "strength": N_("a strength"),
}
OPTION_NOUNS = {
    "negative_prompt": N_("negative prompt"),
    "seed": N_("fixed seed"),
    "steps": N_("step count"),
    "guidance": N_("guidance value"),
    "strength": N_("strength"),
}

DEFAULT_LORA_SCALE = (-4.0, 4.0)  # where a schema sets no bounds: the bot's own


@dataclass(frozen=True)
class Price:
    """What the provider charges for one output: per image, per megapixel (fal's: 1024x1024
    pixels, each started one billed; see bot/providers/pricing.py), per second of compute, or
    per second of the video made (`video_second`)."""

    unit: Literal["image", "megapixel", "second", "video_second"]
    usd: float

    def per_image(self, megapixels: float) -> float | None:
        if self.unit == "image":
            return self.usd
        if self.unit == "megapixel":
            return self.usd * max(1, math.ceil(megapixels - 1e-9))
        return None  # per second: not known before the job runs; a video: see `per_video`

    def per_video(self, seconds: float) -> float | None:
        return self.usd * seconds if self.unit == "video_second" else None


@dataclass(frozen=True)
class ModelLimits:
    """The ranges one model accepts, read from its schema."""

    steps: tuple[int, int] | None = (1, 50)
    guidance: tuple[float, float] | None = (1.0, 20.0)
    max_images: int = 4
    lora_scale: tuple[float, float] = DEFAULT_LORA_SCALE
    strength: tuple[float, float] | None = None
    max_loras: int = 0

    @property
    def min_steps(self) -> int:
        return self.steps[0] if self.steps else 1

    @property
    def max_steps(self) -> int:
        return self.steps[1] if self.steps else 50


@dataclass(frozen=True, eq=False)
class ModelEntry:
    provider: str
    model: str
    schema: InputSchema
    version: str | None = None  # Replicate community models run by version
    official: bool = True
    price: Price | None = None
    source: str = ""
    taken: str = ""

    @cached_property
    def inputs(self) -> dict[str, str]:
        """Each bot option the model takes, and the published input name it goes to."""
        found = {}
        for option, names in OPTION_NAMES.items():
            name = self.schema.first(*names)
            if name is not None:
                found[option] = name
        return found

    def takes(self, option: str) -> bool:
        return option in self.inputs

    @cached_property
    def modes(self) -> frozenset[str]:
        """What the model does, read from its inputs and its output: a mask input inpaints,
        expand fields outpaint, a text-prompted single-image output with `mask_only` segments,
        a caption string describes, several input images blend, a video output animates."""
        special = self._special_mode()
        if special is not None:
            return frozenset((special,))
        inputs, schema = self.inputs, self.schema
        modes = set()
        image = inputs.get("image")
        if "prompt" in inputs:
            if image is None or image not in schema.required:
                modes.add("txt2img")
            if image is not None:
                modes.add("img2img")
            if "loras" in inputs:
                modes.add("lora")
        elif image is not None:
            modes.add("upscale")
        return frozenset(modes)

    def _special_mode(self) -> str | None:
        inputs, schema = self.inputs, self.schema
        output = schema.output_kind
        if output == "video" or ("duration" in inputs and inputs.get("image") in VIDEO_FRAMES):
            return "video"
        if output == "text":
            return "describe"
        if "mask" in inputs:
            return "inpaint"
        if "expand" in inputs:
            return "outpaint"
        if "images" in inputs or schema.has("input_image_2"):
            return "blend"
        if "prompt" in inputs and schema.has("mask_only") and output == "image":
            return "segment"
        return None

    @cached_property
    def limits(self) -> ModelLimits:
        inputs, schema = self.inputs, self.schema
        steps = _int_range(schema.bounds(inputs["steps"])) if "steps" in inputs else None
        guidance = schema.bounds(inputs["guidance"]) if "guidance" in inputs else None
        count = schema.bounds(inputs["count"]) if "count" in inputs else None
        max_images = 1 if "count" not in inputs else 4
        if count and count[1] != math.inf:
            max_images = max(1, min(4, int(count[1])))
        strength = schema.bounds(inputs["strength"]) if "strength" in inputs else None
        return ModelLimits(
            steps=steps or ((1, 50) if "steps" in inputs else None),
            guidance=guidance or ((0.0, 20.0) if "guidance" in inputs else None),
            max_images=max_images,
            lora_scale=self._lora_scale(),
            strength=strength,
            max_loras=self._max_loras(),
        )

    def _lora_scale(self) -> tuple[float, float]:
        name = self.inputs.get("loras")
        if name is None:
            return DEFAULT_LORA_SCALE
        found = self.schema.bounds("scale", within=name)
        if found is None and "lora_scale" in self.inputs:
            found = self.schema.bounds(self.inputs["lora_scale"])
        if found is None:
            return DEFAULT_LORA_SCALE
        low, high = found
        return (max(low, DEFAULT_LORA_SCALE[0]), min(high, DEFAULT_LORA_SCALE[1]))

    def _max_loras(self) -> int:
        name = self.inputs.get("loras")
        if name is None:
            return 0
        caps = PROVIDER_CAPABILITIES.get(self.provider)
        cap = caps.max_loras if caps else 1
        if not self.schema.is_array(name) and name != "additionalNetworks":
            return 1  # one weights reference (cog-flux's `lora_weights`)
        listed = self.schema.max_items(name)
        return min(cap, listed) if listed else cap

    @cached_property
    def aspect_ratios(self) -> tuple[str, ...]:
        """The bot's ratios this model can draw."""
        name = self.inputs.get("aspect_ratio")
        if name is None:
            return ()
        if name == "size":  # OpenAI: sizes depend on the model family, not the schema
            return PROVIDER_CAPABILITIES[self.provider].aspect_ratios_for(self.model)
        if name == "image_size" and self.schema.takes_object(name):
            return ASPECT_RATIOS
        offered = set(self.schema.enum(name))
        if not offered:
            return ASPECT_RATIOS
        if name == "image_size":
            from bot.providers.catalogue.mapping import FAL_PRESETS

            return tuple(r for r in ASPECT_RATIOS if FAL_PRESETS.get(r) in offered)
        return tuple(r for r in ASPECT_RATIOS if r in offered)

    def describe_modes(self) -> str:
        return ", ".join(_(MODE_LABELS[m]) for m in ALL_MODES if m in self.modes)


def _int_range(bounds: tuple[float, float] | None) -> tuple[int, int] | None:
    if bounds is None:
        return None
    low, high = bounds
    return (math.ceil(low) if low != -math.inf else 1, int(high) if high != math.inf else 50)


def as_price(data: Any) -> Price | None:
    if not isinstance(data, dict):
        return None
    unit, usd = data.get("unit"), data.get("usd")
    if unit in ("image", "megapixel", "second", "video_second") and isinstance(usd, int | float):
        return Price(unit, float(usd))
    return None
