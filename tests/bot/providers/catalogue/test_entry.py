"""What the catalogue derives from each model's published schema."""

from __future__ import annotations

import pytest

from bot.providers.catalogue import Catalogue, Price

CATALOGUE = Catalogue.shipped()


def entry(provider: str, model: str):  # type: ignore[no-untyped-def]
    found = CATALOGUE.entry(provider, model)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("provider", "model", "modes"),
    [
        ("fal", "fal-ai/flux/dev", {"txt2img"}),
        ("fal", "fal-ai/flux/dev/image-to-image", {"img2img"}),
        ("fal", "fal-ai/flux-lora", {"txt2img", "lora"}),
        ("fal", "fal-ai/esrgan", {"upscale"}),
        ("replicate", "black-forest-labs/flux-dev", {"txt2img", "img2img"}),
        ("replicate", "nightmareai/real-esrgan", {"upscale"}),
        ("openai", "gpt-image-1.5", {"txt2img"}),
    ],
)
def test_modes_follow_the_inputs_a_model_publishes(
    provider: str, model: str, modes: set[str]
) -> None:
    assert entry(provider, model).modes == modes


def test_flux_models_take_no_negative_prompt() -> None:
    for provider, model in (
        ("fal", "fal-ai/flux/dev"),
        ("replicate", "black-forest-labs/flux-dev"),
    ):
        assert not entry(provider, model).takes("negative_prompt")
    assert entry("civitai", "urn:air:sdxl:checkpoint:civitai:1@2").takes("negative_prompt")


def test_ranges_come_from_the_schema() -> None:
    assert entry("fal", "fal-ai/flux/schnell").limits.steps == (1, 12)
    assert entry("fal", "fal-ai/flux/dev/image-to-image").limits.steps == (10, 50)
    assert entry("fal", "fal-ai/flux-lora").limits.lora_scale == (0, 4)
    assert entry("replicate", "black-forest-labs/flux-dev-lora").limits.lora_scale == (-1, 3)
    assert entry("replicate", "black-forest-labs/flux-dev").limits.guidance == (0, 10)
    assert entry("replicate", "black-forest-labs/flux-schnell").limits.steps == (1, 4)


def test_a_community_model_carries_its_version_and_an_official_one_none() -> None:
    esrgan = entry("replicate", "nightmareai/real-esrgan")
    assert not esrgan.official and esrgan.version and len(esrgan.version) == 64
    assert entry("replicate", "black-forest-labs/flux-dev").official


def test_a_pinned_version_or_any_model_is_described_under_its_own_name() -> None:
    pinned = entry("replicate", "nightmareai/real-esrgan:" + "a" * 64)
    assert pinned.model == "nightmareai/real-esrgan:" + "a" * 64
    assert entry("openai", "openai/gpt-image-1.5").aspect_ratios == ("1:1", "3:2", "2:3")


def test_per_megapixel_prices_bill_each_started_megapixel() -> None:
    price = Price("megapixel", 0.025)
    assert price.per_image(1.0) == pytest.approx(0.025)
    assert price.per_image(1.01) == pytest.approx(0.05)
    assert Price("image", 0.003).per_image(4.0) == 0.003
    assert Price("second", 0.001).per_image(1.0) is None
