"""The CivitAI provider on its own, over loopback against the fake: edge cases of the wire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.config import DEFAULT_PROVIDERS
from bot.errors import ProviderError
from bot.providers.civitai import CivitaiProvider
from bot.providers.civitai_models import CivitaiModels
from bot.providers.civitai_workflows import update_for
from bot.providers.request import MAX_SEED, GenerationRequest, LoraRef
from tests.fakes.civitai import FakeCivitai, Script

CHECKPOINT = DEFAULT_PROVIDERS["civitai"].model
WORKFLOWS = r"^/v2/consumer/workflows$"


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


async def download(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        await response.read()
        return response.status


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


async def test_a_full_round_trip_through_one_workflow(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    fake_civitai.script(Script(queue_s=0.1, queue_positions=[4], run_s=0.3))
    workflow_id = await provider.submit(
        request(count=2, seed=11, loras=(LoraRef("urn:air:sdxl:lora:civitai:7@8", 0.6),))
    )
    (submission,) = fake_civitai.submits
    assert workflow_id == submission.workflow_id
    (post,) = [r for r in fake_civitai.requests if r.method == "POST"]
    assert (post.path, post.query) == ("/v2/consumer/workflows", {"wait": "0"})
    assert submission.body["tags"] == ["art-factory"]
    (step,) = submission.body["steps"]
    assert step["$type"] == "textToImage"
    assert step["input"]["quantity"] == 2 and step["input"]["seed"] == 11
    assert step["input"]["additionalNetworks"] == {
        "urn:air:sdxl:lora:civitai:7@8": {"type": "Lora", "strength": 0.6}
    }

    updates = [update async for update in provider.watch(CHECKPOINT, workflow_id)]
    assert updates[0].phase == "queued" and updates[0].queue_position == 4
    running = [u for u in updates if u.phase == "running"]
    assert running and all("of 2 images ready" in (u.detail or "") for u in running)
    assert updates[-1].phase == "completed" and updates[-1].error is None
    gets = [r for r in fake_civitai.requests if r.method == "GET"]
    assert {r.path for r in gets} == {f"/v2/consumer/workflows/{workflow_id}"}

    result = await provider.result(CHECKPOINT, workflow_id)
    assert len(result.images) == 2 and result.seed == 11
    assert all((i.width, i.height) == (1024, 1024) for i in result.images)
    for image in result.images:
        assert image.url.startswith(fake_civitai.blobs.base_url)  # a host of its own
        assert await download(image.url) == 200


async def test_result_reads_the_workflow_again_for_fresh_blob_urls(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    fake_civitai.blob_ttl_s = 0.3
    fake_civitai.script(Script(queue_s=0.05, queue_positions=[0], run_s=0.1))
    workflow_id = await provider.submit(request())
    assert [u async for u in provider.watch(CHECKPOINT, workflow_id)][-1].phase == "completed"
    (first,) = (await provider.result(CHECKPOINT, workflow_id)).images
    await asyncio.sleep(0.4)  # let the signed URL expire
    assert await download(first.url) == 403
    (fresh,) = (await provider.result(CHECKPOINT, workflow_id)).images
    assert fresh.url != first.url
    assert await download(fresh.url) == 200


async def test_without_a_seed_the_bot_picks_one_and_reports_it_even_after_a_restart(
    fake_civitai: FakeCivitai, provider: CivitaiProvider
) -> None:
    fake_civitai.script(Script(queue_s=0.05, queue_positions=[0], run_s=0.1))
    workflow_id = await provider.submit(request(count=3))
    (submission,) = fake_civitai.submits
    seed = submission.input["seed"]  # CivitAI requires one
    assert isinstance(seed, int) and 0 <= seed <= MAX_SEED - 2
    async with aiohttp.ClientSession() as session:  # a new process knows only the id
        restarted = CivitaiProvider("civitai-test-token", session, base_url=fake_civitai.base_url)
        assert [u async for u in restarted.watch(CHECKPOINT, workflow_id)][-1].error is None
        result = await restarted.result(CHECKPOINT, workflow_id)
    assert result.seed == seed and len(result.images) == 3
    assert len(fake_civitai.submits) == 1


async def test_a_forgotten_id_and_a_timed_out_submit_are_reported_honestly(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    with pytest.raises(ProviderError) as forgotten:
        async for _ in provider.watch(CHECKPOINT, "wf_no-such-workflow"):
            pass
    assert not forgotten.value.retryable and "no longer knows" in forgotten.value.reason
    fake_civitai.inject("POST", WORKFLOWS, hang=True)
    with pytest.raises(ProviderError) as slow:
        await provider.submit(request())
    # The workflow may exist at CivitAI: it must not be sent again.
    assert slow.value.retryable and slow.value.maybe_accepted
    fake_civitai.inject("POST", WORKFLOWS, status=503)
    with pytest.raises(ProviderError) as down:
        await provider.submit(request())
    assert down.value.retryable and not down.value.maybe_accepted and down.value.status == 503
    fake_civitai.inject("POST", WORKFLOWS, status=200, json={"status": "unassigned"})
    with pytest.raises(ProviderError) as anonymous:
        await provider.submit(request())
    assert anonymous.value.maybe_accepted and "no id" in anonymous.value.reason
    assert fake_civitai.submits == []


async def test_a_403_says_why_and_is_not_retried(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    fake_civitai.inject("POST", WORKFLOWS, status=403, json="Insufficient buzz")
    with pytest.raises(ProviderError) as refused:
        await provider.submit(request())
    assert refused.value.reason == "CivitAI refused the request: Insufficient buzz"
    assert not refused.value.retryable and refused.value.status == 403


async def test_cancel_puts_the_canceled_status_and_leaves_finished_workflows_alone(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    fake_civitai.script(Script(queue_s=0.05, queue_positions=[0], hang=True), times=1)
    stuck = await provider.submit(request(count=2))
    await provider.cancel(CHECKPOINT, stuck)
    (put,) = [r for r in fake_civitai.requests if r.method == "PUT"]
    assert (put.path, put.json) == (f"/v2/consumer/workflows/{stuck}", {"status": "canceled"})
    assert all(job.canceled_at is not None for job in fake_civitai.submits[0].jobs)
    update = [u async for u in provider.watch(CHECKPOINT, stuck)][-1]
    assert update.error == "the CivitAI job was cancelled"

    fake_civitai.script(Script(queue_s=0.01, queue_positions=[0], run_s=0.05))
    done = await provider.submit(request())
    assert [u async for u in provider.watch(CHECKPOINT, done)][-1].error is None
    await provider.cancel(CHECKPOINT, done)
    await provider.cancel(CHECKPOINT, "wf_gone")  # unknown: nothing to do
    assert len([r for r in fake_civitai.requests if r.method == "PUT"]) == 1
    assert not any(r.method == "DELETE" for r in fake_civitai.requests)


async def test_failed_and_blocked_workflows_say_whether_a_new_try_may_help(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    fake_civitai.script(Script(queue_s=0.01, run_s=0.05, fail="no_provider_available"), times=1)
    failed = await provider.submit(request())
    update = [u async for u in provider.watch(CHECKPOINT, failed)][-1]
    assert update.error == "the CivitAI job failed: no worker can run it right now"
    with pytest.raises(ProviderError) as crash:
        await provider.result(CHECKPOINT, failed)
    assert crash.value.retryable and crash.value.reason == update.error

    fake_civitai.script(Script(queue_s=0.01, run_s=0.05, blocked="prompt: minor"), times=1)
    blocked = await provider.submit(request(count=2))
    assert [u async for u in provider.watch(CHECKPOINT, blocked)][-1].error
    with pytest.raises(ProviderError) as moderation:
        await provider.result(CHECKPOINT, blocked)
    assert not moderation.value.retryable
    assert moderation.value.reason == "the CivitAI job failed: prompt: minor"


def test_queue_positions_are_read_from_the_step_or_else_from_its_jobs() -> None:
    step_level = {
        "status": "scheduled",
        "steps": [
            {"status": "scheduled", "queuePosition": {"support": "available", "precedingJobs": 3}}
        ],
    }
    assert update_for(step_level).queue_position == 3
    job_level = {  # how the jobs carried it before the step did
        "status": "unassigned",
        "steps": [
            {
                "status": "unassigned",
                "jobs": [
                    {"status": "scheduled", "queuePosition": {"precedingJobs": 5}},
                    {"status": "scheduled", "queuePosition": {"precedingJobs": 2}},
                ],
            }
        ],
    }
    assert update_for(job_level).queue_position == 2
    assert update_for({"status": "preparing", "steps": []}).queue_position is None
    processing = {
        "status": "processing",
        "steps": [
            {
                "status": "processing",
                "input": {"quantity": 2},
                "estimatedProgressRate": 0.4,
                "output": {"images": [{"id": "a", "available": True, "url": "u"}]},
            }
        ],
    }
    assert update_for(processing).detail == "1 of 2 images ready · about 40%"


async def test_probe_asks_what_an_image_would_cost_without_running_anything(
    provider: CivitaiProvider, fake_civitai: FakeCivitai
) -> None:
    assert await provider.probe(CHECKPOINT) is None
    (call,) = fake_civitai.requests
    assert (call.method, call.path, call.query) == (
        "POST",
        "/v2/consumer/workflows",
        {"whatif": "true"},
    )
    assert call.json["steps"][0]["input"]["model"] == CHECKPOINT
    fake_civitai.insufficient_buzz = True
    assert await provider.probe(CHECKPOINT) == "but the account has too little Buzz for an image"
    fake_civitai.insufficient_buzz = False
    fake_civitai.unavailable_models.add(CHECKPOINT)
    assert await provider.probe(CHECKPOINT) == f"but {CHECKPOINT} has no workers right now"
    fake_civitai.unknown_models.add(CHECKPOINT)
    with pytest.raises(ProviderError) as unknown:
        await provider.probe(CHECKPOINT)
    assert "is not available" in unknown.value.reason and not unknown.value.retryable
    assert fake_civitai.submits == []
