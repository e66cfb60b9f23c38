"""What each model accepts, asked of the catalogue before anything is charged: a mode, option
or value the chosen model has no input for is refused naming a model (or provider) that has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from bot.config import Config
from bot.errors import InvalidRequest
from bot.providers.catalogue.entry import OPTION_LABELS, ModelEntry
from bot.providers.catalogue.registry import catalogue_for

if TYPE_CHECKING:
    from bot.providers.request import Mode

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


def require_entry(config: Config, provider: str, model: str) -> ModelEntry:
    entry = catalogue_for(config).entry(provider, model)
    if entry is None:
        raise InvalidRequest(
            f"{model} can't be used yet: the bot has not read its input schema from {provider} "
            "(the bot owner can run `python -m bot doctor` to see why)."
        )
    return entry


def mode_entry(config: Config, provider: str, mode: Mode, loras: int) -> ModelEntry | None:
    """The entry of the model such a job runs on here (its mode's model, else the default)."""
    special = mode_model(config, provider, mode, has_loras=bool(loras))
    model = config.providers[provider].model if special is None else special
    return catalogue_for(config).entry(provider, model) if model else None


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
    if mode == "img2img":
        problems.append(("image-to-image", serves("img2img")))
    if mode == "upscale":
        problems.append(("upscaling", serves("upscale")))
    if loras:
        problems.append((f"{loras} LoRA" + ("s" if loras > 1 else ""), lora_room))
    if count > 1:
        problems.append((f"{count} images per job", image_room))
    for what, supports in problems:
        if not supports(provider):
            raise InvalidRequest(
                f"{provider} can't do {what} on this bot{_hint(config, provider, supports)}."
            )


def _hint(config: Config, provider: str, supports: Callable[[str], bool]) -> str:
    others = [n for n in config.enabled_providers if n != provider and supports(n)]
    return f"; {others[0]} can: pick provider {others[0]}" if others else ""


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
        hint = _hint(
            config,
            provider,
            lambda n: any(aspect_ratio in e.aspect_ratios for e in model_entries(config, n)),
        )
        offered = ", ".join(entry.aspect_ratios) or "none"
        raise InvalidRequest(
            f"{provider} can't do aspect ratio {aspect_ratio} on this bot "
            f"(with {model} it offers {offered}){hint}."
        )
    for option in options:
        if entry.takes(option):
            continue
        what = OPTION_LABELS[option]
        sibling = next((e.model for e in model_entries(config, provider) if e.takes(option)), None)
        if sibling is not None:
            raise InvalidRequest(
                f"{model} takes no {what[2:]}; {sibling} does: pick model {sibling}."
            )
        hint = _hint(config, provider, partial(_takes_somewhere, config, option))
        if hint:
            raise InvalidRequest(f"{provider} can't do {what} on this bot{hint}.")
        raise InvalidRequest(f"No model on this bot takes {what}: leave that option empty.")
