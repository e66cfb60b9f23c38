"""The CivitAI models resolver and LoRA fit rules, against the fake models API over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.config import parse_config
from bot.errors import InvalidRequest, ProviderError
from bot.providers.civitai_models import (
    NSFW_LEVEL_BLOCKED,
    NSFW_LEVEL_R,
    CivitaiModelInfo,
    CivitaiModels,
    base_model_family,
    check_lora_fit,
    commercial_uses,
    parse_ref,
    resolve,
)
from tests.fakes.civitai import FakeCivitai
from tests.harness import ENV


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def models(fake_civitai: FakeCivitai, session: aiohttp.ClientSession) -> CivitaiModels:
    fake_civitai.add_model(
        4201,
        "Ink Wash",
        versions=[(9002, "SDXL 1.0"), (9001, "SD 1.5")],
        trained_words=["inkwash style", " sumi-e "],
        creator="brushes",
        allow_commercial_use=["Image", "Sell"],
    )
    fake_civitai.add_model(
        77, "Old Gold", versions=[(700, "Pony")], nsfw=True, nsfw_level=NSFW_LEVEL_R | 1
    )
    fake_civitai.add_model(
        101055, "SD XL", type="Checkpoint", versions=[(128078, "SDXL 1.0")], list_versions=True
    )
    fake_civitai.add_model(5, "Hidden history", versions=[(51, "SDXL 1.0")], list_versions=False)
    return CivitaiModels(session, base_url=fake_civitai.base_url)


async def test_a_model_page_link_resolves_to_its_newest_version(
    models: CivitaiModels, fake_civitai: FakeCivitai
) -> None:
    info = await models.resolve("https://civitai.com/models/4201/ink-wash")
    assert info == CivitaiModelInfo(
        model_id=4201,
        version_id=9002,
        name="Ink Wash",
        version_name="v9002",
        type="LORA",
        base_model="SDXL 1.0",
        trained_words=("inkwash style", "sumi-e"),
        nsfw=False,
        nsfw_level=1,
        creator="brushes",
        allow_commercial_use=("Image", "Sell"),
        allow_derivatives=True,
        allow_no_credit=True,
        allow_different_license=False,
        air="urn:air:sdxl:lora:civitai:4201@9002",
        page_url=f"{fake_civitai.base_url}/models/4201?modelVersionId=9002",
        download_url=f"{fake_civitai.base_url}/api/download/models/9002",
    )
    assert info.is_lora and not info.is_nsfw
    paths = [r.path for r in fake_civitai.requests]
    assert paths == ["/api/v1/models/4201"]  # one call when the version is listed


async def test_version_links_airs_and_download_links_pick_that_version(
    models: CivitaiModels, fake_civitai: FakeCivitai, session: aiohttp.ClientSession
) -> None:
    linked = await models.resolve("https://civitai.com/models/4201?modelVersionId=9001")
    assert (linked.version_id, linked.base_model) == (9001, "SD 1.5")
    assert linked.air == "urn:air:sd1:lora:civitai:4201@9001"
    by_air = await models.resolve("urn:air:sdxl:lora:civitai:4201@9002")
    assert by_air.version_id == 9002
    download = await models.resolve("https://civitai.com/api/download/models/700")
    assert (download.model_id, download.name, download.air) == (
        77,
        "Old Gold",
        "urn:air:pony:lora:civitai:77@700",
    )
    unlisted = await models.resolve("urn:air:sdxl:lora:civitai:5@51")
    assert unlisted.version_id == 51 and unlisted.name == "Hidden history"
    assert "/api/v1/model-versions/51" in [r.path for r in fake_civitai.requests]
    newest = await resolve(
        "urn:air:sdxl:checkpoint:civitai:101055",
        session=session,
        base_url=fake_civitai.base_url,
    )
    assert newest.air == "urn:air:sdxl:checkpoint:civitai:101055@128078"
    assert not newest.is_lora


async def test_bad_references_and_missing_models_are_refused_with_the_reason(
    models: CivitaiModels, fake_civitai: FakeCivitai
) -> None:
    for ref in ("https://example.org/models/1", "not a link", "urn:air:sdxl:lora:hf:1@2"):
        with pytest.raises(InvalidRequest, match="not a CivitAI model link or AIR"):
            await models.resolve(ref)
    with pytest.raises(InvalidRequest, match="CivitAI has no model 999"):
        await models.resolve("https://civitai.com/models/999")
    with pytest.raises(InvalidRequest, match="Version 700 belongs to CivitAI model 77, not 4201"):
        await models.resolve("https://civitai.com/models/4201?modelVersionId=700")
    fake_civitai.inject("GET", r"^/api/v1/models/", status=503)
    with pytest.raises(ProviderError) as info:
        await models.resolve("https://civitai.com/models/4201")
    assert info.value.retryable and "HTTP 503" in info.value.reason


async def test_from_config_uses_the_models_base_url_and_token(
    fake_civitai: FakeCivitai, session: aiohttp.ClientSession
) -> None:
    fake_civitai.add_model(1, "One", versions=[(2, "Flux.1 D")])
    config = parse_config({"providers": {"civitai": fake_civitai.config()}}, ENV)
    info = await CivitaiModels.from_config(config, session).resolve("urn:air:flux1:lora:civitai:1")
    assert info.air == "urn:air:flux1:lora:civitai:1@2"
    assert fake_civitai.requests[-1].headers["Authorization"] == "Bearer civitai-test-token"


def lora(**changes: object) -> CivitaiModelInfo:
    base = CivitaiModelInfo(
        model_id=1,
        version_id=2,
        name="Ink Wash",
        version_name="v2",
        type="LORA",
        base_model="SDXL 1.0",
        trained_words=(),
        nsfw=False,
        nsfw_level=1,
        creator=None,
        allow_commercial_use=(),
        allow_derivatives=True,
        allow_no_credit=True,
        allow_different_license=False,
        air="urn:air:sdxl:lora:civitai:1@2",
        page_url="https://civitai.com/models/1",
    )
    return CivitaiModelInfo(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_lora_fit_rules() -> None:
    check_lora_fit(lora(), checkpoint_base_model="SDXL 1.0", allow_nsfw=False)
    check_lora_fit(
        lora(base_model="SDXL Lightning"), checkpoint_base_model="SDXL 1.0", allow_nsfw=False
    )
    check_lora_fit(lora(type="LoCon"), checkpoint_base_model="SDXL Turbo", allow_nsfw=False)
    with pytest.raises(InvalidRequest) as wrong_base:
        check_lora_fit(lora(base_model="SD 1.5"), checkpoint_base_model="SDXL 1.0", allow_nsfw=True)
    assert str(wrong_base.value) == (
        "Ink Wash is a LoRA for SD 1.5, but the checkpoint is SDXL 1.0: pick a SDXL 1.0 version "
        "of it, or another LoRA."
    )
    with pytest.raises(InvalidRequest, match="is a LoRA for Pony"):
        check_lora_fit(lora(base_model="Pony"), checkpoint_base_model="SDXL 1.0", allow_nsfw=True)
    with pytest.raises(InvalidRequest, match="not a LoRA"):
        check_lora_fit(lora(type="Checkpoint"), checkpoint_base_model="SDXL 1.0", allow_nsfw=True)
    for flagged in (lora(nsfw=True), lora(nsfw_level=NSFW_LEVEL_R | 2)):
        with pytest.raises(InvalidRequest, match="does not allow NSFW"):
            check_lora_fit(flagged, checkpoint_base_model="SDXL 1.0", allow_nsfw=False)
        check_lora_fit(flagged, checkpoint_base_model="SDXL 1.0", allow_nsfw=True)
    with pytest.raises(InvalidRequest, match="blocked"):
        check_lora_fit(
            lora(nsfw_level=NSFW_LEVEL_BLOCKED), checkpoint_base_model="SDXL 1.0", allow_nsfw=True
        )


def test_references_and_families() -> None:
    assert parse_ref("<https://www.civitai.com/models/12/x?modelVersionId=34>").version_id == 34
    assert parse_ref("URN:AIR:SDXL:LORA:CIVITAI:1@2").model_id == 1
    assert base_model_family("Flux.1 S") == base_model_family("Flux.1 D") == "flux1"
    assert base_model_family("SD 1.4") == base_model_family("SD 1.5 LCM") == "sd1"
    assert base_model_family("Illustrious") != base_model_family("SDXL 1.0")


@pytest.mark.parametrize(
    ("served", "uses"),
    [
        (["Image", "Sell"], ("Image", "Sell")),
        ("{Image,RentCivit}", ("Image", "RentCivit")),
        ("Image", ("Image",)),
        ("None", ()),
        ("{}", ()),
        (None, ()),
    ],
)
def test_the_licences_commercial_uses_are_read_in_every_form_civitai_serves(
    served: object, uses: tuple[str, ...]
) -> None:
    assert commercial_uses(served) == uses
