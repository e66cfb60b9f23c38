"""What a member asked for, validated once into a frozen request that every provider maps.

Validation happens before anything is written or charged, and each refusal names the option
and the allowed range, so the member can fix it in one go.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bot.config import Config
from bot.delivery.text import escape, short_prompt
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.providers.action import IMAGE_MODES, NO_ACTION, Action, check_action
from bot.providers.catalogue import (
    ModelEntry,
    catalogue_for,
    check_capabilities,
    check_limits,
    check_lora_scales,
    check_options,
    mode_model,
    model_input,
    require_entry,
)
from bot.providers.catalogue.entry import Mode
from bot.providers.catalogue.mapping import PLACEHOLDER_IMAGE, ExtraInputs
from bot.providers.validate import MAX_IMAGES as MAX_IMAGES
from bot.providers.validate import MAX_PROMPT_CHARS as MAX_PROMPT_CHARS
from bot.providers.validate import MAX_SEED as MAX_SEED
from bot.providers.validate import (
    aspect_ratio_of,
    check_values,
    checked_count,
    chosen_model,
    clean_prompts,
    enabled_provider,
)

# The options a model may lack an input for, in `build_request`'s order.
CHECKED_OPTIONS = ("negative_prompt", "seed", "steps", "guidance", "strength")


@dataclass(frozen=True)
class LoraRef:
    """One LoRA for a job: a weights reference the provider fetches itself (an https
    .safetensors URL, a Hugging Face or CivitAI reference), never downloaded by the bot."""

    path: str
    scale: float = 1.0
    name: str | None = None  # the server library's name for it, when it came from there
    credit: str | None = None  # e.g. "Ink Wash by alice (CivitAI)", shown under the result


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
    mode: Mode = "txt2img"
    strength: float | None = None  # img2img: how far to move from the input image
    loras: tuple[LoraRef, ...] = field(default_factory=tuple)
    image_id: int | None = None  # IMAGE_MODES: the prepared input image in the ledger
    upscale_factor: int | None = None
    # The image actions (issue 15):
    mask_id: int | None = None  # inpaint: the mask in the ledger (white = repaint)
    region: str | None = None  # inpaint by words: what the segmenter is asked to find first
    extra_image_ids: tuple[int, ...] = ()  # blend: the images after the first
    expand: tuple[int, int, int, int] = (0, 0, 0, 0)  # outpaint: pixels left, right, top, bottom
    zoom_out: float | None = None  # outpaint: the share of the canvas around the image, in %
    duration: int | None = None  # video: seconds
    sources: tuple[int, ...] = ()  # blend: the jobs whose results were blended (credited)
    original_prompt: str | None = None  # prompt help: the member's own words, when rewritten
    style: str | None = None  # the style the prompt was written in (credited in the result)
    # inpaint by words: "<provider>:<request id>" of the segmentation, once submitted (a
    # restart re-attaches to it; bot/jobs/masks.py)
    mask_request: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenerationRequest:
        values = dict(data)
        values["loras"] = tuple(LoraRef(**lora) for lora in values.get("loras") or ())
        values["extra_image_ids"] = tuple(values.get("extra_image_ids") or ())
        values["expand"] = tuple(values.get("expand") or (0, 0, 0, 0))
        values["sources"] = tuple(values.get("sources") or ())
        return cls(**values)

    @property
    def action(self) -> Action:
        return Action(
            mask_id=self.mask_id,
            region=self.region,
            extra_image_ids=self.extra_image_ids,
            expand=self.expand,
            zoom_out=self.zoom_out,
            duration=self.duration,
            sources=self.sources,
        )

    @property
    def image_ids(self) -> tuple[int, ...]:
        """Every input image, the first one first."""
        first = () if self.image_id is None else (self.image_id,)
        return (*first, *self.extra_image_ids)


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
    mode: Mode = "txt2img",
    strength: float | None = None,
    loras: tuple[LoraRef, ...] = (),
    image_id: int | None = None,
    upscale_factor: int | None = None,
    action: Action = NO_ACTION,
) -> GenerationRequest:
    """Check every option against the config, the provider's capabilities and the model's
    limits; raise InvalidRequest naming the problem."""
    prompt, negative_prompt = clean_prompts(prompt, negative_prompt, mode)
    provider = enabled_provider(config, provider)
    count = checked_count(count)
    check_capabilities(config, provider, mode=mode, loras=len(loras), count=count)
    model = chosen_model(config, provider, model, mode, has_loras=bool(loras))
    entry = require_entry(config, provider, model, mode)
    aspect_ratio = aspect_ratio_of(aspect_ratio)
    asked = (negative_prompt, seed, steps, guidance, strength)
    check_options(
        config,
        entry,
        aspect_ratio=aspect_ratio if mode == "txt2img" else None,
        options=tuple(o for o, v in zip(CHECKED_OPTIONS, asked, strict=True) if v is not None),
    )
    check_values(seed, mode, image_id, strength, upscale_factor)
    check_action(entry, mode, image_id, action)
    check_lora_scales(entry, loras)
    check_limits(entry, steps, guidance, strength)
    request = GenerationRequest(
        prompt=prompt,
        provider=provider,
        model=model,
        negative_prompt=negative_prompt,
        aspect_ratio=aspect_ratio,
        count=count,
        seed=seed,
        steps=steps,
        guidance=guidance,
        mode=mode,
        strength=strength,
        loras=tuple(loras),
        image_id=image_id,
        upscale_factor=upscale_factor,
        **asdict(action),
    )
    _check_schema(entry, request)
    return request


# The providers whose inputs the bot writes from the schema alone (`model_input`); CivitAI's
# workflow steps and OpenAI's sizes are shaped by their adapters, checked option by option.
SCHEMA_MAPPED = ("fal", "replicate")
SCHEMA_REASON_CHARS = 300


def _check_schema(entry: ModelEntry, request: GenerationRequest) -> None:
    """The whole input as the provider would receive it, validated against the published
    schema: whatever the checks above missed is still refused before the quota is touched."""
    if entry.provider not in SCHEMA_MAPPED:
        return
    image = PLACEHOLDER_IMAGE if request.mode in IMAGE_MODES else None
    extra = ExtraInputs(
        mask=PLACEHOLDER_IMAGE if request.mode == "inpaint" else None,
        images=(PLACEHOLDER_IMAGE,) * len(request.extra_image_ids),
    )
    problems = entry.schema.problems(model_input(entry, request, image, extra))
    if problems:
        first = problems[0]
        where = f"{first.field}: " if first.field else ""
        # The validator's words may quote the member's own text (a whole prompt): bounded, and
        # shown as plain text.
        said = escape(short_prompt(f"{where}{first.message}", SCHEMA_REASON_CHARS))
        raise InvalidRequest(
            _("{model} would refuse this request ({said}).", model=entry.model, said=said)
        )


@dataclass(frozen=True)
class RequestOptions:
    """What a member (or a button) asked for, before it is checked: `build` validates it into a
    `GenerationRequest`. Derived jobs start from `inherited` and change fields with `replace`."""

    prompt: str
    negative_prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    aspect_ratio: str | None = None
    count: int | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    mode: Mode = "txt2img"
    strength: float | None = None
    loras: tuple[LoraRef, ...] = ()
    upscale_factor: int | None = None
    action: Action = NO_ACTION
    style: str | None = None  # a style's name: applied by bot/studio before `build`

    def build(self, config: Config, *, image_id: int | None = None) -> GenerationRequest:
        request = build_request(
            config,
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            provider=self.provider,
            model=self.model,
            aspect_ratio=self.aspect_ratio,
            count=self.count,
            seed=self.seed,
            steps=self.steps,
            guidance=self.guidance,
            mode=self.mode,
            strength=self.strength,
            loras=self.loras,
            image_id=image_id,
            upscale_factor=self.upscale_factor,
            action=self.action,
        )
        return replace(request, style=self.style) if self.style else request

    def fitted(self, config: Config) -> RequestOptions:
        """Inherited values adapted to the target model's schema: a derived job (a V button on
        a 4-step schnell result goes to an image-to-image model that takes 10–50) moves values
        into range and drops those the model has no input for, where a member's own choice is
        refused."""
        provider = self.provider or config.generation.default_provider
        if provider not in config.providers:
            return self  # refused by `build`, with the reason
        special = mode_model(config, provider, self.mode, has_loras=bool(self.loras))
        entry = catalogue_for(config).entry(
            provider, special or self.model or config.providers[provider].model, self.mode
        )
        if entry is None:
            return self
        limits = entry.limits
        steps, guidance = self.steps, self.guidance
        if steps is not None:
            steps = min(max(steps, limits.min_steps), limits.max_steps)
        if guidance is not None and limits.guidance is not None:
            guidance = min(max(guidance, limits.guidance[0]), limits.guidance[1])
        return replace(
            self,
            steps=steps if entry.takes("steps") else None,
            guidance=guidance if entry.takes("guidance") else None,
            negative_prompt=self.negative_prompt if entry.takes("negative_prompt") else None,
            count=min(self.count, limits.max_images) if self.count else self.count,
        )

    @classmethod
    def inherited(cls, request: GenerationRequest) -> RequestOptions:
        """A result's options, as a derived job starts from them (a fixed model only where the
        member chose it: text-to-image without LoRAs; never the seed)."""
        return cls(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            provider=request.provider,
            model=request.model if request.mode == "txt2img" and not request.loras else None,
            aspect_ratio=request.aspect_ratio,
            count=request.count,
            steps=request.steps,
            guidance=request.guidance,
            loras=request.loras,
        )


def retarget(config: Config, request: GenerationRequest, provider: str) -> GenerationRequest:
    """The same request for another provider (a fallback), re-validated for it."""
    options = RequestOptions(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        provider=provider,
        aspect_ratio=request.aspect_ratio,
        count=request.count,
        seed=request.seed,
        steps=request.steps,
        guidance=request.guidance,
        mode=request.mode,
        strength=request.strength,
        loras=request.loras,
        upscale_factor=request.upscale_factor,
        action=request.action,
    )
    return options.build(config, image_id=request.image_id)
