"""The CivitAI provider on its own, over loopback against the fake: edge cases of the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.civitai_models import CivitaiModels
from bot.config import DEFAULT_PROVIDERS
from bot.errors import ProviderError
from bot.generation import GenerationRequest, LoraRef
from bot.providers.civitai import CivitaiProvider
from tests.fakes.civitai import FakeCivitai, Script

CHECKPOINT = DEFAULT_PROVIDERS["civitai"].model


@pytest.fixture
async def provider(fake_civitai: FakeCivitai) -> AsyncIterator[CivitaiProvider]:
    async with aiohttp.ClientSession() as session:
        yield CivitaiProvider(
            "civitai-test-token",
            session,
            base_url=fake_civitai.base_url,
            models=CivitaiModels(session, base_url=fake_civitai.base_url),
            poll_interval_s=0.05,
            request_timeout_s=1.0,
        )


def request(**changes: object) -> GenerationRequest:
    values: dict[str, object] = {"prompt": "a fox", "provider": "civitai", "model": CHECKPOINT}
    return GenerationRequest(**{**values, **changes})  # type: ignore[arg-type]


async def test_loras_that_are_not_civitai_models_or_do_not_fit_are_refused_before_submitting(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    with pytest.raises(ProviderError) as elsewhere:
        await provider.submit(request(loras=(LoraRef("https://example.org/x.safetensors"),)))
    assert not elsewhere.value.retryable
    assert "LoRA https://example.org/x.safetensors can't be used here" in elsewhere.value.reason
    assert "not a CivitAI model link or AIR" in elsewhere.value.reason
    with pytest.raises(ProviderError) as family:
        await provider.submit(
            request(loras=(LoraRef("urn:air:sd1:lora:civitai:1@2", 0.8, name="retro"),))
        )
    assert family.value.reason == (
        "LoRA retro can't be used here: it is made for SD 1.x models but the checkpoint is SDXL"
    )
    assert fake_civitai.submits == []


async def test_a_full_round_trip_with_results_given_as_lists(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    fake_civitai.result_as_list = True
    fake_civitai.script(Script(queue_s=0.1, queue_positions=[4], run_s=0.2))
    token = await provider.submit(request(count=2, seed=11))
    phases = [update async for update in provider.watch(CHECKPOINT, token)]
    assert phases[0].phase == "queued" and phases[0].queue_position == 4
    assert phases[-1].phase == "completed" and phases[-1].error is None
    result = await provider.result(CHECKPOINT, token)
    assert len(result.images) == 2 and result.seed == 11
    async with aiohttp.ClientSession() as session:
        for image in result.images:
            async with session.get(image.url) as response:
                assert response.status == 200


async def test_a_forgotten_token_and_a_timed_out_submit_are_reported_honestly(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    with pytest.raises(ProviderError) as forgotten:
        async for _ in provider.watch(CHECKPOINT, "no-such-token"):
            pass
    assert not forgotten.value.retryable and "no longer knows" in forgotten.value.reason
    fake_civitai.inject("POST", r"^/v1/consumer/jobs$", hang=True)
    with pytest.raises(ProviderError) as slow:
        await provider.submit(request())
    # The job may exist at CivitAI: it must not be sent again.
    assert slow.value.retryable and slow.value.maybe_accepted
    fake_civitai.inject("POST", r"^/v1/consumer/jobs$", status=503)
    with pytest.raises(ProviderError) as down:
        await provider.submit(request())
    assert down.value.retryable and not down.value.maybe_accepted and down.value.status == 503
