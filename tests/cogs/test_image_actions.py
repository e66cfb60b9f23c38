"""A single image's actions end to end (issue 15): the single-image message, Vary (Subtle/Strong),
Zoom Out, Pan, Vary (Region) and Upscale, through the real bot against the fake fal."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from pathlib import Path

from PIL import Image

from tests.fakes.apps import SEGMENT_REGIONS
from tests.fakes.cdn import FakeCDN
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
ALICE, BOB = 4000, 5000


def custom_ids(message: FakeMessage) -> list[list[str]]:
    return [[c["custom_id"] for c in row.get("components", [])] for row in message.components]


def labels(message: FakeMessage) -> list[str]:
    return [
        c.get("label") or c.get("emoji", {}).get("name", "")
        for row in message.components
        for c in row.get("components", [])
    ]


def picture(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


async def one_image(h: Harness, prompt: str = "a lighthouse") -> tuple[int, FakeMessage]:
    interaction = await h.imagine(prompt=prompt, count=1, user_id=ALICE)
    await h.idle()
    job = await h.job_for(interaction)
    assert job is not None and job.state == "done"
    return job.id, h.original(interaction)


async def click(
    h: Harness, message: FakeMessage, custom_id: str, user_id: int = BOB
) -> Interaction:
    pressed = await h.discord.send_component(message, custom_id, user_id=user_id)
    await h.idle()
    return pressed


async def test_a_one_image_result_carries_the_image_actions_by_their_labels(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
        assert custom_ids(message) == [
            [f"af:ia:vs:{job_id}:1", f"af:ia:vg:{job_id}:1", f"af:ia:vr:{job_id}:1"],
            [
                f"af:ia:z15:{job_id}:1",
                f"af:ia:z2:{job_id}:1",
                f"af:ia:up:{job_id}:1",
                f"af:ia:an:{job_id}:1",
            ],
            [f"af:ia:{code}:{job_id}:1" for code in ("pl", "pr", "pu", "pd")],
            [
                f"af:share:{job_id}:1",
                f"af:rr:{job_id}",
                f"af:rx:{job_id}",
                f"af:del:{job_id}",
                f"af:rep:{job_id}",
            ],
        ]
        assert labels(message)[:11] == [
            "Vary (Subtle)",
            "Vary (Strong)",
            "Vary (Region)",
            "Zoom Out 1.5x",
            "Zoom Out 2x",
            "Upscale",
            "Animate",
            "⬅️",
            "➡️",
            "⬆️",
            "⬇️",
        ]


async def test_u_posts_that_image_alone_with_its_actions_and_charges_nothing(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="three owls", count=3, user_id=ALICE, seed=3)
        await h.idle()
        parent = await h.job_for(interaction)
        assert parent is not None
        grid = h.original(interaction)
        pressed = await click(h, grid, f"af:u:{parent.id}:2")

        single = h.original(pressed)
        assert [a.filename for a in single.attachments] == [f"art-{parent.id}-2.png"]
        assert single.attachments[0].data == grid.attachments[1].data  # that image, as posted
        rows = custom_ids(single)
        assert rows[0] == [f"af:ia:{c}:{parent.id}:2" for c in ("vs", "vg", "vr")]
        assert rows[-1] == [f"af:share:{parent.id}:2", f"af:rx:{parent.id}", f"af:rep:{parent.id}"]
        assert f"image 2 of <@{ALICE}>'s [#{parent.id}]" in (single.content or "")
        assert len(fake_fal.submits) == 1  # no provider call
        assert await h.bot.db.jobs.quota_used(BOB, parent.quota_day) == 0


async def test_vary_subtle_and_strong_are_image_to_image_at_their_strengths(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
        subtle = await click(h, message, f"af:ia:vs:{job_id}:1")
        strong = await click(h, message, f"af:ia:vg:{job_id}:1")
        sent = [(app, args["strength"]) for app, args, _ in fake_fal.submits[1:]]
        assert sent == [
            ("fal-ai/flux/dev/image-to-image", 0.35),
            ("fal-ai/flux/dev/image-to-image", 0.75),
        ]
        for pressed in (subtle, strong):
            child = await h.job_for(pressed)
            assert child is not None
            assert (child.kind, child.user_id, child.state) == ("variation", BOB, "done")
            assert (child.parent_job_id, child.parent_image) == (job_id, 0)


async def test_zoom_out_2x_delivers_a_canvas_twice_the_size(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
        before = picture(message.attachments[0].data).size
        pressed = await click(h, message, f"af:ia:z2:{job_id}:1")

        app, arguments, _ = fake_fal.submits[-1]
        assert app == "fal-ai/image-apps-v2/outpaint"
        assert arguments["zoom_out_percentage"] == 50
        assert [arguments[f"expand_{s}"] for s in ("left", "right", "top", "bottom")] == [0] * 4
        result = h.original(pressed)
        assert picture(result.attachments[0].data).size == (before[0] * 2, before[1] * 2)
        child = await h.job_for(pressed)
        assert child is not None and (child.kind, child.state) == ("zoom out", "done")
        assert f"zoom out of image 1 of <@{ALICE}>'s [#{job_id}]" in (result.content or "")


async def test_each_pan_arrow_extends_its_own_side_and_nothing_else(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
        width, height = picture(message.attachments[0].data).size
        grown = {"pl": width // 2, "pr": width // 2, "pu": height // 2, "pd": height // 2}
        sides = {"pl": "left", "pr": "right", "pu": "top", "pd": "bottom"}
        for code, side in sides.items():
            pressed = await click(h, message, f"af:ia:{code}:{job_id}:1")
            _, arguments, _ = fake_fal.submits[-1]
            assert arguments["zoom_out_percentage"] == 0  # its default (20) would shrink it
            expanded = {s: arguments[f"expand_{s}"] for s in sides.values()}
            assert expanded == {s: grown[code] if s == side else 0 for s in sides.values()}
            size = picture(h.original(pressed).attachments[0].data).size
            horizontal = side in ("left", "right")
            assert size == (
                (width + grown[code], height) if horizontal else (width, height + grown[code])
            )


async def test_vary_region_by_words_inpaints_through_the_segmenters_mask(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h, "a meadow under a blue sky")
        form = await click(h, message, f"af:ia:vr:{job_id}:1")
        assert [c.json["type"] for c in form.callbacks()] == [9]  # the form
        submitted = await fake_discord.send_modal_submit(
            f"af:vrm:{job_id}:1",
            {"region": "the sky", "prompt": "a meadow under a stormy sky"},
            message=message,
            user_id=BOB,
        )
        await h.idle()

        apps = [app for app, _, _ in fake_fal.submits[1:]]
        assert apps == ["fal-ai/evf-sam", "fal-ai/flux-pro/v1/fill"]
        assert fake_fal.submits[1][1]["prompt"] == "the sky"
        fill = fake_fal.submits[2][1]
        assert fill["prompt"] == "a meadow under a stormy sky"
        mask = fake_fal.masks[-1].convert("L")
        width, height = mask.size
        left, top, right, bottom = SEGMENT_REGIONS["sky"]
        assert mask.getpixel((width // 2, int(height * top) + 1)) == 255  # in the sky
        assert mask.getpixel((width // 2, int(height * (bottom + 0.2)))) == 0  # below it
        assert (left, right) == (0.0, 1.0)

        child = await h.job_for(submitted)
        assert child is not None
        assert (child.kind, child.user_id, child.state) == ("region edit", BOB, "done")
        assert child.inputs_json["mask_id"] is not None  # the mask is kept with the job
        assert len(h.original(submitted).attachments) == 1


async def test_a_region_that_matches_nothing_is_refunded_with_a_clear_answer(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
        submitted = await fake_discord.send_modal_submit(
            f"af:vrm:{job_id}:1",
            {"region": "a purple giraffe", "prompt": "a meadow"},
            message=message,
            user_id=BOB,
        )
        await h.idle()
        assert [app for app, _, _ in fake_fal.submits[1:]] == ["fal-ai/evf-sam"]  # no inpaint
        child = await h.job_for(submitted)
        assert child is not None
        assert (child.state, child.quota_state) == ("failed", "refunded")
        assert "Nothing in the image matched “a purple giraffe”" in (
            h.original(submitted).content or ""
        )
        assert await h.bot.db.jobs.quota_used(BOB, child.quota_day) == 0


async def test_a_rough_region_is_drawn_by_the_bot_without_asking_a_segmenter(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
        submitted = await fake_discord.send_modal_submit(
            f"af:vrm:{job_id}:1",
            {"prompt": "a red barn"},
            selects={"rough": ["left half"]},
            message=message,
            user_id=BOB,
        )
        await h.idle()
        assert [app for app, _, _ in fake_fal.submits[1:]] == ["fal-ai/flux-pro/v1/fill"]
        mask = fake_fal.masks[-1].convert("L")
        width, height = mask.size
        assert mask.getpixel((width // 4, height // 2)) == 255
        assert mask.getpixel((3 * width // 4, height // 2)) == 0
        child = await h.job_for(submitted)
        assert child is not None and child.state == "done"


async def test_a_restart_mid_inpaint_resumes_it_with_its_mask_without_asking_again(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
        fake_fal.script("fal-ai/flux-pro", Script(queue_s=0.1, queue_positions=[0], run_s=2.5))
        submitted = await fake_discord.send_modal_submit(
            f"af:vrm:{job_id}:1",
            {"region": "the sky", "prompt": "a stormy sky"},
            message=message,
            user_id=BOB,
        )
        async with asyncio.timeout(10):  # the inpaint is submitted and its id stored
            while not ((row := await h.job_for(submitted)) and row.provider_request_id):
                await asyncio.sleep(0.02)
    async with running_bot(fake_discord, db_path) as h2:
        await h2.idle()
        apps = [app for app, _, _ in fake_fal.submits[1:]]
        assert apps == ["fal-ai/evf-sam", "fal-ai/flux-pro/v1/fill"]  # neither asked twice
        child = await h2.job_for(submitted)
        assert child is not None
        assert (child.state, child.quota_state) == ("done", "committed")
        assert len(h2.original(submitted).attachments) == 1


async def test_the_image_actions_work_after_a_restart_and_refuse_forged_ids(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
    async with running_bot(fake_discord, db_path) as h2:
        pressed = await click(h2, message, f"af:ia:z15:{job_id}:1")
        child = await h2.job_for(pressed)
        assert child is not None and child.state == "done"
        assert fake_fal.submits[-1][1]["zoom_out_percentage"] == 33.33

        def forged(custom_id: str) -> dict[str, object]:
            button = {"type": 2, "style": 2, "custom_id": custom_id}
            return {"components": [{"type": 1, "components": [button]}]}

        cases = {
            f"af:ia:pl:{job_id}:2": "there is no image 2",
            "af:ia:vs:99999:1": "That result no longer exists.",
            "af:ia:vr:99999:1": "That result no longer exists.",
            "af:di:99999:1": "That description does not belong to this server.",
        }
        submits = len(fake_fal.submits)
        for custom_id, words in cases.items():
            answer = await fake_discord.send_component(
                message, custom_id, user_id=BOB, message_overrides=forged(custom_id)
            )
            await h2.settled()
            (said,) = answer.private_answers()
            assert words in said, (custom_id, said)
        assert len(fake_fal.submits) == submits  # nothing started


async def test_without_an_outpainting_model_zoom_out_fills_a_padded_canvas_through_a_mask(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    none = {"fal": {"outpaint_model": ""}, "replicate": {"outpaint_model": ""}}
    async with running_bot(fake_discord, db_path, providers=none) as h:
        job_id, message = await one_image(h)
        width, height = picture(message.attachments[0].data).size
        pressed = await click(h, message, f"af:ia:z2:{job_id}:1")

        app, arguments, _ = fake_fal.submits[-1]
        assert app == "fal-ai/flux-pro/v1/fill"
        assert arguments["prompt"] == "a lighthouse"
        mask = fake_fal.masks[-1].convert("L")
        assert mask.width >= 2 * width and mask.height >= 2 * height  # twice, rounded up
        assert mask.getpixel((2, 2)) == 255  # the new border: painted
        assert mask.getpixel((mask.width // 2, mask.height // 2)) == 0  # the picture: kept
        child = await h.job_for(pressed)
        assert child is not None and (child.kind, child.state) == ("zoom out", "done")


async def test_a_restart_mid_segmentation_reattaches_to_it_and_an_open_form_still_works(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
        await click(h, message, f"af:ia:vr:{job_id}:1")  # the form opens before the restart
        fake_fal.script("fal-ai/evf-sam", Script(queue_s=0.1, queue_positions=[0], run_s=2.5))
    async with running_bot(fake_discord, db_path) as h2:
        submitted = await fake_discord.send_modal_submit(
            f"af:vrm:{job_id}:1",
            {"region": "the sky", "prompt": "a stormy sky"},
            message=message,
            user_id=BOB,
        )
        await fake_fal.wait_for_submit()
        async with asyncio.timeout(5):  # the segmentation's id is stored the moment it is known
            while not (
                (child := await h2.job_for(submitted)) and child.inputs_json["mask_request"]
            ):
                await asyncio.sleep(0.02)
    async with running_bot(fake_discord, db_path) as h3:
        await h3.idle()
        apps = [app for app, _, _ in fake_fal.submits[1:]]
        assert apps == ["fal-ai/evf-sam", "fal-ai/flux-pro/v1/fill"]  # the segmenter once
        child = await h3.job_for(submitted)
        assert child is not None and (child.state, child.quota_state) == ("done", "committed")


async def test_a_single_image_discord_refuses_to_post_gets_a_private_answer_not_thinking(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="two owls", count=2, user_id=ALICE)
        await h.idle()
        parent = await h.job_for(interaction)
        assert parent is not None
        fake_discord.inject("POST", r"/webhooks/", status=400, when=lambda r: bool(r.files))
        pressed = await click(h, h.original(interaction), f"af:u:{parent.id}:1")
        assert pressed.private_answers() == ["That image could not be posted (400)."]
        assert h.original(pressed).deleted  # the "thinking…" placeholder is gone


async def test_a_mask_that_is_no_image_ends_the_job_refunded_with_a_clear_answer(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    garbage = cdn.put("files/bad/mask.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await one_image(h)
        fake_fal.script("fal-ai/evf-sam", replace(QUICK, result={"image": {"url": garbage}}))
        submitted = await fake_discord.send_modal_submit(
            f"af:vrm:{job_id}:1",
            {"region": "the sky", "prompt": "a stormy sky"},
            message=message,
            user_id=BOB,
        )
        await h.idle()
        child = await h.job_for(submitted)
        assert child is not None and (child.state, child.quota_state) == ("failed", "refunded")
        said = h.original(submitted).content or ""
        assert "the segmentation mask is not an image the bot can read" in said
        assert [app for app, _, _ in fake_fal.submits[1:]] == ["fal-ai/evf-sam"]  # no inpaint
