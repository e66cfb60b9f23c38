"""The checks of a request's own values, before the model's: the prompts, the provider, the
model, the aspect ratio, the seed, the strength and the upscale factor. Each refusal names the
option and the allowed range, so the member can fix it in one go.
"""

from __future__ import annotations

from bot.config import Config
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.providers.action import DEFAULT_PROMPTS, IMAGE_MODES
from bot.providers.capabilities import ASPECT_RATIOS
from bot.providers.catalogue import MODE_NAMES, mode_model
from bot.providers.catalogue.entry import Mode

MAX_PROMPT_CHARS = 6000  # Discord's own limit for a string option
MAX_IMAGES = 4
MAX_SEED = 2**32 - 1


def checked_count(count: int | None) -> int:
    count = 1 if count is None else count
    if not 1 <= count <= MAX_IMAGES:
        raise InvalidRequest(
            _(
                "count must be between 1 and {most} images (got {count}).",
                most=MAX_IMAGES,
                count=count,
            )
        )
    return count


def aspect_ratio_of(asked: str | None) -> str:
    ratio = asked or "1:1"
    if ratio not in ASPECT_RATIOS:
        raise InvalidRequest(
            _(
                "Aspect ratio {ratio!r} is not supported; choose one of {ratios}.",
                ratio=ratio,
                ratios=", ".join(ASPECT_RATIOS),
            )
        )
    return ratio


def clean_prompts(
    prompt: str | None, negative_prompt: str | None, mode: Mode
) -> tuple[str, str | None]:
    prompt = (prompt or "").strip()
    if mode in DEFAULT_PROMPTS and not prompt:
        prompt = DEFAULT_PROMPTS[mode]
    if not prompt:
        raise InvalidRequest(_("The prompt is empty: describe the image you want."))
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            _(
                "The prompt is {length} characters long; the limit is {limit}.",
                length=len(prompt),
                limit=MAX_PROMPT_CHARS,
            )
        )
    if negative_prompt is not None:
        negative_prompt = negative_prompt.strip() or None
    if negative_prompt and len(negative_prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            _(
                "The negative prompt is {length} characters long; the limit is {limit}.",
                length=len(negative_prompt),
                limit=MAX_PROMPT_CHARS,
            )
        )
    return prompt, negative_prompt


def enabled_provider(config: Config, provider: str | None) -> str:
    provider = provider or config.generation.default_provider
    enabled = config.enabled_providers
    if provider not in config.providers:
        raise InvalidRequest(
            _(
                "Unknown provider {provider!r}: choose one of {enabled}.",
                provider=provider,
                enabled=", ".join(enabled),
            )
        )
    if provider not in enabled:
        raise InvalidRequest(
            _(
                "The {provider} provider is not set up on this bot; choose {enabled}.",
                provider=provider,
                enabled=", ".join(enabled),
            )
        )
    return provider


def chosen_model(
    config: Config, provider: str, model: str | None, mode: Mode, *, has_loras: bool
) -> str:
    """The model asked for (or the provider's default), which the mode and provider allow."""
    special = mode_model(config, provider, mode, has_loras=has_loras)
    if special is not None:
        if model and model.strip() and model.strip() != special:
            raise InvalidRequest(
                _(
                    "Model {model!r} can't be chosen here: {mode} on {provider} uses {special}.",
                    model=model.strip(),
                    mode=_(MODE_NAMES[mode]),
                    provider=provider,
                    special=special,
                )
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
            _(
                "{model} is a {owner} model but the provider is {provider}: "
                "pick provider {owner}, or one of {allowed}.",
                model=model,
                owner=owner,
                provider=provider,
                allowed=", ".join(allowed),
            )
        )
    raise InvalidRequest(
        _(
            "The model {model!r} is not available on {provider} here; choose one of: {allowed}.",
            model=model,
            provider=provider,
            allowed=", ".join(allowed),
        )
    )


def check_values(
    seed: int | None,
    mode: Mode,
    image_id: int | None,
    strength: float | None,
    upscale_factor: int | None,
) -> None:
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InvalidRequest(
            _("seed must be between 0 and {most} (got {seed}).", most=MAX_SEED, seed=seed)
        )
    if mode in IMAGE_MODES and image_id is None:
        raise InvalidRequest(_("This needs an input image."))
    if strength is not None and not 0.05 <= strength <= 1.0:
        raise InvalidRequest(
            _("strength must be between 0.05 and 1.0 (got {strength:g}).", strength=strength)
        )
    if upscale_factor is not None and upscale_factor not in (2, 4):
        raise InvalidRequest(_("The upscale factor must be 2 or 4."))
