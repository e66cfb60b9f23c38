"""What each provider can honestly do, declared in one place.

Commands and buttons consult this before anything is charged: an option the chosen provider
cannot honour is refused with the name of a provider that can. Provider classes point at their
entry here, so the declaration and the adapter cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

ASPECT_RATIOS: tuple[str, ...] = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9")


@dataclass(frozen=True)
class Capabilities:
    text_to_image: bool = True
    image_to_image: bool = False
    max_loras: int = 0  # LoRAs per job; 0 = no LoRA support
    upscale: bool = False
    queue_position: bool = False
    step_progress: bool = False
    safety_flag: bool = False
    max_images: int = 4
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    cost_model: str = "per image"


PROVIDER_CAPABILITIES: dict[str, Capabilities] = {
    "fal": Capabilities(
        image_to_image=True,
        max_loras=3,
        upscale=True,
        queue_position=True,
        step_progress=True,
        safety_flag=True,
    ),
    "replicate": Capabilities(
        image_to_image=True,
        max_loras=1,
        upscale=True,
        step_progress=True,
        safety_flag=True,
    ),
}
