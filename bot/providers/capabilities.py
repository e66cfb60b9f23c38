"""How each provider behaves, whatever the model: the progress it reports, how many LoRAs one
job may carry, and (OpenAI) the sizes each model family draws. Provider classes point at their
entry here, so the declaration and the adapter cannot drift apart.

What a model takes (modes, options, ranges, image counts, ratios, price) is not written here:
the model catalogue reads it from the model's published schema (`bot/providers/catalogue`).
"""

from __future__ import annotations

from dataclasses import dataclass

ASPECT_RATIOS: tuple[str, ...] = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9")


@dataclass(frozen=True)
class Capabilities:
    max_loras: int = 0  # LoRAs per job, whatever a model's schema lists; 0 = no LoRA support
    queue_position: bool = False
    step_progress: bool = False
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS  # OpenAI: models of no listed family
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
        max_loras=3,
        queue_position=True,
        step_progress=True,
    ),
    "replicate": Capabilities(
        max_loras=1,
        step_progress=True,
    ),
    # CivitAI's v2 workflows: text-to-image on a checkpoint AIR plus LoRA AIRs; queue
    # position comes from the job status, steps do not.
    "civitai": Capabilities(
        max_loras=5,
        queue_position=True,
    ),
    # An OpenAI-compatible images API: one blocking call, no progress, fixed sizes. GPT image
    # models draw 1024², 1536x1024 and 1024x1536; DALL·E 3 (and most compatible servers) 1024²,
    # 1792x1024 and 1024x1792.
    "openai": Capabilities(
        aspect_ratios=("1:1", "16:9", "9:16"),
        model_aspect_ratios=(("gpt-image", ("1:1", "3:2", "2:3")), ("dall-e-2", ("1:1",))),
    ),
}
