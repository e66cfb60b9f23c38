"""The loopback fakes, proven with the real fal-client and replicate clients over real sockets."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import replicate
from PIL import Image
from replicate.exceptions import ReplicateError

from .cdn import FakeCDN, make_png
from .fal import FakeFal, Script, validation_failure
from .replicate import FakeReplicate
from .replicate import Script as RScript
from .tls import TLS, make_tls

PROBE = Path(__file__).with_name("_fal_probe.py")


@pytest.fixture
def tls(tmp_path: Path) -> TLS:
    return make_tls(tmp_path)


@pytest.fixture
async def cdn() -> AsyncIterator[FakeCDN]:
    fake = FakeCDN()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def fal(tls: TLS, cdn: FakeCDN) -> AsyncIterator[FakeFal]:
    fake = FakeFal(tls, cdn, FakeFal.pick_port())
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def rep(cdn: FakeCDN) -> AsyncIterator[FakeReplicate]:
    fake = FakeReplicate(cdn)
    await fake.start()
    yield fake
    await fake.close()


async def fetch_image(url: str) -> Image.Image:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert r.status == 200, url
        img = Image.open(io.BytesIO(await r.read()))
        img.load()
        return img


async def test_cdn_put_get_and_faults(cdn: FakeCDN) -> None:
    url = cdn.put("a/b.png", make_png(8, 4))
    assert url == f"{cdn.base_url}/a/b.png"
    assert (await fetch_image(url)).size == (8, 4)
    cdn.inject(r"^/a/", status=500, times=1)
    cdn.inject(r"^/slow", hang=True)
    timeout = aiohttp.ClientTimeout(total=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        async with s.get(url) as r:
            assert r.status == 500
        async with s.get(url) as r:
            assert r.status == 200 and r.content_type == "image/png"
        async with s.get(cdn.base_url + "/missing.png") as r:
            assert r.status == 404
        with pytest.raises(asyncio.TimeoutError):
            await s.get(cdn.base_url + "/slow")
    assert [(m, p) for m, p, _ in cdn.requests][:3] == [("GET", "/a/b.png")] * 3
    assert len(make_png(64, 64, noise=True)) > 64 * 64 * 3


@dataclass
class Probed:
    """What the real fal-client saw in its subprocess (`out`), the fake's record, and the
    result's images as fetched from the CDN."""

    out: dict[str, Any]
    fal: FakeFal  # closed; its record is kept
    images: list[Image.Image]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Probed]:
    """One run of `_fal_probe.py` (a fresh interpreter, since fal-client reads its host at
    import) through every scenario below, shared by the tests that read it."""
    cdn = FakeCDN()
    await cdn.start()
    fal = FakeFal(make_tls(tmp_path_factory.mktemp("tls")), cdn, FakeFal.pick_port())
    await fal.start()
    try:
        fal.default_script = Script(queue_s=0.3, queue_positions=[2, 1, 0], run_s=0.3, steps=4)
        fal.script("fal-ai/flux/schnell", Script(queue_s=0, run_s=0.1, hang=True))
        fail = validation_failure("prompt", "Prompt violates policy", "content_policy_violation")
        fal.script("fal-ai/flux-pro", Script(queue_s=0.02, run_s=0.02, fail=fail))
        fal.inject("POST", r"^/fal-ai/recraft-v3$", status=500, headers={"X-Fal-Retryable": "true"})
        fal.inject("GET", r"^/fal-ai/flux-krea/requests/[^/]+/status$", status=429, times=2)
        fal.bad_keys.add("bad")

        env = {**os.environ, **fal.env()}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-P", str(PROBE), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, stderr.decode()
        out = json.loads(stdout)
        images = [await fetch_image(i["url"]) for i in out["main"]["result"]["images"]]
    finally:
        await fal.close()
        await cdn.close()
    yield Probed(out, fal, images)


def test_fal_client_is_pointed_at_the_fake_by_its_environment(probed: Probed) -> None:
    assert probed.out["queue_url"] == f"https://127.0.0.1:{probed.fal.port}/"


def test_fal_events_go_from_queued_with_falling_positions_to_completed(probed: Probed) -> None:
    events = probed.out["main"]["events"]
    assert events[0]["type"] == "queued" and events[-1]["type"] == "completed"
    positions = [e["position"] for e in events if e["type"] == "queued"]
    assert positions == sorted(positions, reverse=True) and set(positions) <= {0, 1, 2}


def test_fal_progress_carries_step_logs_and_the_completion_its_metrics(probed: Probed) -> None:
    events = probed.out["main"]["events"]
    progress = [e for e in events if e["type"] == "in_progress"]
    assert any(e["logs"] for e in progress)
    assert len(events[-1]["logs"]) == 4 and events[-1]["logs"][-1].startswith("100%|")
    assert events[-1]["metrics"] == {"inference_time": 0.3}


def test_fal_result_echoes_seed_and_prompt_with_an_image_per_num_images(probed: Probed) -> None:
    result = probed.out["main"]["result"]
    assert result["seed"] == 42 and result["prompt"] == "a red fox"
    assert result["has_nsfw_concepts"] == [False, False]
    assert [(i["width"], i["height"]) for i in result["images"]] == [(1024, 576)] * 2


def test_fal_result_images_are_distinct_small_pngs_on_the_cdn(probed: Probed) -> None:
    imgs = probed.images
    assert [(i.format, i.size) for i in imgs] == [("PNG", (64, 36))] * 2
    assert imgs[0].getpixel((0, 0)) != imgs[1].getpixel((0, 0))


def test_fal_status_of_a_finished_request_includes_the_same_result(probed: Probed) -> None:
    main = probed.out["main"]
    assert probed.out["again"] == {"status": "Completed", "logs": None, "result": main["result"]}


def test_fal_fake_records_the_submitted_job_and_its_timeline(probed: Probed) -> None:
    fal = probed.fal
    job = fal.jobs[probed.out["main"]["request_id"]]
    assert job.app_id == "fal-ai/flux/dev" and job.arguments["num_images"] == 2
    assert job.headers["Authorization"] == "Key test"
    done = fal.completed_at(job.request_id)
    assert done is not None and done - job.submitted_at == pytest.approx(0.6)


def test_fal_cancel_ends_the_request_and_a_second_cancel_is_refused(probed: Probed) -> None:
    cancel = probed.out["cancel"]
    assert cancel["status"] == "Completed" and cancel["error"] == "Request cancelled"
    assert cancel["error_type"] == "client_cancelled"
    assert cancel["second_cancel"]["status"] == 400
    assert json.loads(cancel["second_cancel"]["message"]) == {"status": "ALREADY_COMPLETED"}
    assert cancel["get"]["status"] == 499 and cancel["get"]["error_type"] == "client_cancelled"
    assert probed.fal.jobs[cancel["request_id"]].cancelled


def test_fal_validation_failure_is_a_non_retryable_422_naming_the_field(probed: Probed) -> None:
    failed = probed.out["fail422"]
    assert failed["get"]["status"] == 422 and failed["get"]["retryable"] == "false"
    assert failed["get"]["message"][0]["loc"] == ["body", "prompt"]
    assert failed["status_error"] == ["Prompt violates policy", None]


def test_fal_client_does_not_retry_an_injected_submit_500(probed: Probed) -> None:
    assert probed.out["inject500"]["status"] == 500
    assert probed.out["inject500"]["retryable"] == "true"
    assert sum(r.path == "/fal-ai/recraft-v3" for r in probed.fal.requests) == 1


def test_fal_client_retries_status_polls_through_429s(probed: Probed) -> None:
    assert probed.out["retry429"] in ("Queued", "InProgress", "Completed")
    krea = [r for r in probed.fal.requests if r.path.startswith("/fal-ai/flux-krea/requests/")]
    assert len(krea) == 3


def test_fal_refuses_an_unknown_key(probed: Probed) -> None:
    assert probed.out["bad_key"]["status"] == 401


def test_fal_fake_records_every_accepted_submit_in_order(probed: Probed) -> None:
    assert [s[0] for s in probed.fal.submits] == [
        "fal-ai/flux/dev",
        "fal-ai/flux/schnell",
        "fal-ai/flux-pro/v1.1",
        "fal-ai/flux-krea",
    ]


async def test_fal_stream_auth_and_timeline(fal: FakeFal, tls: TLS) -> None:
    fal.default_script = Script(queue_s=0.1, queue_positions=[1, 0], run_s=0.2, steps=2)
    fal.stream_keepalive = 0.05
    hdr = {"Authorization": "Key k"}
    connector = aiohttp.TCPConnector(ssl=tls.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector) as s:
        async with s.post(f"{fal.base_url}/fal-ai/flux/dev", json={"prompt": "p"}) as r:
            assert r.status == 401 and "detail" in await r.json()
        async with s.post(
            f"{fal.base_url}/fal-ai/flux/dev", json={"prompt": "p"}, headers=hdr
        ) as r:
            sub = await r.json()
            assert r.headers["x-fal-request-id"] == sub["request_id"]
        base = f"{fal.base_url}/fal-ai/flux/requests/{sub['request_id']}"
        assert sub["status_url"] == base + "/status" and sub["queue_position"] == 0
        job = await fal.wait_for_submit()
        assert job.request_id == sub["request_id"]
        async with s.get(base, headers=hdr) as r:
            assert r.status == 400 and await r.json() == {"detail": "Request is still in progress"}
        async with s.get(base + "/status/stream", params={"logs": "1"}, headers=hdr) as r:
            assert r.content_type == "text/event-stream"
            body = (await r.read()).decode()
        events = [json.loads(x[6:]) for x in body.split("\n\n") if x.startswith("data: ")]
        assert events[0]["status"] == "IN_QUEUE"
        assert events[-1]["status"] == "COMPLETED" and len(events[-1]["logs"]) == 2
        assert ": ping" in body  # the quiet stretches were longer than the keepalive
        async with s.get(base + "/status", params={"logs": "false"}, headers=hdr) as r:
            assert (await r.json())["logs"] is None
        async with s.get(base, headers=hdr) as r:
            assert r.status == 200 and len((await r.json())["images"]) == 1

        # Cancel while queued ends the job at once; a second cancel is refused.
        fal.script(None, Script(queue_s=5, run_s=1), times=1)
        async with s.post(
            f"{fal.base_url}/fal-ai/flux/dev", json={"prompt": "p"}, headers=hdr
        ) as r:
            rid = (await r.json())["request_id"]
        cancel_url = f"{fal.base_url}/fal-ai/flux/requests/{rid}/cancel"
        async with s.put(cancel_url, headers=hdr) as r:
            assert r.status == 202 and await r.json() == {"status": "CANCELLATION_REQUESTED"}
        async with s.put(cancel_url, headers=hdr) as r:
            assert r.status == 400 and await r.json() == {"status": "ALREADY_COMPLETED"}
        assert fal.completed_at(rid) is not None

        # A missing prompt fails like fal's validation: COMPLETED with an error, result 422.
        async with s.post(f"{fal.base_url}/fal-ai/flux/dev", json={}, headers=hdr) as r:
            rid = (await r.json())["request_id"]
        await asyncio.sleep(0.2)
        async with s.get(f"{fal.base_url}/fal-ai/flux/requests/{rid}", headers=hdr) as r:
            assert r.status == 422 and (await r.json())["detail"][0]["type"] == "missing"
    assert job.status_polls == 1 and job.stream_opens == 1


FLUX_DEV, FLUX_SCHNELL = "black-forest-labs/flux-dev", "black-forest-labs/flux-schnell"


@pytest.fixture
async def client(rep: FakeReplicate) -> AsyncIterator[replicate.Client]:
    """The real replicate client, pointed at the fake, with a token the fake accepts."""
    rep.default_script = RScript(queue_s=0.1, run_s=0.3, steps=4)
    real = replicate.Client(api_token="t", base_url=rep.base_url)
    yield real
    await real._async_client.aclose()


async def test_replicate_prediction_runs_to_success_with_progress_logs_and_images(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    pred = await client.models.predictions.async_create(
        model=FLUX_DEV,
        input={"prompt": "fox", "aspect_ratio": "16:9", "num_outputs": 2, "seed": 7},
        wait=True,
    )
    assert pred.status == "starting" and pred.version == "hidden"
    assert pred.model == FLUX_DEV and pred.urls is not None
    seen, progress = [pred.status], []
    while pred.status not in ("succeeded", "failed", "canceled"):
        await asyncio.sleep(0.03)
        await pred.async_reload()
        seen.append(pred.status)
        if pred.progress is not None:
            progress.append((pred.progress.current, pred.progress.total))
    assert pred.status == "succeeded" and "processing" in seen
    assert progress[-1] == (4, 4) and progress == sorted(progress)
    assert pred.logs is not None and pred.logs.startswith("Using seed: 7\n")
    assert pred.metrics is not None and pred.metrics["predict_time"] == pytest.approx(0.3)
    assert isinstance(pred.output, list) and len(pred.output) == 2
    assert (await fetch_image(pred.output[0])).size == (84, 48)
    fp = rep.predictions[pred.id]
    assert fp.polls == len(seen) - 1 and rep.creates[0] == (fp.model, fp.input, pred.id)
    assert rep.requests[0].headers["Prefer"] == "wait"
    assert rep.requests[0].headers["Authorization"] == "Bearer t"
    assert rep.completed_at(pred.id) is not None


async def test_replicate_client_never_retries_a_post_so_an_injected_429_surfaces(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    rep.inject("POST", r"/predictions$", status=429, headers={"Retry-After": "1"})
    with pytest.raises(ReplicateError) as err:
        await client.models.predictions.async_create(model=FLUX_DEV, input={"prompt": "x"})
    assert err.value.status == 429 and len(rep.creates) == 0


async def test_replicate_validation_errors_are_problem_details(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    with pytest.raises(ReplicateError) as err:
        await client.models.predictions.async_create(model=FLUX_DEV, input={"num_outputs": 9})
    assert err.value.status == 422 and err.value.title == "Input validation failed"
    assert "prompt is required" in (err.value.detail or "")
    assert rep.creates == []


async def test_replicate_client_retries_a_get_on_503(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    rep.script(FLUX_SCHNELL, RScript(queue_s=0, hang=True), times=1)
    pred = await client.predictions.async_create(version=FLUX_SCHNELL, input={"prompt": "x"})
    rep.inject("GET", r"^/v1/predictions/", status=503, headers={"Retry-After": "0"})
    await pred.async_reload()
    assert pred.status == "processing"


async def test_replicate_cancel_ends_a_hanging_prediction(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    rep.script(FLUX_SCHNELL, RScript(queue_s=0, hang=True), times=1)
    pred = await client.predictions.async_create(version=FLUX_SCHNELL, input={"prompt": "x"})
    await pred.async_cancel()
    assert pred.status == "canceled" and rep.predictions[pred.id].cancelled
    assert pred.completed_at is not None


async def test_replicate_failed_prediction_reports_its_error(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    rep.script(None, RScript(queue_s=0, run_s=0.01, fail="NSFW content detected"), times=1)
    pred = await client.models.predictions.async_create(model=FLUX_DEV, input={"prompt": "x"})
    await asyncio.sleep(0.05)
    await pred.async_reload()
    assert pred.status == "failed" and pred.error == "NSFW content detected"
    assert time.monotonic() - rep.predictions[pred.id].created_at < 5


async def test_replicate_refuses_an_unknown_token_as_unauthenticated(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    pred = await client.models.predictions.async_create(model=FLUX_DEV, input={"prompt": "x"})
    bad = replicate.Client(api_token="nope", base_url=rep.base_url)
    rep.bad_tokens.add("nope")
    try:
        with pytest.raises(ReplicateError) as err:
            await bad.predictions.async_get(pred.id)
        assert err.value.status == 401 and err.value.title == "Unauthenticated"
    finally:
        await bad._async_client.aclose()


async def test_fal_result_options(fal: FakeFal, tls: TLS) -> None:
    hdr = {"Authorization": "Key k"}
    fal.script("fal-ai/flux", Script(queue_s=0, run_s=0.05, nsfw=[False, True]), times=1)
    fal.script("fal-ai/flux-lora", Script(queue_s=0, run_s=0.3, honour_cancel=False), times=1)
    args = {"prompt": "p", "num_images": 2, "output_format": "jpeg"}
    args["image_size"] = {"width": 320, "height": 160}
    connector = aiohttp.TCPConnector(ssl=tls.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector, headers=hdr) as s:
        async with s.post(f"{fal.base_url}/fal-ai/flux/dev?fal_webhook=http://x/y", json=args) as r:
            first = await r.json()
        async with s.post(f"{fal.base_url}/fal-ai/flux-lora", json={"prompt": "p"}) as r:
            second = await r.json()
        async with s.put(second["cancel_url"]) as r:
            assert r.status == 202  # accepted, but this app ignores the signal
        await asyncio.sleep(0.35)
        async with s.get(first["response_url"]) as r:
            result = await r.json()
        async with s.get(second["response_url"]) as r:
            assert r.status == 200  # ran to completion despite the cancel
    assert fal.jobs[first["request_id"]].webhook_url == "http://x/y"
    assert fal.jobs[second["request_id"]].cancelled
    assert result["has_nsfw_concepts"] == [False, True]
    imgs = [await fetch_image(i["url"]) for i in result["images"]]
    assert [(i.format, i.size) for i in imgs] == [("JPEG", (20, 10))] * 2
    assert result["images"][0]["content_type"] == "image/jpeg"
    assert imgs[1].getpixel((5, 5)) == (0, 0, 0)
