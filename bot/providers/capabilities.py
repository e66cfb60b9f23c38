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
    negative_prompt: bool = True
    seed: bool = True
    steps: bool = True
    guidance: bool = True
    # Ratios that depend on the model family: (family, ratios), first match wins; models of
    # no listed family get `aspect_ratios`.
    model_aspect_ratios: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def aspect_ratios_for(self, model: str) -> tuple[str, ...]:
        for family, ratios in self.model_aspect_ratios:
            if in_family(model, family):
                return ratios
        return self.aspect_ratios


def in_family(model: str, family: str) -> bool:
    """Whether a model id names that family however a server spells it: a proxy's
    `openai/gpt-image-1.5`, OpenAI's alias `chatgpt-image-latest` and `gpt-image-1` are all
    GPT image models. The family is looked for in the id's last path segment."""
    return family in model.rsplit("/", 1)[-1].lower()


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
    # CivitAI's v2 workflows: text-to-image on a checkpoint AIR plus LoRA AIRs; queue
    # position comes from the job status, steps do not.
    "civitai": Capabilities(
        max_loras=5,
        queue_position=True,
        cost_model="Buzz per image",
    ),
    # An OpenAI-compatible images API: one blocking call, fixed sizes, no seed/steps/guidance
    # or negative prompt. GPT image models draw 1024², 1536x1024 and 1024x1536; DALL·E 3 (and
    # most compatible servers) 1024², 1792x1024 and 1024x1792.
    "openai": Capabilities(
        aspect_ratios=("1:1", "16:9", "9:16"),
        model_aspect_ratios=(("gpt-image", ("1:1", "3:2", "2:3")), ("dall-e-2", ("1:1",))),
        negative_prompt=False,
        seed=False,
        steps=False,
        guidance=False,
        cost_model="per image (billed by the API's owner)",
    ),
}
