"""The per-app behaviour of the fakes (apps.py): each endpoint's own output shape and failures,
called over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import aiohttp
import pytest
from PIL import Image

from . import apps
from .cdn import FakeCDN, Upload, make_png
from .fal import FakeFal, Script
from .replicate import FakeReplicate
from .replicate import Script as RScript
from .tls import TLS

FAST = Script(queue_s=0, queue_positions=[0], run_s=0.01, steps=0)
RFAST = RScript(queue_s=0, run_s=0.01, steps=0)


@pytest.fixture
def fal(fal: FakeFal) -> FakeFal:
    fal.default_script = FAST  # the shared fixture's fake, answering at once
    return fal


@pytest.fixture
def rep(rep: FakeReplicate) -> FakeReplicate:
    rep.default_script = RFAST
    return rep


async def fal_run(fal: FakeFal, tls: TLS, app: str, args: dict[str, Any]) -> tuple[int, Any]:
    """Submit to the fake fal queue, wait for the job, and fetch its result: (status, body)."""
    connector = aiohttp.TCPConnector(ssl=tls.client_ssl_context())
    hdr = {"Authorization": "Key k"}
    async with aiohttp.ClientSession(connector=connector, headers=hdr) as s:
        async with s.post(f"{fal.base_url}/{app}", json=args) as r:
            assert r.status == 200, await r.text()
            sub = await r.json()
        async with asyncio.timeout(5):
            while fal.completed_at(sub["request_id"]) is None:
                await asyncio.sleep(0.01)
        async with s.get(sub["response_url"]) as r:
            return r.status, await r.json()


async def rep_run(rep: FakeReplicate, model: str, inp: dict[str, Any]) -> dict[str, Any]:
    """Create a prediction on the fake Replicate and poll it to its end: the prediction."""
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as s:
        url = f"{rep.base_url}/v1/models/{model}/predictions"
        async with s.post(url, json={"input": inp}) as r:
            assert r.status == 201, await r.text()
            pred: dict[str, Any] = await r.json()
        async with asyncio.timeout(5):
            while pred["status"] not in ("succeeded", "failed", "canceled"):
                await asyncio.sleep(0.01)
                async with s.get(pred["urls"]["get"]) as r:
                    pred = await r.json()
    return pred


async def fetch(url: str) -> bytes:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert r.status == 200, url
        return await r.read()


async def fetch_image(url: str) -> Image.Image:
    img = Image.open(io.BytesIO(await fetch(url)))
    img.load()
    return img


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


# -- input images --------------------------------------------------------------------------------


async def test_open_input_reads_data_uris_cdn_files_and_uploads_without_network(
    cdn: FakeCDN,
) -> None:
    png = make_png(12, 7)
    url = cdn.put("files/uploads/x/in.png", png)
    upload = Upload(make_png(5, 3), "image/png", "u.png", "http://127.0.0.1:1/v1/files/a", {})
    assert apps.open_input(data_uri(png), cdn).size == (12, 7)
    assert apps.open_input(url, cdn).size == (12, 7)
    assert apps.open_input(upload.url, cdn, [upload]).size == (5, 3)
    with pytest.raises(apps.InputError) as err:
        apps.open_input(cdn.base_url + "/nope.png", cdn, loc=("mask_url",))
    assert (err.value.reason, err.value.loc) == ("download", ("mask_url",))
    assert cdn.requests == []


async def test_fal_unknown_image_url_fails_with_the_toolkits_file_download_error(
    fal: FakeFal, tls: TLS
) -> None:
    url = "https://example.test/missing.png"
    status, body = await fal_run(
        fal, tls, "fal-ai/florence-2-large/more-detailed-caption", {"image_url": url}
    )
    assert status == 422
    assert body == {"detail": [{
        "loc": ["body", "image_url"], "msg": apps.FAL_DOWNLOAD_MSG,
        "type": "file_download_error", "input": url, "ctx": None,
    }]}  # fmt: skip


async def test_fal_bytes_that_are_no_image_fail_with_image_load_error(
    fal: FakeFal, tls: TLS, cdn: FakeCDN
) -> None:
    url = cdn.put("files/uploads/x/notes.txt", b"not a picture", "text/plain")
    status, body = await fal_run(fal, tls, "fal-ai/evf-sam", {"prompt": "sky", "image_url": url})
    assert status == 422 and body["detail"][0]["type"] == "image_load_error"


# -- segmentation --------------------------------------------------------------------------------


async def test_evf_sam_mask_is_white_in_the_prompts_region_and_black_elsewhere(
    fal: FakeFal, tls: TLS, cdn: FakeCDN
) -> None:
    url = cdn.put("files/uploads/x/in.png", make_png(80, 40))
    status, body = await fal_run(
        fal, tls, "fal-ai/evf-sam", {"prompt": "The SKY above", "image_url": url}
    )
    assert status == 200 and set(body) == {"image"}
    assert body["image"]["content_type"] == "image/png"
    mask = await fetch_image(body["image"]["url"])
    assert (mask.mode, mask.size) == ("L", (80, 40))
    assert body["image"]["file_size"] == len(await fetch(body["image"]["url"]))
    # "sky" is (0, 0, 1, 0.25): rows 0-9 white, the rest black
    assert {mask.getpixel((x, y)) for x in range(80) for y in range(10)} == {255}
    assert {mask.getpixel((x, y)) for x in range(80) for y in range(10, 40)} == {0}


async def test_evf_sam_prompt_matching_no_region_gives_an_all_black_mask(
    fal: FakeFal, tls: TLS, cdn: FakeCDN
) -> None:
    url = cdn.put("files/uploads/x/in.png", make_png(32, 32))
    _, body = await fal_run(fal, tls, "fal-ai/evf-sam", {"prompt": "a unicorn", "image_url": url})
    mask = await fetch_image(body["image"]["url"])
    assert mask.getextrema() == (0, 0)


async def test_evf_sam_revert_mask_makes_the_region_black_and_the_rest_white(
    fal: FakeFal, tls: TLS, cdn: FakeCDN
) -> None:
    url = cdn.put("files/uploads/x/in.png", make_png(40, 40))
    args = {"prompt": "jacket", "image_url": url, "revert_mask": True}
    _, body = await fal_run(fal, tls, "fal-ai/evf-sam", args)
    mask = await fetch_image(body["image"]["url"])
    # "jacket" is (0.25, 0.5, 0.75, 1.0) -> x 10-29, y 20-39
    assert mask.getpixel((20, 30)) == 0 and mask.getpixel((5, 5)) == 255


# -- fill ----------------------------------------------------------------------------------------


async def test_fal_fill_with_a_mask_of_another_size_fails_422_naming_mask_url(
    fal: FakeFal, tls: TLS, cdn: FakeCDN
) -> None:
    image = cdn.put("files/uploads/x/in.png", make_png(64, 48))
    mask = cdn.put("files/uploads/x/mask.png", make_png(32, 24, (255, 255, 255)))
    args = {"prompt": "p", "image_url": image, "mask_url": mask}
    status, body = await fal_run(fal, tls, "fal-ai/flux-pro/v1/fill", args)
    assert status == 422
    [detail] = body["detail"]
    assert (detail["loc"], detail["type"]) == (["body", "mask_url"], "value_error")
    assert "64x48" in detail["msg"] and "32x24" in detail["msg"]


async def test_fal_fill_answers_flux_images_at_the_input_size_and_records_the_mask(
    fal: FakeFal, tls: TLS, cdn: FakeCDN
) -> None:
    mask_png = make_png(64, 48, (0, 0, 0))
    args = {
        "prompt": "a hat",
        "image_url": data_uri(make_png(64, 48, (10, 200, 10))),
        "mask_url": cdn.put("files/uploads/x/mask.png", mask_png),
        "output_format": "png",
    }
    status, body = await fal_run(fal, tls, "fal-ai/flux-pro/v1/fill", args)
    assert status == 200
    assert set(body) == {"images", "timings", "seed", "has_nsfw_concepts", "prompt"}
    [item] = body["images"]
    assert set(item) == {"url", "width", "height", "content_type"}
    assert (item["width"], item["height"]) == (64, 48)
    assert (await fetch_image(item["url"])).size == (64, 48)
    [mask] = fal.masks
    assert mask.size == (64, 48) and mask.convert("L").getextrema() == (0, 0)


async def test_replicate_fill_dev_reads_an_uploaded_mask_and_answers_a_list_at_cog_flux_size(
    rep: FakeReplicate,
) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as s:
        form = aiohttp.FormData()
        form.add_field("content", make_png(200, 100, (255, 255, 255)), filename="mask.png")
        async with s.post(f"{rep.base_url}/v1/files", data=form) as r:
            mask_url = (await r.json())["urls"]["get"]
    inp = {"prompt": "p", "image": data_uri(make_png(200, 100)), "mask": mask_url}
    inp |= {"megapixels": "match_input", "output_format": "png"}
    pred = await rep_run(rep, "black-forest-labs/flux-fill-dev", inp)
    assert pred["status"] == "succeeded" and isinstance(pred["output"], list)
    # cog-flux floors match_input sizes to multiples of 32
    assert (await fetch_image(pred["output"][0])).size == (192, 96)
    assert [m.size for m in rep.masks] == [(200, 100)]


async def test_replicate_fill_dev_resizes_a_mask_of_another_size_as_cog_flux_does(
    rep: FakeReplicate,
) -> None:
    inp = {"prompt": "p", "image": data_uri(make_png(64, 64)), "mask": data_uri(make_png(16, 8))}
    pred = await rep_run(rep, "black-forest-labs/flux-fill-dev", inp | {"megapixels": "0.25"})
    assert pred["status"] == "succeeded" and [m.size for m in rep.masks] == [(16, 8)]
    assert (await fetch_image(pred["output"][0])).size == (512, 512)


async def test_replicate_fill_dev_without_a_mask_fails_as_cog_flux_does(
    rep: FakeReplicate,
) -> None:
    pred = await rep_run(
        rep, "black-forest-labs/flux-fill-dev", {"prompt": "p", "image": data_uri(make_png())}
    )
    assert pred["status"] == "failed" and pred["error"] == apps.NO_MASK_ERROR


async def test_replicate_unknown_image_url_fails_the_prediction_with_a_404_error(
    rep: FakeReplicate,
) -> None:
    url = "https://example.test/gone.png"
    pred = await rep_run(
        rep, "black-forest-labs/flux-fill-dev", {"prompt": "p", "image": url, "mask": url}
    )
    assert pred["status"] == "failed"
    assert pred["error"] == f"404 Client Error: Not Found for url: {url}"


# -- outpaint ------------------------------------------------------------------------------------


async def test_outpaint_image_is_the_expanded_size_grown_by_the_default_zoom_out(
    fal: FakeFal, tls: TLS, cdn: FakeCDN
) -> None:
    url = cdn.put("files/uploads/x/in.png", make_png(100, 60))
    args = {"image_url": url, "expand_left": 20, "expand_right": 0, "expand_bottom": 40}
    status, body = await fal_run(fal, tls, "fal-ai/image-apps-v2/outpaint", args)
    assert status == 200 and set(body) == {"images", "seed"}
    [item] = body["images"]
    # (100 + 20) x (60 + 40), then zoomed out 20 %: / 0.8
    assert (item["width"], item["height"]) == (150, 125)
    assert {"file_name", "file_size", "content_type"} <= set(item)
    assert (await fetch_image(item["url"])).size == (150, 125)


async def test_outpaint_without_zoom_out_is_only_the_expanded_size(
    fal: FakeFal, tls: TLS, cdn: FakeCDN
) -> None:
    url = cdn.put("files/uploads/x/in.png", make_png(100, 60))
    args = {"image_url": url, "expand_right": 50, "zoom_out_percentage": 0}
    _, body = await fal_run(fal, tls, "fal-ai/image-apps-v2/outpaint", args)
    assert (body["images"][0]["width"], body["images"][0]["height"]) == (150, 60)


# -- captions ------------------------------------------------------------------------------------


async def test_florence_results_is_a_caption_string_of_several_sentences(
    fal: FakeFal, tls: TLS
) -> None:
    args = {"image_url": data_uri(make_png())}
    status, body = await fal_run(fal, tls, "fal-ai/florence-2-large/more-detailed-caption", args)
    assert status == 200 and body == {"results": apps.CAPTION}
    assert isinstance(body["results"], str) and body["results"].count(". ") >= 3


async def test_moondream_caption_is_under_output_with_finish_reason_and_usage(
    fal: FakeFal, tls: TLS
) -> None:
    args = {"image_url": data_uri(make_png())}
    _, body = await fal_run(fal, tls, "fal-ai/moondream3-preview/caption", args)
    assert body["output"] == apps.CAPTION and body["finish_reason"] == "stop"
    assert set(body["usage_info"]) == {
        "input_tokens", "output_tokens", "prefill_time_ms", "decode_time_ms", "ttft_ms",
    }  # fmt: skip


async def test_script_result_replaces_the_caption(fal: FakeFal, tls: TLS) -> None:
    app = "fal-ai/florence-2-large/more-detailed-caption"
    fal.script(app, Script(queue_s=0, run_s=0.01, steps=0, result={"results": "Mine."}))
    _, body = await fal_run(fal, tls, app, {"image_url": data_uri(make_png())})
    assert body == {"results": "Mine."}


# -- blend ---------------------------------------------------------------------------------------


async def test_fal_kontext_multi_fails_naming_the_list_item_it_cannot_read(
    fal: FakeFal, tls: TLS
) -> None:
    urls = [data_uri(make_png()), "https://example.test/nope.png"]
    args = {"prompt": "p", "image_urls": urls}
    status, body = await fal_run(fal, tls, "fal-ai/flux-pro/kontext/multi", args)
    assert status == 422
    assert [(d["loc"], d["type"]) for d in body["detail"]] == [
        (["body", "image_urls", 1], "file_download_error")
    ]


async def test_fal_flux_2_edit_answers_file_style_images_at_the_first_inputs_size(
    fal: FakeFal, tls: TLS
) -> None:
    args = {"prompt": "p", "image_urls": [data_uri(make_png(48, 32)), data_uri(make_png())]}
    _, body = await fal_run(fal, tls, "fal-ai/flux-2/edit", args)
    [item] = body["images"]
    assert (item["width"], item["height"], item["content_type"]) == (48, 32, "image/png")
    assert {"file_name", "file_size"} <= set(item) and "has_nsfw_concepts" in body


async def test_replicate_multi_image_kontext_pro_returns_one_uri_string(
    rep: FakeReplicate,
) -> None:
    inp = {
        "prompt": "p",
        "input_image_1": data_uri(make_png(40, 30)),
        "input_image_2": data_uri(make_png(8, 8)),
    }
    pred = await rep_run(rep, "flux-kontext-apps/multi-image-kontext-pro", inp)
    assert pred["status"] == "succeeded" and isinstance(pred["output"], str)
    assert (await fetch_image(pred["output"])).size == (40, 30)


# -- video ---------------------------------------------------------------------------------------


async def test_fal_kling_video_answers_one_video_file_of_an_isom_mp4(
    fal: FakeFal, tls: TLS
) -> None:
    args = {"prompt": "p", "start_image_url": data_uri(make_png())}
    status, body = await fal_run(fal, tls, "fal-ai/kling-video/v3/standard/image-to-video", args)
    assert status == 200 and set(body) == {"video"}
    video = body["video"]
    assert video["content_type"] == "video/mp4" and video["file_name"].endswith(".mp4")
    data = await fetch(video["url"])
    assert data[4:12] == b"ftypisom" and video["file_size"] == len(data)


async def test_fal_wan_video_also_answers_its_seed(fal: FakeFal, tls: TLS) -> None:
    args = {"prompt": "p", "image_url": data_uri(make_png()), "seed": 7}
    _, body = await fal_run(fal, tls, "fal-ai/wan/v2.7/image-to-video", args)
    assert set(body) == {"video", "seed"} and body["seed"] == 7


async def test_video_bytes_makes_every_video_that_large(fal: FakeFal, tls: TLS) -> None:
    fal.video_bytes = 30 * 1024 * 1024
    args = {"prompt": "p", "image_url": data_uri(make_png())}
    _, body = await fal_run(fal, tls, "fal-ai/veo3.1/fast/image-to-video", args)
    assert body["video"]["file_size"] == 30 * 1024 * 1024
    assert len(await fetch(body["video"]["url"])) == 30 * 1024 * 1024


async def test_replicate_video_is_one_uri_string(rep: FakeReplicate) -> None:
    inp = {"prompt": "p", "start_image": data_uri(make_png())}
    pred = await rep_run(rep, "kwaivgi/kling-v1.6-pro", inp)
    assert pred["status"] == "succeeded" and isinstance(pred["output"], str)
    assert (await fetch(pred["output"]))[4:12] == b"ftypisom"


async def test_replicate_kling_without_a_start_or_end_image_fails(rep: FakeReplicate) -> None:
    pred = await rep_run(rep, "kwaivgi/kling-v1.6-pro", {"prompt": "p"})
    assert pred["status"] == "failed" and pred["error"] == apps.KLING_NO_IMAGE_ERROR


async def test_hailuo_10_seconds_at_1080p_fails_the_prediction(rep: FakeReplicate) -> None:
    inp = {"prompt": "p", "first_frame_image": data_uri(make_png()), "duration": 10}
    inp["resolution"] = "1080p"
    pred = await rep_run(rep, "minimax/hailuo-02", inp)
    assert pred["status"] == "failed" and "768p" in pred["error"]


async def test_hailuo_10_seconds_at_768p_succeeds(rep: FakeReplicate) -> None:
    inp = {"prompt": "p", "duration": 10, "resolution": "768p"}
    pred = await rep_run(rep, "minimax/hailuo-02", inp)
    assert pred["status"] == "succeeded" and isinstance(pred["output"], str)


# -- building blocks -----------------------------------------------------------------------------


def test_make_mp4_starts_with_an_isom_ftyp_box_and_has_the_asked_size() -> None:
    data = apps.make_mp4(1000)
    assert len(data) == 1000 and int.from_bytes(data[:4], "big") == 32
    assert data[4:12] == b"ftypisom" and data[36:40] == b"mdat"
    assert int.from_bytes(data[32:36], "big") == 1000 - 32


def test_solid_png_is_a_real_png_of_that_size() -> None:
    img = Image.open(io.BytesIO(apps.solid_png(3000, 2000, (1, 2, 3))))
    img.load()
    assert (img.size, img.getpixel((2999, 1999))) == ((3000, 2000), (1, 2, 3))
