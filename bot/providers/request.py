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
from bot.providers.action import DEFAULT_PROMPTS, IMAGE_MODES, NO_ACTION, Action, check_action
from bot.providers.capabilities import ASPECT_RATIOS
from bot.providers.catalogue import (
    MODE_NAMES,
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

MAX_PROMPT_CHARS = 6000  # Discord's own limit for a string option
MAX_IMAGES = 4
MAX_SEED = 2**32 - 1

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
    prompt, negative_prompt = _clean_prompts(prompt, negative_prompt, mode)
    provider = _enabled_provider(config, provider)
    count = 1 if count is None else count
    if not 1 <= count <= MAX_IMAGES:
        raise InvalidRequest(f"count must be between 1 and {MAX_IMAGES} images (got {count}).")
    check_capabilities(config, provider, mode=mode, loras=len(loras), count=count)
    model = _chosen_model(config, provider, model, mode, has_loras=bool(loras))
    entry = require_entry(config, provider, model, mode)
    aspect_ratio = _aspect_ratio(aspect_ratio)
    asked = (negative_prompt, seed, steps, guidance, strength)
    check_options(
        config,
        entry,
        aspect_ratio=aspect_ratio if mode == "txt2img" else None,
        options=tuple(o for o, v in zip(CHECKED_OPTIONS, asked, strict=True) if v is not None),
    )
    _check_values(seed, mode, image_id, strength, upscale_factor)
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


def _aspect_ratio(asked: str | None) -> str:
    ratio = asked or "1:1"
    if ratio not in ASPECT_RATIOS:
        raise InvalidRequest(
            f"Aspect ratio {ratio!r} is not supported; choose one of {', '.join(ASPECT_RATIOS)}."
        )
    return ratio


def _clean_prompts(
    prompt: str | None, negative_prompt: str | None, mode: Mode
) -> tuple[str, str | None]:
    prompt = (prompt or "").strip()
    if mode in DEFAULT_PROMPTS and not prompt:
        prompt = DEFAULT_PROMPTS[mode]
    if not prompt:
        raise InvalidRequest("The prompt is empty: describe the image you want.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}."
        )
    if negative_prompt is not None:
        negative_prompt = negative_prompt.strip() or None
    if negative_prompt and len(negative_prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The negative prompt is {len(negative_prompt)} characters long; "
            f"the limit is {MAX_PROMPT_CHARS}."
        )
    return prompt, negative_prompt


def _enabled_provider(config: Config, provider: str | None) -> str:
    provider = provider or config.generation.default_provider
    enabled = config.enabled_providers
    if provider not in config.providers:
        raise InvalidRequest(f"Unknown provider {provider!r}: choose one of {', '.join(enabled)}.")
    if provider not in enabled:
        raise InvalidRequest(
            f"The {provider} provider is not set up on this bot; choose {', '.join(enabled)}."
        )
    return provider


def _chosen_model(
    config: Config, provider: str, model: str | None, mode: Mode, *, has_loras: bool
) -> str:
    """The model asked for (or the provider's default), which the mode and provider allow."""
    special = mode_model(config, provider, mode, has_loras=has_loras)
    if special is not None:
        if model and model.strip() and model.strip() != special:
            raise InvalidRequest(
                f"Model {model.strip()!r} can't be chosen here: {MODE_NAMES[mode]} on {provider} "
                f"uses {special}."
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
            f"{model} is a {owner} model but the provider is {provider}: "
            f"pick provider {owner}, or one of {', '.join(allowed)}."
        )
    raise InvalidRequest(
        f"The model {model!r} is not available on {provider} here; "
        f"choose one of: {', '.join(allowed)}."
    )


def _check_values(
    seed: int | None,
    mode: Mode,
    image_id: int | None,
    strength: float | None,
    upscale_factor: int | None,
) -> None:
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InvalidRequest(f"seed must be between 0 and {MAX_SEED} (got {seed}).")
    if mode in IMAGE_MODES and image_id is None:
        raise InvalidRequest("This needs an input image.")
    if strength is not None and not 0.05 <= strength <= 1.0:
        raise InvalidRequest(f"strength must be between 0.05 and 1.0 (got {strength:g}).")
    if upscale_factor is not None and upscale_factor not in (2, 4):
        raise InvalidRequest("The upscale factor must be 2 or 4.")


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
        raise InvalidRequest(f"{entry.model} would refuse this request ({said}).")


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
