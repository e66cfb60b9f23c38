"""What a member asked for, validated once into a frozen request that every provider maps.

Validation happens before anything is written or charged, and each refusal names the option
and the allowed range, so the member can fix it in one go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bot.config import Config
from bot.delivery.text import escape
from bot.errors import InvalidRequest
from bot.providers.capabilities import ASPECT_RATIOS, PROVIDER_CAPABILITIES

MAX_PROMPT_CHARS = 6000  # Discord's own limit for a string option
MAX_IMAGES = 4
MAX_SEED = 2**32 - 1


Mode = Literal["txt2img", "img2img", "upscale"]


@dataclass(frozen=True)
class LoraRef:
    """One LoRA for a job: a weights reference the provider fetches itself (an https
    .safetensors URL, a Hugging Face or CivitAI reference), never downloaded by the bot."""

    path: str
    scale: float = 1.0
    name: str | None = None  # the server library's name for it, when it came from there
    credit: str | None = None  # e.g. "Ink Wash by alice (CivitAI)", shown under the result


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    provider: str
    model: str
    negative_prompt: str | None = None
    aspect_ratio: str = "1:1"
    count: int = 1
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    mode: Mode = "txt2img"
    strength: float | None = None  # img2img: how far to move from the input image
    loras: tuple[LoraRef, ...] = field(default_factory=tuple)
    image_id: int | None = None  # img2img/upscale: the prepared input image in the ledger
    upscale_factor: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenerationRequest:
        values = dict(data)
        values["loras"] = tuple(LoraRef(**lora) for lora in values.get("loras") or ())
        return cls(**values)


@dataclass(frozen=True)
class ModelLimits:
    """The ranges one model family accepts; the providers' own validators agree with these."""

    max_steps: int = 50
    guidance: tuple[float, float] | None = (1.0, 20.0)


def model_limits(provider: str, model: str) -> ModelLimits:
    fast = "schnell" in model
    if provider == "replicate":
        if fast:
            return ModelLimits(max_steps=4, guidance=None)
        return ModelLimits(max_steps=50, guidance=(0.0, 10.0))
    if fast:
        return ModelLimits(max_steps=12, guidance=None)
    return ModelLimits(max_steps=50, guidance=(1.0, 20.0))


def build_request(
    config: Config,
    *,
    prompt: str,
    negative_prompt: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    aspect_ratio: str | None = None,
    count: int | None = None,
    seed: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    mode: Mode = "txt2img",
    strength: float | None = None,
    loras: tuple[LoraRef, ...] = (),
    image_id: int | None = None,
    upscale_factor: int | None = None,
) -> GenerationRequest:
    """Check every option against the config, the provider's capabilities and the model's
    limits; raise InvalidRequest naming the problem."""
    prompt, negative_prompt = _clean_prompts(prompt, negative_prompt, mode)
    provider = _enabled_provider(config, provider)
    count = 1 if count is None else count
    if not 1 <= count <= MAX_IMAGES:
        raise InvalidRequest(f"count must be between 1 and {MAX_IMAGES} images (got {count}).")
    check_capabilities(config, provider, mode=mode, loras=len(loras), count=count)
    model = _chosen_model(config, provider, model, mode, has_loras=bool(loras))
    aspect_ratio = aspect_ratio or "1:1"
    if aspect_ratio not in ASPECT_RATIOS:
        raise InvalidRequest(
            f"Aspect ratio {aspect_ratio!r} is not supported; "
            f"choose one of {', '.join(ASPECT_RATIOS)}."
        )
    check_options(
        config,
        provider,
        model,
        aspect_ratio=aspect_ratio if mode == "txt2img" else None,
        negative_prompt=bool(negative_prompt),
        seed=seed is not None,
        steps=steps is not None,
        guidance=guidance is not None,
    )
    _check_values(seed, mode, image_id, strength, loras, upscale_factor)
    _check_limits(provider, model, steps, guidance)
    return GenerationRequest(
        prompt=prompt,
        provider=provider,
        model=model,
        negative_prompt=negative_prompt,
        aspect_ratio=aspect_ratio,
        count=count,
        seed=seed,
        steps=steps,
        guidance=guidance,
        mode=mode,
        strength=strength,
        loras=tuple(loras),
        image_id=image_id,
        upscale_factor=upscale_factor,
    )


def _clean_prompts(
    prompt: str | None, negative_prompt: str | None, mode: Mode
) -> tuple[str, str | None]:
    prompt = (prompt or "").strip()
    if mode == "upscale" and not prompt:
        prompt = "upscale"
    if not prompt:
        raise InvalidRequest("The prompt is empty: describe the image you want.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}."
        )
    if negative_prompt is not None:
        negative_prompt = negative_prompt.strip() or None
    if negative_prompt and len(negative_prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The negative prompt is {len(negative_prompt)} characters long; "
            f"the limit is {MAX_PROMPT_CHARS}."
        )
    return prompt, negative_prompt


def _enabled_provider(config: Config, provider: str | None) -> str:
    provider = provider or config.generation.default_provider
    enabled = config.enabled_providers
    if provider not in config.providers:
        raise InvalidRequest(f"Unknown provider {provider!r}: choose one of {', '.join(enabled)}.")
    if provider not in enabled:
        raise InvalidRequest(
            f"The {provider} provider is not set up on this bot; choose {', '.join(enabled)}."
        )
    return provider


def _chosen_model(
    config: Config, provider: str, model: str | None, mode: Mode, *, has_loras: bool
) -> str:
    """The model asked for (or the provider's default), which the mode and provider allow."""
    special = mode_model(config, provider, mode, has_loras=has_loras)
    if special is not None:
        if model and model.strip() and model.strip() != special:
            raise InvalidRequest(
                f"Model {model.strip()!r} can't be chosen here: {_MODE_NAMES[mode]} on {provider} "
                f"uses {special}."
            )
        model = special
    allowed = (special,) if special is not None else config.providers[provider].allowed_models()
    model = (model or "").strip() or config.providers[provider].model
    if model in allowed:
        return model
    owner = next(
        (
            name
            for name in config.enabled_providers
            if name != provider and model in config.providers[name].allowed_models()
        ),
        None,
    )
    if owner:
        raise InvalidRequest(
            f"{model} is a {owner} model but the provider is {provider}: "
            f"pick provider {owner}, or one of {', '.join(allowed)}."
        )
    raise InvalidRequest(
        f"The model {model!r} is not available on {provider} here; "
        f"choose one of: {', '.join(allowed)}."
    )


def _check_values(
    seed: int | None,
    mode: Mode,
    image_id: int | None,
    strength: float | None,
    loras: tuple[LoraRef, ...],
    upscale_factor: int | None,
) -> None:
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InvalidRequest(f"seed must be between 0 and {MAX_SEED} (got {seed}).")
    if mode in ("img2img", "upscale") and image_id is None:
        raise InvalidRequest("This needs an input image.")
    if strength is not None and not 0.05 <= strength <= 1.0:
        raise InvalidRequest(f"strength must be between 0.05 and 1.0 (got {strength:g}).")
    for lora in loras:
        if not -4.0 <= lora.scale <= 4.0:
            raise InvalidRequest(
                f"The scale of LoRA {escape(lora.name or lora.path)} must be between -4 and 4 "
                f"(got {lora.scale:g})."
            )
    if upscale_factor is not None and upscale_factor not in (2, 4):
        raise InvalidRequest("The upscale factor must be 2 or 4.")


def _check_limits(provider: str, model: str, steps: int | None, guidance: float | None) -> None:
    limits = model_limits(provider, model)
    if steps is not None and not 1 <= steps <= limits.max_steps:
        raise InvalidRequest(
            f"steps must be between 1 and {limits.max_steps} for {model} (got {steps})."
        )
    if guidance is not None:
        if limits.guidance is None:
            raise InvalidRequest(f"{model} does not take a guidance value: leave guidance empty.")
        low, high = limits.guidance
        if not low <= guidance <= high:
            raise InvalidRequest(
                f"guidance must be between {low:g} and {high:g} for {model} on {provider} "
                f"(got {guidance:g})."
            )


_MODE_NAMES = {"txt2img": "text-to-image", "img2img": "image-to-image", "upscale": "upscaling"}


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


def retarget(config: Config, request: GenerationRequest, provider: str) -> GenerationRequest:
    """The same request for another provider (a fallback), re-validated for it."""
    return build_request(
        config,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        provider=provider,
        aspect_ratio=request.aspect_ratio,
        count=request.count,
        seed=request.seed,
        steps=request.steps,
        guidance=request.guidance,
        mode=request.mode,
        strength=request.strength,
        loras=request.loras,
        image_id=request.image_id,
        upscale_factor=request.upscale_factor,
    )
