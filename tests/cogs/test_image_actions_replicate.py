"""The image actions on Replicate's models and an OpenAI-compatible API (issue 15): their own
field names, mask conventions and output shapes, through the real bot and the fakes (the
words-to-mask step on fal's segmenter)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.apps import SEGMENT_REGIONS
from tests.fakes.cdn import make_png
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.fakes.fal import FakeFal, Script
from tests.fakes.openai_actions import VISION_PROMPTS
from tests.fakes.openai_images import FakeOpenAIImages
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
REPLICATE_QUICK = ReplicateScript(queue_s=0, run_s=0.3, steps=1)
ALICE, BOB = 4000, 5000


async def on_replicate(h: Harness) -> tuple[int, FakeMessage]:
    made = await h.imagine(prompt="a harbour at dawn", provider="replicate", user_id=ALICE)
    await h.idle()
    job = await h.job_for(made)
    assert job is not None and job.state == "done"
    return job.id, h.original(made)


async def test_vary_region_on_replicate_sends_flux_fill_a_white_means_repaint_mask(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_replicate.script(None, REPLICATE_QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await on_replicate(h)
        submitted = await fake_discord.send_modal_submit(
            f"af:vrm:{job_id}:1",
            {"region": "the sky", "prompt": "a harbour under fireworks"},
            message=message,
            user_id=BOB,
        )
        await h.idle()
        assert [app for app, _, _ in fake_fal.submits] == ["fal-ai/evf-sam"]
        model, inputs, _ = fake_replicate.creates[-1]
        assert model == "black-forest-labs/flux-fill-dev"
        assert inputs["megapixels"] == "match_input"
        assert inputs["prompt"] == "a harbour under fireworks"
        mask = fake_replicate.masks[-1].convert("L")
        width, height = mask.size
        bottom = SEGMENT_REGIONS["sky"][3]
        assert mask.getpixel((width // 2, 0)) == 255  # the sky: repaint
        assert mask.getpixel((width // 2, int(height * (bottom + 0.2)))) == 0  # keep
        child = await h.job_for(submitted)
        assert child is not None and (child.provider, child.state) == ("replicate", "done")


async def test_animate_on_replicate_sends_hailuo_its_integer_duration_and_posts_the_mp4(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, REPLICATE_QUICK)
    async with running_bot(fake_discord, db_path) as h:
        job_id, message = await on_replicate(h)
        submitted = await fake_discord.send_modal_submit(
            f"af:anm:{job_id}:1",
            {"prompt": ""},
            selects={"duration": ["10"]},
            message=message,
            user_id=BOB,
        )
        await h.idle()
        model, inputs, _ = fake_replicate.creates[-1]
        assert model == "minimax/hailuo-02"
        # 10 s only at 768p (the default, 1080p, fails), and a prompt even for an image.
        assert (inputs["duration"], inputs["resolution"]) == (10, "768p")
        assert inputs["prompt"] and inputs["first_frame_image"].startswith("data:image/")
        child = await h.job_for(submitted)
        assert child is not None and child.state == "done"
        assert h.original(submitted).attachments[0].filename == f"art-{child.id}-1.mp4"
        assert await h.bot.db.jobs.quota_used(BOB, child.quota_day) == 10


async def test_blend_on_replicate_sends_the_pair_model_its_two_image_fields(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, REPLICATE_QUICK)
    async with running_bot(fake_discord, db_path, providers={"fal": {"blend_model": ""}}) as h:
        images = [fake_discord.make_attachment(f"{n}.png", make_png(40, 40)) for n in (1, 2)]
        values = [{"name": f"image{n}", "type": 11, "value": a} for n, a in enumerate(images, 1)]
        blended = await fake_discord.send_interaction("blend", values, user_id=BOB)
        await h.idle()
        model, inputs, _ = fake_replicate.creates[-1]
        assert model == "flux-kontext-apps/multi-image-kontext-pro"
        assert inputs["input_image_1"].startswith("data:image/")
        assert inputs["input_image_2"].startswith("data:image/")
        child = await h.job_for(blended)
        assert child is not None and (child.kind, child.state) == ("blend", "done")
        assert len(h.original(blended).attachments) == 1  # its one URI, not a list


async def test_vary_region_on_an_openai_api_sends_images_edit_a_transparent_means_edit_mask(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_openai.run_s = 0.1
    openai = {"providers": {"openai": fake_openai.config()}}
    async with running_bot(fake_discord, db_path, **openai) as h:
        made = await h.imagine(prompt="a harbour at dawn", provider="openai", user_id=ALICE)
        await h.idle()
        parent = await h.job_for(made)
        assert parent is not None and parent.state == "done"
        submitted = await fake_discord.send_modal_submit(
            f"af:vrm:{parent.id}:1",
            {"region": "the sky", "prompt": "a harbour under fireworks"},
            message=h.original(made),
            user_id=BOB,
        )
        await h.idle()
        (edit,) = fake_openai.edits
        assert (edit.fields["model"], edit.fields["prompt"]) == (
            "gpt-image-1.5",
            "a harbour under fireworks",
        )
        assert edit.mask is not None and edit.mask.size == edit.image.size
        alpha = edit.mask.convert("RGBA").getchannel("A")
        width, height = alpha.size
        bottom = SEGMENT_REGIONS["sky"][3]
        assert alpha.getpixel((width // 2, 0)) == 0  # the sky: transparent, edited
        assert alpha.getpixel((width // 2, int(height * (bottom + 0.2)))) == 255  # kept
        child = await h.job_for(submitted)
        assert child is not None and (child.provider, child.state) == ("openai", "done")
        assert len(h.original(submitted).attachments) == 1


async def test_describe_through_a_vision_chat_model_gives_its_four_prompts(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    vision = {
        "providers": {
            "openai": fake_openai.config(describe_model="gpt-4o-mini"),
            "fal": {"describe_model": ""},
        }
    }
    async with running_bot(fake_discord, db_path, **vision) as h:
        attachment = fake_discord.make_attachment("fox.png", make_png(48, 32), "image/png")
        values = [{"name": "image", "type": 11, "value": attachment}]
        described = await fake_discord.send_interaction("describe", values, user_id=BOB)
        await h.idle()
        (body,) = fake_openai.chats
        assert body["model"] == "gpt-4o-mini"
        parts = body["messages"][-1]["content"]
        assert any(
            p["type"] == "image_url" and p["image_url"]["url"].startswith("data:image/")
            for p in parts
        )
        job = await h.job_for(described)
        assert job is not None and (job.provider, job.state) == ("openai", "done")
        assert job.result_json["prompts"] == list(VISION_PROMPTS)
        assert fake_fal.submits == []
