"""Base model families: which CivitAI base models share LoRAs (`"SDXL 1.0"` and
`"SDXL Lightning"` do, SDXL and Pony don't), and their readable names. Used by the
models API client (`civitai_models`) for LoRA fit checks (`check_lora_fit`) and AIR
ecosystems."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import InvalidRequest
from bot.i18n import _

if TYPE_CHECKING:
    from bot.providers.civitai_models import CivitaiModelInfo

_FAMILIES: tuple[tuple[str, str], ...] = (
    ("sd 1", "sd1"),
    ("sd 2", "sd2"),
    ("sdxl", "sdxl"),
    ("sd 3", "sd3"),
    ("pony", "pony"),
    ("illustrious", "illustrious"),
    ("noobai", "noobai"),
    ("flux.1", "flux1"),
    ("flux.2", "flux2"),
    ("hunyuan", "hunyuan"),
    ("wan", "wan"),
)


def base_model_family(base_model: str) -> str:
    """Base models whose LoRAs are interchangeable share a family: "SDXL 1.0", "SDXL Turbo"
    and "SDXL Lightning" are all "sdxl"; "Flux.1 D" and "Flux.1 S" are "flux1". Pony and
    Illustrious are SDXL derivatives with their own LoRA ecosystems, so they are their own
    families. Unknown base models only match themselves."""
    key = " ".join(base_model.lower().split())
    for prefix, family in _FAMILIES:
        if key.startswith(prefix):
            return family
    return key


_FAMILY_NAMES = {
    "sd1": "SD 1.x",
    "sd2": "SD 2.x",
    "sdxl": "SDXL",
    "sd3": "SD 3",
    "pony": "Pony",
    "illustrious": "Illustrious",
    "noobai": "NoobAI",
    "flux1": "Flux.1",
    "flux2": "Flux.2",
}


def family_name(family_or_base_model: str) -> str:
    """A readable name for a base model family (an AIR ecosystem such as "sdxl")."""
    family = base_model_family(family_or_base_model)
    return _FAMILY_NAMES.get(family, family_or_base_model)


def check_lora_fit(info: CivitaiModelInfo, *, checkpoint_base_model: str, allow_nsfw: bool) -> None:
    """Raise InvalidRequest with the reason when this LoRA must not be used with the checkpoint
    (wrong kind of model, another base model family, or NSFW where the server forbids it)."""
    if not info.is_lora:
        raise InvalidRequest(
            _(
                "{name} is a {type} on CivitAI, not a LoRA: pick a LoRA model.",
                name=info.name,
                type=info.type,
            )
        )
    if info.is_blocked:
        raise InvalidRequest(
            _("{name} has been blocked by CivitAI and can't be used.", name=info.name)
        )
    if not allow_nsfw and info.is_nsfw:
        raise InvalidRequest(
            _(
                "{name} is marked NSFW on CivitAI and this server does not allow NSFW LoRAs.",
                name=info.name,
            )
        )
    if info.family != base_model_family(checkpoint_base_model):
        raise InvalidRequest(
            _(
                "{name} is a LoRA for {base}, but the checkpoint is {checkpoint}: pick a "
                "{checkpoint} version of it, or another LoRA.",
                name=info.name,
                base=info.base_model,
                checkpoint=checkpoint_base_model,
            )
        )
