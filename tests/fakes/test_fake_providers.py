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


async def test_fal_storage_gives_a_cdn_token_for_the_key_and_uploads_only_with_it(
    fal: FakeFal, tls: TLS
) -> None:
    token_url = f"{fal.base_url}/storage/auth/token"
    png = make_png(16, 8)
    connector = aiohttp.TCPConnector(ssl=tls.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector) as s:
        async with s.post(token_url, params={"storage_type": "fal-cdn-v3"}, json={}) as r:
            assert r.status == 401 and "detail" in await r.json()
        async with s.post(
            token_url,
            params={"storage_type": "fal-cdn-v3"},
            json={},
            headers={"Authorization": "Key k"},
        ) as r:
            token = await r.json()
        assert token["token_type"] == "Bearer" and token["base_url"] == fal.base_url
        upload_url = f"{token['base_url']}/files/upload"
        headers = {"Content-Type": "image/png", "X-Fal-File-Name": "in.png"}
        async with s.post(upload_url, data=png, headers=headers) as r:
            assert r.status == 401 and "detail" in await r.json()
        headers["Authorization"] = f"{token['token_type']} {token['token']}"
        async with s.post(upload_url, data=png, headers=headers) as r:
            url = (await r.json())["access_url"]
    assert (await fetch_image(url)).size == (16, 8)
    assert [(u.data, u.content_type, u.file_name, u.url) for u in fal.uploads] == [
        (png, "image/png", "in.png", url)
    ]


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


async def test_replicate_files_take_the_clients_upload_and_refuse_no_token(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    png = make_png(16, 8)
    created = await client.files.async_create(
        io.BytesIO(png), filename="in.png", content_type="image/png"
    )
    assert (created.name, created.content_type, created.size) == ("in.png", "image/png", len(png))
    assert created.urls["get"] == f"{rep.base_url}/v1/files/{created.id}"
    assert (await client.files.async_get(created.id)).id == created.id
    assert [(u.data, u.content_type, u.url) for u in rep.uploads] == [
        (png, "image/png", created.urls["get"])
    ]
    async with aiohttp.ClientSession() as s:
        form = aiohttp.FormData()
        form.add_field("content", png, filename="in.png", content_type="image/png")
        async with s.post(f"{rep.base_url}/v1/files", data=form) as r:
            assert r.status == 401 and (await r.json())["title"] == "Unauthenticated"
    assert len(rep.uploads) == 1


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


# -- the published schemas: enforced on input, served like the providers serve them ------------

SNAPSHOTS = Path(__file__).resolve().parents[2] / "bot" / "providers" / "schemas"
TOY, TOY_VERSION = "acme/toy", "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"


def snapshot(provider: str, model: str) -> dict[str, Any]:
    path = SNAPSHOTS / provider / (model.replace("/", "__") + ".json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def toy_schema(max_steps: int = 8) -> dict[str, Any]:
    """A small cog-style document, as a community model's version publishes it."""
    steps = {"type": "integer", "minimum": 1, "maximum": max_steps, "default": 4}
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "title": "Input",
                    "required": ["prompt"],
                    "properties": {"prompt": {"type": "string"}, "steps": steps},
                },
                "Output": {"type": "array", "items": {"type": "string", "format": "uri"}},
            }
        },
    }


async def fal_result_error(fake: FakeFal, app: str, args: dict[str, Any]) -> Any:
    """Submit through the real fal-client (its hosts point at `fake_fal`, tests/conftest.py)
    and return what its result fetch raised."""
    import fal_client  # imported here: conftest fixed FAL_RUN_HOST before any import

    fake.default_script = Script(queue_s=0, run_s=0.02, steps=0)
    client = fal_client.AsyncClient(key="k")
    handle = await client.submit(app, args)
    try:
        with pytest.raises(fal_client.FalClientHTTPError) as err:
            await handle.get(interval=0.02)
    finally:
        await (await client._client).aclose()
    return err.value


async def test_fal_answers_steps_above_the_published_maximum_with_a_pydantic_422(
    fake_fal: FakeFal,
) -> None:
    error = await fal_result_error(
        fake_fal, "fal-ai/flux/dev", {"prompt": "p", "num_inference_steps": 51}
    )
    assert error.status_code == 422
    assert error.response_headers.get("x-fal-retryable") == "false"
    [detail] = error.message
    assert detail["loc"] == ["body", "num_inference_steps"]
    assert detail["type"] == "less_than_equal" and detail["ctx"] == {"le": 50}
    assert detail["msg"] == "Input should be less than or equal to 50" and detail["input"] == 51
    [job] = fake_fal.jobs.values()
    assert job.result_fetches == 1 and job.result is None  # nothing was generated


async def test_fal_names_a_negative_lora_scale_by_its_place_in_the_list(
    fake_fal: FakeFal,
) -> None:
    loras = [{"path": "https://hf.test/a.safetensors", "scale": -3}]
    error = await fal_result_error(fake_fal, "fal-ai/flux-lora", {"prompt": "p", "loras": loras})
    assert error.status_code == 422
    assert [(d["loc"], d["type"], d["msg"]) for d in error.message] == [
        (
            ["body", "loras", 0, "scale"],
            "greater_than_equal",
            "Input should be greater than or equal to 0",
        )
    ]


async def test_fal_answers_a_lora_without_its_path_as_missing_at_that_place(
    fake_fal: FakeFal,
) -> None:
    error = await fal_result_error(
        fake_fal, "fal-ai/flux-lora", {"prompt": "p", "loras": [{"scale": 1}]}
    )
    assert [(d["loc"], d["type"], d["msg"]) for d in error.message] == [
        (["body", "loras", 0, "path"], "missing", "Field required")
    ]


async def test_fal_validates_a_published_endpoint_with_its_document(fake_fal: FakeFal) -> None:
    document = snapshot("fal", "fal-ai/flux/schnell")["openapi"]
    document = json.loads(json.dumps(document).replace("/fal-ai/flux/schnell", "/acme/sketch"))
    fake_fal.publish("acme/sketch", document)
    error = await fal_result_error(fake_fal, "acme/sketch", {"prompt": "p", "num_images": 9})
    assert [(d["loc"], d["type"]) for d in error.message] == [
        (["body", "num_images"], "less_than_equal")
    ]


async def test_fal_models_api_serves_the_shipped_documents_by_endpoint_id(
    fal: FakeFal, tls: TLS
) -> None:
    connector = aiohttp.TCPConnector(ssl=tls.client_ssl_context())
    params = [
        ("endpoint_id", "fal-ai/flux/dev"),
        ("endpoint_id", "fal-ai/no-such-model"),
        ("endpoint_id", "fal-ai/flux-lora"),
        ("expand", "openapi-3.0"),
    ]
    async with (
        aiohttp.ClientSession(connector=connector) as s,
        s.get(f"{fal.base_url}/v1/models", params=params, headers={"Authorization": "Key k"}) as r,
    ):
        assert r.status == 200
        body = await r.json()
    assert [m["endpoint_id"] for m in body["models"]] == ["fal-ai/flux/dev", "fal-ai/flux-lora"]
    assert body["models"][0]["openapi"] == snapshot("fal", "fal-ai/flux/dev")["openapi"]
    assert body["models"][1]["openapi"] == snapshot("fal", "fal-ai/flux-lora")["openapi"]
    assert (body["has_more"], body["next_cursor"]) == (False, None)
    assert [r.path for r in fal.platform_requests] == ["/v1/models"] and fal.requests == []


async def test_fal_models_api_lists_a_published_endpoint_only_with_its_document_when_expanded(
    fal: FakeFal, tls: TLS
) -> None:
    document = snapshot("fal", "fal-ai/flux/dev")["openapi"]
    fal.publish("acme/painter", document)
    connector = aiohttp.TCPConnector(ssl=tls.client_ssl_context())
    url = f"{fal.base_url}/v1/models"
    async with aiohttp.ClientSession(connector=connector) as s:
        async with s.get(url, params={"endpoint_id": "acme/painter"}) as r:
            plain = await r.json()
        async with s.get(url, params={"endpoint_id": "acme/painter", "expand": "openapi-3.0"}) as r:
            expanded = await r.json()
    assert [m["endpoint_id"] for m in plain["models"]] == ["acme/painter"]
    assert "openapi" not in plain["models"][0]
    assert expanded["models"][0]["openapi"] == document


async def test_fal_models_api_takes_no_key_but_refuses_an_unknown_one(
    fal: FakeFal, tls: TLS
) -> None:
    fal.bad_keys.add("bad")
    connector = aiohttp.TCPConnector(ssl=tls.client_ssl_context())
    url, params = f"{fal.base_url}/v1/models", {"endpoint_id": "fal-ai/flux/dev"}
    async with aiohttp.ClientSession(connector=connector) as s:
        async with s.get(url, params=params) as r:
            assert r.status == 200 and len((await r.json())["models"]) == 1
        async with s.get(url, params=params, headers={"Authorization": "Key bad"}) as r:
            assert r.status == 401 and isinstance((await r.json())["detail"], str)


async def test_replicate_refuses_a_lora_scale_below_the_published_minimum(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    with pytest.raises(ReplicateError) as err:
        await client.models.predictions.async_create(
            model="black-forest-labs/flux-dev-lora",
            input={"prompt": "p", "lora_weights": "huggingface.co/a/b", "lora_scale": -3},
        )
    assert err.value.status == 422 and err.value.title == "Input validation failed"
    assert err.value.detail == "- input.lora_scale: Must be greater than or equal to -1\n"
    assert rep.creates == []


async def test_replicate_refuses_schnell_steps_above_its_published_four(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    with pytest.raises(ReplicateError) as err:
        await client.models.predictions.async_create(
            model=FLUX_SCHNELL, input={"prompt": "p", "num_inference_steps": 8}
        )
    assert err.value.status == 422
    assert err.value.detail == "- input.num_inference_steps: Must be less than or equal to 4\n"
    assert rep.creates == []


async def test_replicate_lists_every_invalid_field_with_its_gojsonschema_type(
    rep: FakeReplicate,
) -> None:
    body = {"input": {"num_outputs": 0, "aspect_ratio": "7:3"}}
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as s,
        s.post(f"{rep.base_url}/v1/models/{FLUX_DEV}/predictions", json=body) as r,
    ):
        assert r.status == 422 and r.content_type == "application/problem+json"
        problem = await r.json()
    assert [(f["field"], f["type"]) for f in problem["invalid_fields"]] == [
        ("input", "required"),
        ("input.aspect_ratio", "enum"),
        ("input.aspect_ratio", "number_all_of"),
        ("input.num_outputs", "number_gte"),
    ]
    assert problem["invalid_fields"][0]["description"] == "prompt is required"
    assert rep.creates == []


async def test_replicate_serves_an_official_models_schema_as_its_latest_version(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    model = await client.models.async_get(FLUX_DEV)
    assert model.latest_version is not None
    assert model.latest_version.openapi_schema == snapshot("replicate", FLUX_DEV)["openapi"]
    assert len(model.latest_version.id) == 64 and int(model.latest_version.id, 16) >= 0
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as s,
        s.get(f"{rep.base_url}/v1/models/{FLUX_DEV}") as r,
    ):
        assert (await r.json())["is_official"] is True


async def test_replicate_serves_a_community_model_and_its_version_from_the_snapshot(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    shipped = snapshot("replicate", "nightmareai/real-esrgan")
    model = await client.models.async_get("nightmareai/real-esrgan")
    assert model.latest_version is not None and model.latest_version.id == shipped["version"]
    version = await model.versions.async_get(shipped["version"])
    assert version.openapi_schema == shipped["openapi"]
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as s,
        s.get(f"{rep.base_url}/v1/models/nightmareai/real-esrgan") as r,
    ):
        assert (await r.json())["is_official"] is False
    with pytest.raises(ReplicateError) as err:
        await client.models.async_get("acme/no-such-model")
    assert err.value.status == 404


async def test_replicate_refuses_a_community_model_on_the_model_route(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    rep.publish(TOY, toy_schema(), version=TOY_VERSION)
    with pytest.raises(ReplicateError) as err:
        await client.models.predictions.async_create(model=TOY, input={"prompt": "p"})
    assert err.value.status == 422 and err.value.title == "Invalid version or not permitted"
    assert err.value.detail == (
        "The specified version does not exist (or perhaps you don't have permission to use it?)"
    )
    assert rep.creates == []


async def test_replicate_runs_a_community_model_by_its_version_id_in_either_form(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    rep.publish(TOY, toy_schema(), version=TOY_VERSION)
    bare = await client.predictions.async_create(version=TOY_VERSION, input={"prompt": "p"})
    named = await client.predictions.async_create(
        version=f"{TOY}:{TOY_VERSION}", input={"prompt": "p", "steps": 8}
    )
    assert [(p.model, p.version) for p in (bare, named)] == [(TOY, TOY_VERSION)] * 2
    assert [c[0] for c in rep.creates] == [TOY, TOY]


async def test_replicate_validates_a_version_run_with_that_versions_schema(
    rep: FakeReplicate, client: replicate.Client
) -> None:
    rep.publish(TOY, toy_schema(max_steps=8), version=TOY_VERSION)
    rep.publish(TOY, toy_schema(max_steps=2), version="b" * 64)
    await client.predictions.async_create(version=TOY_VERSION, input={"prompt": "p", "steps": 5})
    with pytest.raises(ReplicateError) as err:
        await client.predictions.async_create(version="b" * 64, input={"prompt": "p", "steps": 5})
    assert err.value.status == 422
    assert err.value.detail == "- input.steps: Must be less than or equal to 2\n"
    assert len(rep.creates) == 1
