from __future__ import annotations

import pytest

from bot.config import Config, parse_config
from bot.errors import InvalidRequest
from bot.providers.fal import FalProvider
from bot.providers.replicate import ReplicateProvider
from bot.providers.request import build_request

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "f", "REPLICATE_API_TOKEN": "r"}


@pytest.fixture
def config() -> Config:
    return parse_config({"providers": {"replicate": {"enabled": True}}}, ENV)


def test_defaults(config: Config) -> None:
    request = build_request(config, prompt="  a red fox  ")
    assert request.prompt == "a red fox"
    assert (request.provider, request.model) == ("fal", "fal-ai/flux/dev")
    assert (request.aspect_ratio, request.count, request.seed) == ("1:1", 1, None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt": "   "}, "The prompt is empty"),
        ({"prompt": "x" * 6001}, "6001 characters long; the limit is 6000"),
        ({"prompt": "a", "count": 5}, "count must be between 1 and 4"),
        ({"prompt": "a", "count": 0}, "count must be between 1 and 4"),
        ({"prompt": "a", "seed": -1}, "seed must be between 0"),
        ({"prompt": "a", "aspect_ratio": "5:1"}, "Aspect ratio '5:1' is not supported"),
        ({"prompt": "a", "steps": 51}, "steps must be between 1 and 50"),
        ({"prompt": "a", "model": "fal-ai/flux/schnell", "steps": 13}, "between 1 and 12"),
        (
            {
                "prompt": "a",
                "provider": "replicate",
                "model": "black-forest-labs/flux-schnell",
                "guidance": 3,
            },
            "flux-schnell takes no guidance value; black-forest-labs/flux-dev does",
        ),
        (
            {"prompt": "a", "negative_prompt": "blur"},
            "No model on this bot takes a negative prompt",
        ),
        ({"prompt": "a", "provider": "replicate", "guidance": 15}, "between 0 and 10"),
        ({"prompt": "a", "model": "black-forest-labs/flux-dev"}, "is a replicate model"),
        ({"prompt": "a", "model": "stability/sdxl"}, "'stability/sdxl' is not available on fal"),
        ({"prompt": "a", "provider": "midjourney"}, "Unknown provider 'midjourney'"),
        ({"prompt": "a", "provider": "openai"}, "The openai provider is not set up on this bot"),
    ],
)
def test_refusals_name_the_problem(
    config: Config, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(")):
        build_request(config, **options)  # type: ignore[arg-type]


def test_disabled_provider_is_refused() -> None:
    config = parse_config({}, {"DISCORD_TOKEN": "t", "FAL_KEY": "f"})
    with pytest.raises(InvalidRequest, match="replicate provider is not set up"):
        build_request(config, prompt="a", provider="replicate")


def test_6000_character_prompt_is_accepted(config: Config) -> None:
    assert len(build_request(config, prompt="y" * 6000).prompt) == 6000


def test_provider_input_mapping(config: Config) -> None:
    request = build_request(
        config,
        prompt="p",
        aspect_ratio="16:9",
        count=3,
        seed=7,
        steps=20,
        guidance=4.5,
    )
    fal = FalProvider("k").build_input(request)
    assert fal == {
        "prompt": "p",
        "image_size": "landscape_16_9",
        "num_images": 3,
        "seed": 7,
        "num_inference_steps": 20,
        "guidance_scale": 4.5,
        "enable_safety_checker": True,
        "output_format": "png",
    }
    rep_request = build_request(
        config, prompt="p", provider="replicate", aspect_ratio="21:9", count=2, guidance=3.0
    )
    rep = ReplicateProvider("k").build_input(rep_request)
    assert rep["aspect_ratio"] == "21:9"
    assert rep["num_outputs"] == 2
    assert rep["guidance"] == 3.0
    assert rep["disable_safety_checker"] is False
    assert FalProvider("k").build_input(build_request(config, prompt="p", aspect_ratio="21:9"))[
        "image_size"
    ] == {"width": 1536, "height": 656}
