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
        # The image actions (issue 15): a mask input, expand fields, a text-prompted mask, a
        # caption string, several input images, a video output.
        ("fal", "fal-ai/flux-pro/v1/fill", {"inpaint"}),
        ("fal", "fal-ai/flux-lora/inpainting", {"inpaint"}),
        ("replicate", "black-forest-labs/flux-fill-dev", {"inpaint"}),
        ("fal", "fal-ai/image-apps-v2/outpaint", {"outpaint"}),
        ("fal", "fal-ai/evf-sam", {"segment"}),
        ("fal", "fal-ai/florence-2-large/more-detailed-caption", {"describe"}),
        ("fal", "fal-ai/moondream3-preview/caption", {"describe"}),
        ("fal", "fal-ai/flux-pro/kontext/multi", {"blend"}),
        ("fal", "fal-ai/flux-2/edit", {"blend"}),
        ("replicate", "flux-kontext-apps/multi-image-kontext-pro", {"blend"}),
        ("fal", "fal-ai/kling-video/v3/standard/image-to-video", {"video"}),
        ("fal", "fal-ai/veo3.1/fast/image-to-video", {"video"}),
        ("fal", "fal-ai/wan/v2.7/image-to-video", {"video"}),
        ("replicate", "minimax/hailuo-02", {"video"}),
        ("replicate", "kwaivgi/kling-v1.6-pro", {"video"}),
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


@pytest.mark.parametrize(
    ("model", "seconds", "sent"),
    [
        ("fal-ai/kling-video/v3/standard/image-to-video", 5, "5"),  # a string
        ("fal-ai/veo3.1/fast/image-to-video", 6, "6s"),  # a string with its unit
        ("fal-ai/wan/v2.7/image-to-video", 5, 5),  # an integer
    ],
)
def test_a_clip_length_is_written_as_each_video_schema_spells_it(
    model: str, seconds: int, sent: object
) -> None:
    from bot.providers.catalogue.mapping import video_duration

    assert video_duration(entry("fal", model), seconds) == sent


def test_the_clip_lengths_offered_are_those_the_schema_takes() -> None:
    from bot.providers.catalogue.mapping import video_durations

    assert video_durations(entry("fal", "fal-ai/veo3.1/fast/image-to-video")) == (4, 6, 8)
    assert video_durations(entry("replicate", "minimax/hailuo-02")) == (6, 10)
    assert video_durations(entry("fal", "fal-ai/wan/v2.7/image-to-video")) == tuple(range(2, 16))


def test_a_video_is_priced_per_second_of_video() -> None:
    price = entry("fal", "fal-ai/wan/v2.7/image-to-video").price
    assert price == Price("video_second", 0.15)
    assert price.per_video(5) == pytest.approx(0.75)
    assert price.per_image(1.0) is None
