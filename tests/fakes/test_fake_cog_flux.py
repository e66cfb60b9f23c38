"""The fake Replicate loads `lora_weights` in exactly the forms replicate/cog-flux's weights.py
does, and fails the prediction with weights.py's text otherwise (no 422)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fakes.cdn import FakeCDN
from tests.fakes.cog_flux import lora_weights_error
from tests.fakes.replicate import FakeReplicate, Script

LOADS = [
    "https://huggingface.co/owner/repo",
    "huggingface.co/owner/repo/lora.safetensors",
    "https://civitai.com/models/12345",
    "https://civitai.com/models/12345/cool-style",
    "https://civitai.com/api/download/models/777",
    "https://civitai.com/api/download/models/777?type=Model&format=SafeTensor",
    "https://example.org/weights/detail.safetensors",
    "https://example.org/signed/detail.safetensors?sig=abc",
    "fofr/flux-pixar-cars",
    "fofr/flux-pixar-cars/abc123",
    "https://replicate.delivery/xezq/weights.tar",
]
FAILS = {
    "https://civitai.com/models/12345?modelVersionId=777": "Failed to parse CivitAI URL",
    "https://civitai.com/models/12345/cool-style?modelVersionId=777": "Failed to parse CivitAI",
    "https://www.civitai.com/models/12345": "Failed to parse CivitAI URL",
    "https://huggingface.co/owner/repo/tree/main": "Failed to parse HuggingFace URL",
    "https://example.org/weights/detail.ckpt": "Failed to parse URL. Expected either:",
    "civitai.com/api/download/models/777": "URL must end with either .tar or .safetensors",
}


@pytest.mark.parametrize("value", LOADS)
def test_forms_cog_flux_loads_are_accepted(value: str) -> None:
    assert lora_weights_error(value, set()) is None


@pytest.mark.parametrize(("value", "error"), FAILS.items())
def test_forms_cog_flux_cannot_load_fail_with_its_text(value: str, error: str) -> None:
    assert (lora_weights_error(value, set()) or "").startswith(error)


def test_a_stand_in_origin_is_judged_as_civitai_com() -> None:
    origins = {"http://127.0.0.1:9"}
    assert lora_weights_error("http://127.0.0.1:9/api/download/models/777", origins) is None
    page = "http://127.0.0.1:9/models/1?modelVersionId=2"
    assert (lora_weights_error(page, origins) or "").startswith("Failed to parse CivitAI URL")


async def test_a_prediction_with_a_page_link_is_created_then_fails_with_that_text(
    cdn: FakeCDN,
) -> None:
    fake = FakeReplicate(cdn)
    fake.script(None, Script(queue_s=0, run_s=5))
    await fake.start()
    try:
        inp = {"prompt": "p", "lora_weights": "https://civitai.com/models/1?modelVersionId=2"}
        headers = {"Authorization": "Bearer r8"}
        async with aiohttp.ClientSession(headers=headers) as s:
            url = f"{fake.base_url}/v1/models/black-forest-labs/flux-dev-lora/predictions"
            async with s.post(url, json={"input": inp}) as created:
                assert created.status == 201
                pid = (await created.json())["id"]
            async with s.get(f"{fake.base_url}/v1/predictions/{pid}") as polled:
                body = await polled.json()
        assert body["status"] == "failed"
        assert body["error"].startswith("Failed to parse CivitAI URL.")
    finally:
        await fake.close()
