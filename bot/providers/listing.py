"""What `/models` and `/providers` say about the models here, read from the model catalogue
(each model's modes, limits and options come from its published schema) and the estimated
prices (`pricing.py`), kept within Discord's embed limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Config
from bot.i18n import N_, _, n_
from bot.providers.capabilities import PROVIDER_CAPABILITIES
from bot.providers.catalogue import ModelEntry, catalogue_for
from bot.providers.catalogue.checks import model_entries
from bot.providers.catalogue.refresh import configured_models
from bot.providers.offers import Needs, can_serve, job_entry
from bot.providers.pricing import listed_price

if TYPE_CHECKING:
    from bot.providers.request import Mode

# Discord's embed limits: characters per field value, fields per embed, characters in all.
FIELD_VALUE_LIMIT = 1024
FIELD_LIMIT = 25
EMBED_TOTAL_LIMIT = 6000

# The texts below are shown with `_`.
MODELS_TITLE = N_("Models")
MODELS_NOTE = N_("Prices are estimates per 1:1 image (an upscaler: per 1:1 image upscaled).")
SPECIAL_MODES: tuple[tuple[Mode, str], ...] = (
    ("img2img", N_("image-to-image")),
    ("upscale", N_("upscale")),
)
OPTION_NAMES = (
    ("negative_prompt", N_("negative prompt")),
    ("seed", N_("seed")),
    ("steps", N_("steps")),
    ("guidance", N_("guidance")),
)


@dataclass(frozen=True)
class Field:
    name: str
    value: str


def money(amount: float, currency: str) -> str:
    """`$0.025` in USD, `0.025 EUR` otherwise: at least cents, down to a tenth of a cent."""
    text = f"{amount:.4f}".rstrip("0")
    whole, _dot, cents = text.partition(".")
    number = f"{whole}.{cents.ljust(2, '0')}"
    return f"${number}" if currency.upper() == "USD" else f"{number} {currency}"


def model_line(config: Config, provider: str, model: str, mode: str | None = None) -> str:
    """ "`fal-ai/flux/dev` — text-to-image · ~$0.025/image (default)"."""
    entry = catalogue_for(config).entry(provider, model, mode)
    default = model == config.providers[provider].model
    if entry is None:
        if default:
            return _("`{model}` — not available: schema not read yet (default)", model=model)
        return _("`{model}` — not available: schema not read yet", model=model)
    modes = entry.describe_modes() or _("no usable mode")
    price = _price(config, entry)
    if default:
        return _("`{model}` — {modes} · {price} (default)", model=model, modes=modes, price=price)
    return f"`{model}` — {modes} · {price}"


def _price(config: Config, entry: ModelEntry) -> str:
    """Per image; a video model per second of video, where its price is known."""
    currency = config.costs.currency
    if "video" in entry.modes:
        per_second = entry.price.per_video(1) if entry.price else None
        if not per_second:
            return _("price unknown")
        return _("~{price}/s of video", price=money(per_second, currency))
    upscale = entry.modes == {"upscale"}
    price = listed_price(config, entry.provider, entry.model, upscale=upscale)
    return (
        _("~{price}/image", price=money(price, currency))
        if price is not None
        else _("price unknown")
    )


def fit_lines(lines: list[str], limit: int) -> str:
    """The lines joined, as many as fit in `limit` characters with a last "…and N more"."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for count, line in enumerate(lines):
        rest = _("…and {more} more", more=len(lines) - count)
        if len("\n".join([*kept, line, rest])) > limit:
            return "\n".join([*kept, rest])
        kept.append(line)
    return "\n".join(kept)  # unreachable: the whole text did not fit


def models_fields(
    config: Config,
    *,
    providers: tuple[str, ...] = (),
    models: tuple[str, ...] = (),
    default: str | None = None,
) -> list[Field]:
    """One field per provider a member may use here (`providers`; empty: every enabled one)
    listing its models (the pickable ones narrowed to `models` when a server set them, as the
    admission gate does; the image-to-image, LoRA and upscale models always); the embed (with
    `MODELS_TITLE` and `MODELS_NOTE`) stays within Discord's limits."""
    budget = EMBED_TOTAL_LIMIT - len(_(MODELS_TITLE)) - len(_(MODELS_NOTE))
    enabled = list(config.enabled_providers)
    if default not in enabled:
        default = config.generation.default_provider
    shown = [p for p in enabled if not providers or p in providers][:FIELD_LIMIT]
    fields: list[Field] = []
    for index, provider in enumerate(shown):
        name = _("{provider} ★ default", provider=provider) if provider == default else provider
        share = (budget - len(name)) // (len(shown) - index)
        settings = config.providers[provider]
        special, allowed = settings.mode_models(), settings.allowed_models()
        lines = [
            model_line(config, provider, m, None if m in allowed else special.get(m))
            for m in configured_models(config, provider)
            if not models or m in models or m in special
        ]
        value = fit_lines(lines, min(FIELD_VALUE_LIMIT, share)) or _("no models")
        fields.append(Field(name, value))
        budget -= len(name) + len(value)
    return fields


def capability_line(config: Config, provider: str) -> str:
    """What the provider's models here can do, the progress it shows and the options none of
    its models takes (`/providers`)."""
    entries = list(model_entries(config, provider))
    default = catalogue_for(config).entry(provider, config.providers[provider].model)
    can = [_("text-to-image")] if any("txt2img" in e.modes for e in entries) else []
    for mode, what in SPECIAL_MODES:
        if can_serve(config, provider, Needs(mode=mode)):
            can.append(_(what))
    lora = job_entry(config, provider, Needs(loras=1))
    if lora is not None and can_serve(config, provider, Needs(loras=1)):
        can.append(n_("≤{n} LoRA", "≤{n} LoRAs", lora.limits.max_loras))
    if default is not None:
        can.append(n_("≤{n} images", "≤{n} images", default.limits.max_images))
    caps = PROVIDER_CAPABILITIES[provider]
    shows = [
        _(w)
        for w, has in (
            (N_("queue position"), caps.queue_position),
            (N_("steps"), caps.step_progress),
        )
        if has
    ]
    line = " · ".join(can) or _("schema not read yet")
    progress = ", ".join(shows) if shows else _("elapsed time only")
    line += "\n" + _("progress: {shown}", shown=progress)
    lacks = [_(what) for option, what in OPTION_NAMES if not any(e.takes(option) for e in entries)]
    if entries and lacks:
        line += "\n" + _("no {options}", options=", ".join(lacks))
    return line


def ratios_line(config: Config, provider: str) -> str:
    entry = catalogue_for(config).entry(provider, config.providers[provider].model)
    return ", ".join(entry.aspect_ratios) if entry is not None else _("schema not read yet")
