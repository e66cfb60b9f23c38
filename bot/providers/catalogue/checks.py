"""What each model accepts, asked of the catalogue before anything is charged: a mode, option
or value the chosen model has no input for is refused naming a model (or provider) that has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from bot.config import Config
from bot.delivery.text import escape
from bot.errors import InvalidRequest
from bot.i18n import N_, _, n_
from bot.providers.catalogue.entry import MODE_LABELS, OPTION_LABELS, OPTION_NOUNS, ModelEntry
from bot.providers.catalogue.registry import catalogue_for

if TYPE_CHECKING:
    from bot.providers.request import LoraRef, Mode

MODE_NAMES = {**MODE_LABELS, "upscale": N_("upscaling")}  # shown with `_`


def mode_model(config: Config, provider: str, mode: Mode, *, has_loras: bool) -> str | None:
    """The configured model for a special mode, or None for plain text-to-image."""
    settings = config.providers[provider]
    if mode == "txt2img":
        return settings.lora_model if has_loras else None
    model: str = getattr(settings, f"{mode}_model", "")
    return model


def require_entry(config: Config, provider: str, model: str, mode: str | None = None) -> ModelEntry:
    entry = catalogue_for(config).entry(provider, model, mode)
    if entry is None:
        raise InvalidRequest(
            _(
                "{model} can't be used yet: the bot has not read its input schema from {provider} "
                "(the bot owner can run `python -m bot doctor` to see why).",
                model=model,
                provider=provider,
            )
        )
    return entry


def mode_entry(config: Config, provider: str, mode: Mode, loras: int) -> ModelEntry | None:
    """The entry of the model such a job runs on here (its mode's model, else the default)."""
    special = mode_model(config, provider, mode, has_loras=bool(loras))
    model = config.providers[provider].model if special is None else special
    return catalogue_for(config).entry(provider, model, mode) if model else None


def provider_for(config: Config, mode: Mode, preferred: str) -> str | None:
    """The provider a `mode` job runs on: `preferred` when it has a model for the mode here,
    else the first enabled provider that has one; None when none has."""
    enabled = config.enabled_providers
    for name in (preferred, *(n for n in enabled if n != preferred)):
        entry = mode_entry(config, name, mode, 0) if name in enabled else None
        if entry is not None and mode in entry.modes:
            return name
    return None


def check_capabilities(
    config: Config, provider: str, *, mode: Mode, loras: int, count: int
) -> None:
    """Refuse what the provider's models here cannot do, naming an enabled provider that can."""

    def serves(wanted: str) -> Callable[[str], bool]:
        def check(name: str) -> bool:
            entry = mode_entry(config, name, mode, loras)
            return entry is not None and wanted in entry.modes

        return check

    def lora_room(name: str) -> bool:
        entry = mode_entry(config, name, mode, loras)
        return entry is not None and entry.limits.max_loras >= loras

    def image_room(name: str) -> bool:
        entry = mode_entry(config, name, mode, loras)
        return entry is None or entry.limits.max_images >= count

    problems: list[tuple[str, Callable[[str], bool]]] = []
    if mode != "txt2img":
        problems.append((_(MODE_NAMES[mode]), serves(mode)))
    if loras:
        problems.append((n_("{n} LoRA", "{n} LoRAs", loras), lora_room))
    if count > 1:
        problems.append((n_("{n} image per job", "{n} images per job", count), image_room))
    for what, supports in problems:
        if not supports(provider):
            raise InvalidRequest(_cannot(provider, what, _other(config, provider, supports)))


def _other(config: Config, provider: str, supports: Callable[[str], bool]) -> str | None:
    """The first other enabled provider that `supports` the job, or None."""
    return next((n for n in config.enabled_providers if n != provider and supports(n)), None)


def _cannot(provider: str, what: str, other: str | None) -> str:
    if other is None:
        return _("{provider} can't do {what} on this bot.", provider=provider, what=what)
    return _(
        "{provider} can't do {what} on this bot; {other} can: pick provider {other}.",
        provider=provider,
        what=what,
        other=other,
    )


def model_entries(config: Config, provider: str) -> Iterator[ModelEntry]:
    """The entries of the models members may pick on this provider (those with a schema)."""
    catalogue = catalogue_for(config)
    for model in config.providers[provider].allowed_models():
        entry = catalogue.entry(provider, model)
        if entry is not None:
            yield entry


def _any_model(
    config: Config, provider: str, *, option: str | None = None, aspect_ratio: str | None = None
) -> bool:
    return any(
        (option is None or e.takes(option))
        and (aspect_ratio is None or aspect_ratio in e.aspect_ratios)
        for e in model_entries(config, provider)
    )


def _takes_somewhere(config: Config, option: str, provider: str) -> bool:
    return _any_model(config, provider, option=option)


def check_options(
    config: Config,
    entry: ModelEntry,
    *,
    aspect_ratio: str | None = None,
    options: tuple[str, ...] = (),
) -> None:
    """Refuse an option the chosen model has no input for (rather than dropping it), naming a
    model here that has one."""
    provider, model = entry.provider, entry.model
    if aspect_ratio is not None and aspect_ratio not in entry.aspect_ratios:
        _check_ratio(config, entry, aspect_ratio)
    for option in options:
        if entry.takes(option):
            continue
        what = _(OPTION_LABELS[option])
        sibling = next((e.model for e in model_entries(config, provider) if e.takes(option)), None)
        if sibling is not None:
            raise InvalidRequest(
                _(
                    "{model} takes no {option}; {sibling} does: pick model {sibling}.",
                    model=model,
                    option=_(OPTION_NOUNS[option]),
                    sibling=sibling,
                )
            )
        other = _other(config, provider, partial(_takes_somewhere, config, option))
        if other is not None:
            raise InvalidRequest(_cannot(provider, what, other))
        raise InvalidRequest(
            _("No model on this bot takes {option}: leave that option empty.", option=what)
        )


def _check_ratio(config: Config, entry: ModelEntry, aspect_ratio: str) -> None:
    other = _other(
        config,
        entry.provider,
        lambda n: any(aspect_ratio in e.aspect_ratios for e in model_entries(config, n)),
    )
    fields = {
        "provider": entry.provider,
        "ratio": aspect_ratio,
        "model": entry.model,
        "offered": ", ".join(entry.aspect_ratios) or _("none"),
    }
    if other is None:
        raise InvalidRequest(
            _(
                "{provider} can't do aspect ratio {ratio} on this bot (with {model} it offers "
                "{offered}).",
                **fields,
            )
        )
    raise InvalidRequest(
        _(
            "{provider} can't do aspect ratio {ratio} on this bot (with {model} it offers "
            "{offered}); {other} can: pick provider {other}.",
            other=other,
            **fields,
        )
    )


def check_lora_scales(entry: ModelEntry, loras: tuple[LoraRef, ...]) -> None:
    """Each LoRA's weight within what the LoRA model's schema takes, before anything is
    charged (the provider would refuse it only after)."""
    low, high = entry.limits.lora_scale
    for lora in loras:
        if not low <= lora.scale <= high:
            raise InvalidRequest(
                _(
                    "LoRA scale must be between {low:g} and {high:g} on {model} "
                    "(got {scale:g} for {lora}).",
                    low=low,
                    high=high,
                    model=entry.model,
                    scale=lora.scale,
                    lora=escape(lora.name or lora.path),
                )
            )


def check_limits(
    entry: ModelEntry, steps: int | None, guidance: float | None, strength: float | None
) -> None:
    limits, model = entry.limits, entry.model
    if steps is not None and not limits.min_steps <= steps <= limits.max_steps:
        raise InvalidRequest(
            _(
                "steps must be between {low} and {high} for {model} (got {steps}).",
                low=limits.min_steps,
                high=limits.max_steps,
                model=model,
                steps=steps,
            )
        )
    if guidance is not None and limits.guidance is not None:
        low, high = limits.guidance
        if not low <= guidance <= high:
            raise InvalidRequest(
                _(
                    "guidance must be between {low:g} and {high:g} for {model} on {provider} "
                    "(got {guidance:g}).",
                    low=low,
                    high=high,
                    model=model,
                    provider=entry.provider,
                    guidance=guidance,
                )
            )
    if strength is not None and limits.strength is not None:
        low, high = limits.strength
        if not low <= strength <= high:
            raise InvalidRequest(
                _(
                    "strength must be between {low:g} and {high:g} for {model} (got {strength:g}).",
                    low=low,
                    high=high,
                    model=model,
                    strength=strength,
                )
            )
