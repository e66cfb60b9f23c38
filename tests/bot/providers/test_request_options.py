"""What a derived job inherits from the result it builds on (`RequestOptions.inherited`), and
that a fallback keeps the member's options (`retarget`)."""

from __future__ import annotations

from dataclasses import replace

from bot.config import parse_config
from bot.providers.request import GenerationRequest, LoraRef, RequestOptions, retarget

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "k", "REPLICATE_API_TOKEN": "r"}
CONFIG = parse_config({"providers": {"replicate": {"enabled": True}}}, ENV)
RESULT = GenerationRequest(
    prompt="a red kite",
    provider="fal",
    model="fal-ai/flux/schnell",
    negative_prompt=None,
    aspect_ratio="16:9",
    count=2,
    seed=1234,
    steps=4,
)


def test_a_derived_job_never_inherits_the_seed() -> None:
    assert RequestOptions.inherited(RESULT).seed is None


def test_a_derived_job_keeps_the_prompt_shape_count_and_steps() -> None:
    options = RequestOptions.inherited(RESULT)
    assert (options.prompt, options.aspect_ratio, options.count, options.steps) == (
        "a red kite",
        "16:9",
        2,
        4,
    )


def test_a_text_to_image_model_the_member_chose_is_kept() -> None:
    assert RequestOptions.inherited(RESULT).model == "fal-ai/flux/schnell"


def test_a_model_the_mode_imposed_is_not_kept() -> None:
    variation = replace(RESULT, mode="img2img", model="fal-ai/flux/dev/image-to-image")
    assert RequestOptions.inherited(variation).model is None


def test_a_lora_result_leaves_the_model_to_the_lora_mode() -> None:
    with_lora = replace(RESULT, loras=(LoraRef("https://x.example/a.safetensors"),))
    options = RequestOptions.inherited(with_lora)
    assert options.model is None and options.loras == with_lora.loras


def test_inherited_options_build_the_same_request_without_the_seed() -> None:
    rebuilt = RequestOptions.inherited(RESULT).build(CONFIG)
    assert rebuilt == replace(RESULT, seed=None)


def test_a_fallback_keeps_the_options_on_the_other_provider() -> None:
    dev = replace(RESULT, model="fal-ai/flux/dev", steps=28)
    moved = retarget(CONFIG, dev, "replicate")
    assert (moved.provider, moved.prompt, moved.count, moved.seed, moved.steps) == (
        "replicate",
        "a red kite",
        2,
        1234,
        28,
    )
    assert moved.model == CONFIG.providers["replicate"].model


def test_inherited_steps_are_moved_into_the_target_models_range() -> None:
    variation = replace(RequestOptions.inherited(RESULT), model=None, mode="img2img")
    assert variation.fitted(CONFIG).steps == 10  # fal's image-to-image takes 10–50


def test_steps_already_in_range_are_kept() -> None:
    assert RequestOptions.inherited(RESULT).fitted(CONFIG).steps == 4  # schnell takes 1–12


def test_a_members_own_steps_out_of_the_models_range_are_refused() -> None:
    import pytest

    from bot.errors import InvalidRequest

    options = RequestOptions(prompt="p", mode="img2img", steps=4)
    with pytest.raises(InvalidRequest, match="steps must be between 10 and 50"):
        options.build(CONFIG, image_id=1)
