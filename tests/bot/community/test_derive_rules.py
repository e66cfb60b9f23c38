"""The pure rules of building on images and LoRAs: the variation strength a member may type
(`parse_strength`) and the LoRA links a provider may be given (`validate_lora_url`)."""

from __future__ import annotations

import pytest

from bot.community.derive import STRENGTH_WORDS, parse_strength
from bot.community.loras import validate_lora_url
from bot.errors import InvalidRequest

SUBTLE, STRONG = 0.35, 0.75

# -- parse_strength -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "strength"),
    [("subtle", SUBTLE), ("strong", STRONG), ("  Subtle ", SUBTLE), ("STRONG", STRONG)],
)
def test_strength_words_mean_fixed_strengths_in_any_case(typed: str, strength: float) -> None:
    assert parse_strength(typed) == strength


def test_the_strength_words_are_exactly_subtle_and_strong() -> None:
    assert STRENGTH_WORDS == {"subtle": SUBTLE, "strong": STRONG}


@pytest.mark.parametrize("typed", [None, "", "   "])
def test_no_strength_typed_means_the_default(typed: str | None) -> None:
    assert parse_strength(typed) is None


@pytest.mark.parametrize(
    ("typed", "strength"), [("0.05", 0.05), ("1", 1.0), ("1.0", 1.0), (" 0.5 ", 0.5), ("5e-1", 0.5)]
)
def test_a_number_from_0_05_to_1_is_taken_as_is(typed: str, strength: float) -> None:
    assert parse_strength(typed) == strength


@pytest.mark.parametrize(
    ("typed", "shown"),
    [("0.04", "0.04"), ("0", "0"), ("-0.5", "-0.5"), ("1.01", "1.01"), ("inf", "inf")],
)
def test_a_number_out_of_bounds_is_refused_naming_the_bounds(typed: str, shown: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_strength(typed)
    assert str(refused.value) == f"strength must be between 0.05 and 1.0 (got {shown})."


def test_nan_is_refused_as_out_of_bounds() -> None:
    with pytest.raises(InvalidRequest, match=r"between 0\.05 and 1\.0 \(got nan\)"):
        parse_strength("nan")


@pytest.mark.parametrize("typed", ["medium", "half", "0,5", "50%"])
def test_anything_else_is_refused_naming_what_is_accepted(typed: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_strength(typed)
    assert str(refused.value) == (
        f"strength {typed!r} is not valid: use subtle, strong, or a number from 0.05 to 1.0."
    )


# -- validate_lora_url ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/loras/ink.safetensors",
        "https://example.com/loras/INK.SafeTensors",
        "https://huggingface.co/alice/ink-wash",
        "https://huggingface.co/alice/ink-wash/resolve/main/ink.safetensors",
        "https://www.huggingface.co/alice/ink-wash",
        "https://civitai.com/models/12345",
        "https://civitai.com/models/12345/ink-wash?modelVersionId=678",
        "https://www.civitai.com/models/12345",
        "https://civitai.com/api/download/models/678",
        "urn:air:sdxl:lora:civitai:12345@678",
        "urn:air:flux1:lora:civitai:1@2",
    ],
)
def test_links_a_provider_can_fetch_itself_are_accepted(url: str) -> None:
    assert validate_lora_url(url) == url


def test_a_lora_link_is_returned_without_surrounding_spaces() -> None:
    assert validate_lora_url("  https://civitai.com/models/1 \n") == "https://civitai.com/models/1"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/ink.safetensors",
        "ftp://example.com/ink.safetensors",
        "example.com/ink.safetensors",
        "https:///ink.safetensors",
        "file:///etc/passwd",
    ],
)
def test_a_lora_link_must_be_https_with_a_host(url: str) -> None:
    with pytest.raises(InvalidRequest, match="LoRA URLs must start with https://"):
        validate_lora_url(url)


@pytest.mark.parametrize(
    "url", ["https://huggingface.co/alice", "https://huggingface.co/", "https://huggingface.co"]
)
def test_a_hugging_face_link_must_name_a_repository(url: str) -> None:
    with pytest.raises(InvalidRequest, match=r"must name a repository: huggingface\.co/owner/repo"):
        validate_lora_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://civitai.com/",
        "https://civitai.com/models/",
        "https://civitai.com/models/ink-wash",
        "https://civitai.com/user/alice",
        "https://civitai.com/images/123",
    ],
)
def test_a_civitai_link_must_be_a_model_page_or_a_download(url: str) -> None:
    with pytest.raises(InvalidRequest, match=r"model page \(civitai\.com/models/<id>\)"):
        validate_lora_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "urn:air:sdxl:checkpoint:civitai:101055@128078",
        "urn:air:sdxl:lora:civitai:12345",
        "urn:air:sdxl:lora:huggingface:12345@678",
        "urn:air:sdxl:lora:civitai:12345@678 extra",
    ],
)
def test_an_air_must_name_a_civitai_lora_version(url: str) -> None:
    with pytest.raises(InvalidRequest, match="is not a CivitAI LoRA AIR"):
        validate_lora_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/ink.ckpt",
        "https://example.com/ink.safetensors.zip",
        "https://example.com/",
        "https://example.com/download?file=ink.safetensors",
    ],
)
def test_any_other_https_link_must_be_a_safetensors_file(url: str) -> None:
    with pytest.raises(InvalidRequest, match="That is not a LoRA I can use"):
        validate_lora_url(url)
