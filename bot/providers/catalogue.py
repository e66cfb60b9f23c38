"""What each provider and model accepts: the checks `build_request` makes against the
catalogue (capabilities, per-mode models, ranges), each naming a provider that can when one
can't.

The next step makes this data read from each provider's published schema; today it is the
capability table (`capabilities.py`) and a few per-family ranges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Config
from bot.errors import InvalidRequest
from bot.providers.capabilities import PROVIDER_CAPABILITIES

if TYPE_CHECKING:
    from bot.providers.request import Mode


@dataclass(frozen=True)
class ModelLimits:
    """The ranges one model family accepts; the providers' own validators agree with these."""

    max_steps: int = 50
    guidance: tuple[float, float] | None = (1.0, 20.0)
    min_steps: int = 1


def model_limits(provider: str, model: str) -> ModelLimits:
    fast = "schnell" in model
    if provider == "replicate":
        if fast:
            return ModelLimits(max_steps=4, guidance=None)
        return ModelLimits(max_steps=50, guidance=(0.0, 10.0))
    if fast:
        return ModelLimits(max_steps=12, guidance=None)
    if "image-to-image" in model:  # fal's img2img endpoints: num_inference_steps 10–50
        return ModelLimits(max_steps=50, guidance=(1.0, 20.0), min_steps=10)
    return ModelLimits(max_steps=50, guidance=(1.0, 20.0))


MODE_NAMES = {"txt2img": "text-to-image", "img2img": "image-to-image", "upscale": "upscaling"}


def mode_model(config: Config, provider: str, mode: Mode, *, has_loras: bool) -> str | None:
    """The configured model for a special mode, or None for plain text-to-image."""
    settings = config.providers[provider]
    if mode == "upscale":
        return settings.upscale_model
    if mode == "img2img":
        return settings.img2img_model
    if has_loras:
        return settings.lora_model
    return None


def check_capabilities(
    config: Config, provider: str, *, mode: Mode, loras: int, count: int
) -> None:
    """Refuse what the provider cannot do, naming an enabled provider that can."""
    caps = PROVIDER_CAPABILITIES[provider]
    problems: list[tuple[str, Callable[[str], bool]]] = []
    if mode == "img2img":
        problems.append(
            (
                "image-to-image",
                lambda name: (
                    PROVIDER_CAPABILITIES[name].image_to_image
                    and bool(config.providers[name].img2img_model)
                ),
            )
        )
    if mode == "upscale":
        problems.append(
            (
                "upscaling",
                lambda name: (
                    PROVIDER_CAPABILITIES[name].upscale
                    and bool(config.providers[name].upscale_model)
                ),
            )
        )
    if loras:
        problems.append(
            (
                f"{loras} LoRA" + ("s" if loras > 1 else ""),
                lambda name: (
                    PROVIDER_CAPABILITIES[name].max_loras >= loras
                    and bool(config.providers[name].lora_model)
                ),
            )
        )
    if count > caps.max_images:
        problems.append(
            (
                f"{count} images per job",
                lambda name: PROVIDER_CAPABILITIES[name].max_images >= count,
            )
        )
    for what, supports in problems:
        if supports(provider):
            continue
        others = [n for n in config.enabled_providers if n != provider and supports(n)]
        hint = f"; {others[0]} can: pick provider {others[0]}" if others else ""
        raise InvalidRequest(f"{provider} can't do {what} on this bot{hint}.")


def check_options(
    config: Config,
    provider: str,
    model: str,
    *,
    aspect_ratio: str | None = None,
    negative_prompt: bool = False,
    seed: bool = False,
    steps: bool = False,
    guidance: bool = False,
) -> None:
    """Refuse an option the provider (or, for sizes, its model) cannot honour, naming an
    enabled provider that can, instead of silently dropping it."""
    wanted: list[tuple[str, Callable[[str], bool]]] = []
    if aspect_ratio is not None:
        wanted.append(
            (
                f"aspect ratio {aspect_ratio}",
                lambda name: (
                    aspect_ratio in _ratios(config, name, model if name == provider else None)
                ),
            )
        )
    flags = (
        (negative_prompt, "a negative prompt", "negative_prompt"),
        (seed, "a fixed seed", "seed"),
        (steps, "a step count", "steps"),
        (guidance, "a guidance value", "guidance"),
    )

    def has(attribute: str) -> Callable[[str], bool]:
        return lambda name: bool(getattr(PROVIDER_CAPABILITIES[name], attribute))

    for asked, what, attribute in flags:
        if asked:
            wanted.append((what, has(attribute)))
    for what, supports in wanted:
        if supports(provider):
            continue
        others = [n for n in config.enabled_providers if n != provider and supports(n)]
        hint = f"; {others[0]} can: pick provider {others[0]}" if others else ""
        offered = ""
        if what.startswith("aspect ratio"):
            offered = f" (with {model} it offers {', '.join(_ratios(config, provider, model))})"
        raise InvalidRequest(f"{provider} can't do {what} on this bot{offered}{hint}.")


def _ratios(config: Config, provider: str, model: str | None) -> tuple[str, ...]:
    caps = PROVIDER_CAPABILITIES[provider]
    return caps.aspect_ratios_for(model or config.providers[provider].model)


# The LoRA weights each provider's LoRA model takes (fal's `LoraWeight.scale`, cog-flux's
# `lora_scale`); elsewhere the bot's own bounds.
LORA_SCALES: dict[str, tuple[float, float]] = {"fal": (0.0, 4.0), "replicate": (-1.0, 3.0)}
DEFAULT_LORA_SCALE = (-4.0, 4.0)


def lora_scale_range(provider: str) -> tuple[float, float]:
    return LORA_SCALES.get(provider, DEFAULT_LORA_SCALE)
