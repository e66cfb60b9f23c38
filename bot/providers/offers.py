"""What each provider offers on this bot: the model a kind of job runs on here (its
image-to-image, LoRA or upscale model, else its default) and whether that model serves the job,
as the model catalogue reads it from the model's published schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Config
from bot.providers.catalogue import ModelEntry
from bot.providers.catalogue.checks import mode_entry

if TYPE_CHECKING:
    from bot.providers.request import Mode


@dataclass(frozen=True)
class Needs:
    """What a job asks of a provider: its mode and how many LoRAs."""

    mode: Mode = "txt2img"
    loras: int = 0


def job_entry(config: Config, provider: str, needs: Needs) -> ModelEntry | None:
    """The catalogue entry of the model such a job runs on here, or None when the provider has
    no model for it or the model's schema was never read."""
    return mode_entry(config, provider, needs.mode, needs.loras)


def can_serve(config: Config, provider: str, needs: Needs) -> bool:
    entry = job_entry(config, provider, needs)
    if entry is None:
        return False
    mode = "lora" if needs.mode == "txt2img" and needs.loras else needs.mode
    return mode in entry.modes and entry.limits.max_loras >= needs.loras
