"""What a member asked for, validated once into a frozen request that every provider maps.

Validation happens before anything is written or charged, and each refusal names the option
and the allowed range, so the member can fix it in one go.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bot.config import Config
from bot.errors import InvalidRequest

ASPECT_RATIOS: tuple[str, ...] = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9")
MAX_PROMPT_CHARS = 6000  # Discord's own limit for a string option
MAX_IMAGES = 4
MAX_SEED = 2**32 - 1


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenerationRequest:
        return cls(**data)


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
) -> GenerationRequest:
    """Check every option against the config and the model's limits; raise InvalidRequest."""
    prompt = (prompt or "").strip()
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

    provider = provider or config.generation.default_provider
    enabled = config.enabled_providers
    if provider not in config.providers:
        raise InvalidRequest(f"Unknown provider {provider!r}: choose one of {', '.join(enabled)}.")
    if provider not in enabled:
        raise InvalidRequest(
            f"The {provider} provider is not set up on this bot; choose {', '.join(enabled)}."
        )

    allowed = config.providers[provider].allowed_models()
    model = (model or "").strip() or config.providers[provider].model
    if model not in allowed:
        owner = next(
            (
                name
                for name in enabled
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

    aspect_ratio = aspect_ratio or "1:1"
    if aspect_ratio not in ASPECT_RATIOS:
        raise InvalidRequest(
            f"Aspect ratio {aspect_ratio!r} is not supported; "
            f"choose one of {', '.join(ASPECT_RATIOS)}."
        )
    count = 1 if count is None else count
    if not 1 <= count <= MAX_IMAGES:
        raise InvalidRequest(f"count must be between 1 and {MAX_IMAGES} images (got {count}).")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InvalidRequest(f"seed must be between 0 and {MAX_SEED} (got {seed}).")

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
    )
