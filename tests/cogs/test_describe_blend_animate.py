"""/describe, /blend and Animate end to end (issue 15), through the real bot and the fake fal."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from tests.fakes.apps import CAPTION
from tests.fakes.cdn import make_png
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
ALICE, BOB, CAROL = 4000, 5000, 6000


def custom_ids(message: FakeMessage) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row.get("components", [])]


async def describe(h: Harness, data: bytes, user_id: int = BOB) -> Interaction:
    attachment = h.discord.make_attachment("fox.png", data, "image/png")
    values = [{"name": "image", "type": 11, "value": attachment}]
    interaction = await h.discord.send_interaction("describe", values, user_id=user_id)
    await h.idle()
    return interaction


async def test_describe_shows_four_prompts_and_imagine_runs_the_chosen_one_charged_then(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await describe(h, make_png(64, 48))
        app, arguments, _ = fake_fal.submits[-1]
        assert app == "fal-ai/florence-2-large/more-detailed-caption"
        assert set(arguments) == {"image_url"}  # the model takes nothing else

        message = h.original(interaction)
        job = await h.job_for(interaction)
        assert job is not None and (job.kind, job.state) == ("describe", "done")
        prompts = job.result_json["prompts"]
        assert len(prompts) == 4 and len(set(prompts)) == 4
        assert prompts[0] == "A red fox sitting in the snow at the edge of a pine forest."
        assert prompts[-1].endswith(CAPTION.rsplit(". ", 1)[1])  # the last has every sentence
        for number, prompt in enumerate(prompts, 1):
            assert f"**{number}.** {prompt}" in (message.content or "")
        assert custom_ids(message)[:4] == [f"af:di:{job.id}:{n}" for n in range(1, 5)]
        assert await h.bot.db.jobs.quota_used(BOB, job.quota_day) == 1  # images_per_describe

        pressed = await fake_discord.send_component(message, f"af:di:{job.id}:2", user_id=ALICE)
        await h.idle()
        app, arguments, _ = fake_fal.submits[-1]
        assert (app, arguments["prompt"]) == ("fal-ai/flux/dev", prompts[1])
        child = await h.job_for(pressed)
        assert child is not None and (child.kind, child.user_id, child.state) == (
            "imagine",
            ALICE,
            "done",
        )
        assert await h.bot.db.jobs.quota_used(ALICE, child.quota_day) == 1  # charged on click


async def test_the_describe_menu_describes_a_posted_image(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        first = await h.imagine(prompt="a paper boat", user_id=ALICE)
        await h.idle()
        result = h.original(first)
        menu = await fake_discord.send_message_command("Describe", result)
        await h.idle()
        assert fake_fal.submits[-1][0] == "fal-ai/florence-2-large/more-detailed-caption"
        job = await h.job_for(menu)
        assert job is not None and job.state == "done"


async def test_blend_of_three_images_sends_all_three_and_credits_their_three_authors(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        sources = []
        for member, prompt in ((ALICE, "a cat"), (BOB, "a hat"), (CAROL, "a boat")):
            made = await h.imagine(prompt=prompt, user_id=member)
            await h.idle()
            job = await h.job_for(made)
            assert job is not None
            posted = h.original(made).attachments[0]
            sources.append((job, fake_discord.make_attachment(posted.filename, posted.data)))
        values = [
            {"name": f"image{n}", "type": 11, "value": attachment}
            for n, (_, attachment) in enumerate(sources, 1)
        ]
        values.append({"name": "prompt", "type": 3, "value": "a cat in a hat on a boat"})
        blended = await fake_discord.send_interaction("blend", values, user_id=CAROL)
        await h.idle()

        app, arguments, _ = fake_fal.submits[-1]
        assert app == "fal-ai/flux-pro/kontext/multi"
        assert len(arguments["image_urls"]) == 3
        assert arguments["prompt"] == "a cat in a hat on a boat"
        content = h.original(blended).content or ""
        for job, _ in sources:
            assert f"<@{job.user_id}>'s [#{job.id}](" in content
        child = await h.job_for(blended)
        assert child is not None and (child.kind, child.state) == ("blend", "done")
        assert child.parent_job_id == sources[0][0].id


async def test_blend_where_no_model_blends_is_refused_before_anything_is_charged(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    none = {"fal": {"blend_model": ""}, "replicate": {"blend_model": ""}}
    async with running_bot(fake_discord, db_path, providers=none) as h:
        images = [fake_discord.make_attachment(f"{n}.png", make_png(32, 32)) for n in (1, 2)]
        values = [{"name": f"image{n}", "type": 11, "value": a} for n, a in enumerate(images, 1)]
        blended = await fake_discord.send_interaction("blend", values, user_id=CAROL)
        await h.settled()
        (said,) = blended.private_answers()
        assert "/blend is not set up on this bot" in said
        assert fake_fal.submits == []
        assert (await h.bot.jobs.usage(CAROL)).used == 0


async def animated(h: Harness, user_id: int = BOB) -> tuple[int, Interaction]:
    made = await h.imagine(prompt="a windmill", count=1, user_id=ALICE)
    await h.idle()
    job = await h.job_for(made)
    assert job is not None
    message = h.original(made)
    form = await h.discord.send_component(message, f"af:ia:an:{job.id}:1", user_id=user_id)
    await h.settled()
    modal = next(c.json for c in form.callbacks())
    assert modal["type"] == 9
    submitted = await h.discord.send_modal_submit(
        f"af:anm:{job.id}:1",
        {"prompt": "the sails turn slowly"},
        selects={"duration": ["5"]},
        message=message,
        user_id=user_id,
    )
    return job.id, submitted


async def test_animate_delivers_an_mp4_attachment_counted_by_its_seconds(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        _, submitted = await animated(h)
        await h.idle()
        app, arguments, _ = fake_fal.submits[-1]
        assert app == "fal-ai/kling-video/v3/standard/image-to-video"
        assert arguments["duration"] == "5"  # kling's durations are strings
        assert arguments["generate_audio"] is False
        assert arguments["prompt"] == "the sails turn slowly"
        assert arguments["start_image_url"].startswith("data:image/")
        message = h.original(submitted)
        child = await h.job_for(submitted)
        assert child is not None and (child.kind, child.state) == ("animation", "done")
        assert [a.filename for a in message.attachments] == [f"art-{child.id}-1.mp4"]
        assert message.attachments[0].data[4:8] == b"ftyp"
        assert custom_ids(message) == [f"af:del:{child.id}", f"af:rep:{child.id}"]
        assert await h.bot.db.jobs.quota_used(BOB, child.quota_day) == 5  # 5 s = 5 images


async def test_a_clip_over_the_size_limit_gets_a_still_and_a_link_saying_why(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_fal.video_bytes = fake_discord.attachment_size_limit + 1024 * 1024
    async with running_bot(fake_discord, db_path) as h:
        _, submitted = await animated(h)
        await h.idle()
        message = h.original(submitted)
        child = await h.job_for(submitted)
        assert child is not None and child.state == "done"
        (still,) = message.attachments
        assert still.filename.startswith(f"art-{child.id}-1.") and not still.filename.endswith(
            ".mp4"
        )
        Image.open(io.BytesIO(still.data)).verify()  # a picture
        video_url = child.result_json["video"]
        assert f"[watch the clip]({video_url})" in (message.content or "")
        assert "more than the" in (message.content or "")


async def test_a_restart_during_a_video_job_reattaches_to_it(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        fake_fal.script("fal-ai/kling-video", Script(queue_s=0.2, queue_positions=[0], run_s=2.5))
        _, submitted = await animated(h)
        while not any(app.startswith("fal-ai/kling") for app, _, _ in fake_fal.submits):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    async with running_bot(fake_discord, db_path) as h2:
        await h2.idle()
        kling = [app for app, _, _ in fake_fal.submits if app.startswith("fal-ai/kling")]
        assert len(kling) == 1  # re-attached, not sent again
        child = await h2.job_for(submitted)
        assert child is not None and (child.state, child.quota_state) == ("done", "committed")
        assert h2.original(submitted).attachments[0].filename.endswith(".mp4")
