"""Config, validation and capability rules for the CivitAI and OpenAI-compatible providers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config, parse_config
from bot.delivery.downloads import decode_data_url
from bot.errors import ConfigError, DeliveryError, InvalidRequest
from bot.providers.openai_compat import max_n, split_count
from bot.providers.request import build_request
from tests.fakes.cdn import make_png

ROOT = Path(__file__).resolve().parents[3]
ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}


def config(providers: dict[str, Any], env: dict[str, str] | None = None, **raw: Any) -> Any:
    return parse_config({"providers": providers, **raw}, {**ENV, **(env or {})})


@pytest.mark.parametrize(
    ("providers", "env", "expected"),
    [
        (
            {"civitai": {"enabled": True}},
            {},
            "CIVITAI_API_TOKEN is not set: export CIVITAI_API_TOKEN=<your civitai API key>, "
            "or set [providers.civitai] enabled = false.",
        ),
        ({"openai": {"enabled": True}}, {}, "OPENAI_API_KEY is not set"),
        (
            {"openai": {"enabled": True, "api_key_env": "LITELLM_KEY"}},
            {"OPENAI_API_KEY": "x"},
            "LITELLM_KEY is not set: export LITELLM_KEY=<your openai API key>",
        ),
        (
            {"openai": {"base_url": "api.openai.com/v1"}},
            {},
            "[providers.openai] base_url = 'api.openai.com/v1' is not an http(s) URL: use e.g. "
            '"https://api.openai.com/v1".',
        ),
        (
            {"civitai": {"models_base_url": "civitai.com"}},
            {},
            "[providers.civitai] models_base_url = 'civitai.com' is not an http(s) URL",
        ),
        (
            {"fal": {"storage_url": "rest.fal.ai"}},
            {},
            "[providers.fal] storage_url = 'rest.fal.ai' is not an http(s) URL: use e.g. "
            '"https://rest.fal.ai".',
        ),
        ({"openai": {"api_key_env": "MY-KEY"}}, {}, "api_key_env = 'MY-KEY' is not an environment"),
        ({"civitai": {"base_urll": "x"}}, {}, "unknown key 'base_urll' in [providers.civitai]"),
    ],
)
def test_new_provider_settings_fail_with_one_clear_line(
    providers: dict[str, Any], env: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config(providers, env)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_new_providers_are_off_by_default_and_configurable() -> None:
    example = load_config(ROOT / "config.example.toml", ENV)
    assert example.enabled_providers == ("fal",)
    assert example.providers["civitai"].base_url == "https://orchestration.civitai.com"
    assert example.providers["civitai"].models_base_url == "https://civitai.com"
    assert example.providers["openai"].base_url == "https://api.openai.com/v1"

    custom = config(
        {
            "openai": {"enabled": True, "api_key_env": "PROXY_KEY", "model": "dall-e-3"},
            "civitai": {"enabled": True, "model": "urn:air:sd1:checkpoint:civitai:4384@128713"},
        },
        {"PROXY_KEY": "p", "CIVITAI_API_TOKEN": "c"},
        generation={"default_provider": "openai"},
    )
    assert custom.enabled_providers == ("fal", "civitai", "openai")
    assert custom.secrets.provider_keys["openai"].get() == "p"
    assert custom.providers["openai"].api_key_env == "PROXY_KEY"
    assert custom.providers["civitai"].api_key_env == "CIVITAI_API_TOKEN"
    # LoRAs ride on the chosen checkpoint unless another is set.
    assert custom.providers["civitai"].lora_model == "urn:air:sd1:checkpoint:civitai:4384@128713"
    assert custom.generation.default_provider == "openai"


def test_capabilities_refuse_what_openai_cannot_do_and_allow_what_it_can() -> None:
    cfg = config(
        {"openai": {"enabled": True, "models": ["gpt-image-1.5", "dall-e-3", "dall-e-2"]}},
        {"OPENAI_API_KEY": "k"},
    )
    ok = build_request(cfg, prompt="x", provider="openai", aspect_ratio="2:3", count=4)
    assert (ok.model, ok.count) == ("gpt-image-1.5", 4)
    dalle = build_request(cfg, prompt="x", provider="openai", model="dall-e-3", aspect_ratio="9:16")
    assert dalle.aspect_ratio == "9:16"
    with pytest.raises(InvalidRequest) as info:
        build_request(cfg, prompt="x", provider="openai", model="dall-e-2", aspect_ratio="16:9")
    assert str(info.value) == (
        "openai can't do aspect ratio 16:9 on this bot (with dall-e-2 it offers 1:1); "
        "fal can: pick provider fal."
    )
    with pytest.raises(InvalidRequest, match="openai can't do a step count on this bot; fal can"):
        build_request(cfg, prompt="x", provider="openai", steps=20)
    with pytest.raises(InvalidRequest, match="can't do a guidance value"):
        build_request(cfg, prompt="x", provider="openai", guidance=3.0)
    with pytest.raises(InvalidRequest, match="openai can't do 1 LoRA on this bot; fal can"):
        from bot.providers.request import LoraRef

        build_request(cfg, prompt="x", provider="openai", loras=(LoraRef("https://x/y"),))


def test_n_is_split_for_models_that_draw_one_image_per_call() -> None:
    assert max_n("dall-e-3") == 1 and max_n("gpt-image-1.5") == 10
    assert split_count(3, 1) == [1, 1, 1]
    assert split_count(4, 10) == [4]
    assert split_count(5, 2) == [2, 2, 1]


def test_data_urls_decode_and_are_capped() -> None:
    import base64

    png = make_png(4, 4)
    assert decode_data_url("data:image/png;base64," + base64.b64encode(png).decode()) == png
    with pytest.raises(DeliveryError, match="unreadable"):
        decode_data_url("data:image/png;base64,***")
    with pytest.raises(DeliveryError, match="unreadable"):
        decode_data_url("data:text/plain,hello")
