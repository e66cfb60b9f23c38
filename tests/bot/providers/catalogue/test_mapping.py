"""The image actions' inputs written onto each model by the names its schema publishes."""

from __future__ import annotations

import pytest

from bot.config import Config, parse_config
from bot.errors import InvalidRequest
from bot.providers.action import Action
from bot.providers.catalogue import catalogue_for, model_input
from bot.providers.catalogue.mapping import ExtraInputs
from bot.providers.request import build_request

ENV = {"DISCORD_TOKEN": "x", "FAL_KEY": "k", "REPLICATE_API_TOKEN": "r"}
IMAGE, MASK, OTHER = "https://cdn/a.png", "https://cdn/m.png", "https://cdn/b.png"


@pytest.fixture
def config() -> Config:
    return parse_config({"providers": {"replicate": {"enabled": True}}}, ENV)


NONE = ExtraInputs()


def sent(config: Config, extra: ExtraInputs = NONE, **options: object) -> dict[str, object]:
    request = build_request(config, image_id=1, **options)  # type: ignore[arg-type]
    entry = catalogue_for(config).entry(request.provider, request.model)
    assert entry is not None
    return model_input(entry, request, IMAGE, extra)


def test_a_fill_model_gets_the_mask_by_its_own_name(config: Config) -> None:
    mask = ExtraInputs(mask=MASK)
    fal = sent(config, mask, prompt="p", mode="inpaint", action=Action(mask_id=2))
    assert (fal["image_url"], fal["mask_url"]) == (IMAGE, MASK)
    cog = sent(
        config, mask, prompt="p", provider="replicate", mode="inpaint", action=Action(mask_id=2)
    )
    # cog's fill rescales to one megapixel by default: the mask would not line up.
    assert (cog["image"], cog["mask"], cog["megapixels"]) == (IMAGE, MASK, "match_input")


def test_flux_lora_inpainting_repaints_the_masked_area_fully(config: Config) -> None:
    config = parse_config(
        {"providers": {"fal": {"inpaint_model": "fal-ai/flux-lora/inpainting"}}}, ENV
    )
    found = sent(config, ExtraInputs(mask=MASK), prompt="p", mode="inpaint", action=Action(2))
    assert found["strength"] == 1.0  # its default 0.85 keeps some of the old pixels


def test_a_pan_sends_no_zoom_out_since_the_default_would_shrink_the_picture(
    config: Config,
) -> None:
    found = sent(config, prompt="p", mode="outpaint", action=Action(expand=(300, 0, 0, 0)))
    assert found["zoom_out_percentage"] == 0
    assert (found["expand_left"], found["expand_right"]) == (300, 0)


def test_a_pair_blend_model_gets_its_two_image_fields(config: Config) -> None:
    found = sent(
        config,
        ExtraInputs(images=(OTHER,)),
        prompt="p",
        provider="replicate",
        mode="blend",
        action=Action(extra_image_ids=(2,)),
    )
    assert (found["input_image_1"], found["input_image_2"]) == (IMAGE, OTHER)


def test_a_pair_blend_model_refuses_a_third_image_before_anything_is_charged(
    config: Config,
) -> None:
    with pytest.raises(InvalidRequest, match="blends exactly 2 images; you gave 3"):
        build_request(
            config,
            prompt="p",
            provider="replicate",
            mode="blend",
            image_id=1,
            action=Action(extra_image_ids=(2, 3)),
        )


def test_hailuo_takes_10_s_only_at_768p_so_the_bot_asks_for_768p(config: Config) -> None:
    found = sent(config, prompt="p", provider="replicate", mode="video", action=Action(duration=10))
    assert (found["duration"], found["resolution"], found["first_frame_image"]) == (
        10,
        "768p",
        IMAGE,
    )


def test_a_clip_length_the_model_does_not_make_is_refused_naming_those_it_does(
    config: Config,
) -> None:
    with pytest.raises(InvalidRequest, match="makes clips of 6 s, 10 s; 7 s is not one"):
        build_request(
            config,
            prompt="p",
            provider="replicate",
            mode="video",
            image_id=1,
            action=Action(duration=7),
        )
