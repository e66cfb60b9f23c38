"""`/variations` and "Make variations": the uploaded image reaches the provider; bad files don't."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from tests.fakes.cdn import make_png
from tests.fakes.discord import FakeDiscord, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)


async def variations(h: Harness, attachment: dict[str, object], **options: object) -> Interaction:
    values = [{"name": "image", "type": 11, "value": attachment}]
    types = {str: 3, int: 4}
    values += [
        {"name": k, "type": types[type(v)], "value": v} for k, v in options.items() if v is not None
    ]
    return await h.discord.send_interaction("variations", values, user_id=4000)


async def test_variations_send_the_uploaded_image_with_the_mapped_strength(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    upload = make_png(300, 200, (10, 200, 30))
    async with running_bot(fake_discord, db_path) as h:
        attachment = fake_discord.make_attachment("cat.png", upload, "image/png")
        interaction = await variations(h, attachment, prompt="as a watercolour", strength="subtle")
        await h.idle()
        app_id, arguments, _ = fake_fal.submits[0]
        assert app_id == "fal-ai/flux/dev/image-to-image"
        assert arguments["strength"] == 0.35
        assert arguments["prompt"] == "as a watercolour"
        sent = Image.open(io.BytesIO(base64.b64decode(arguments["image_url"].split(",")[1])))
        assert sent.size == (300, 200)
        assert all(
            abs(a - b) <= 4 for a, b in zip(sent.getpixel((5, 5)), (10, 200, 30), strict=True)
        )
        assert len(h.original(interaction).attachments) == 1
        job = await h.job_for(interaction)
        assert job is not None and (job.kind, job.state) == ("variation", "done")


async def test_variations_on_replicate_use_prompt_strength(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        attachment = fake_discord.make_attachment("a.png", make_png(64, 64), "image/png")
        await variations(h, attachment, strength="0.8", provider="replicate", count=2)
        await h.idle()
        model, inputs, _ = fake_replicate.creates[0]
        assert model == "black-forest-labs/flux-dev"
        assert inputs["prompt_strength"] == 0.8 and inputs["num_outputs"] == 2
        assert inputs["image"].startswith("data:image/jpeg;base64,")


async def refused(h: Harness, interaction: Interaction) -> str:
    await h.idle()
    followups = [
        r
        for r in h.discord.requests
        if r.method == "POST" and r.path.endswith(interaction.token) and r.json
    ]
    assert len(followups) == 1, followups
    assert followups[0].json["flags"] & 64
    original = interaction.original()
    assert original is None or original.deleted
    assert await h.job_for(interaction) is None
    return str(followups[0].json["content"])


async def test_bad_files_are_refused_clearly_and_nothing_is_charged(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    big = io.BytesIO()
    Image.new("L", (10_000, 5_000)).save(big, "PNG")  # 50 megapixels, small on disk
    async with running_bot(fake_discord, db_path) as h:
        corrupt = await variations(
            h, fake_discord.make_attachment("x.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")
        )
        huge = await variations(
            h, fake_discord.make_attachment("big.png", big.getvalue(), "image/png")
        )
        text = await variations(
            h, fake_discord.make_attachment("notes.txt", b"hello", "text/plain; charset=utf-8")
        )
        bad_strength = await variations(
            h, fake_discord.make_attachment("ok.png", make_png(8, 8), "image/png"), strength="lots"
        )
        assert "not an image I can read" in await refused(h, corrupt)
        assert "10000x5000 (50 megapixels); the limit is 40" in await refused(h, huge)
        assert "not an image" in await refused(h, text)
        assert "strength 'lots' is not valid" in await refused(h, bad_strength)
        assert fake_fal.requests == []
        usage = await h.bot.jobs.usage(4000)
        assert usage.used == 0


async def test_make_variations_on_a_result_credits_it(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        first = await h.imagine(prompt="a paper boat", user_id=4000)
        await h.idle()
        result = h.original(first)
        parent = await h.job_for(first)
        assert parent is not None
        menu = await fake_discord.send_message_command("Make variations", result)
        await h.idle()
        assert fake_fal.submits[-1][0] == "fal-ai/flux/dev/image-to-image"
        assert fake_fal.submits[-1][1]["prompt"] == "a paper boat"
        child = await h.job_for(menu)
        assert child is not None
        assert (child.kind, child.parent_job_id, child.parent_image) == ("variation", parent.id, 0)


async def test_variations_follow_the_server_default_provider_unless_it_cannot_start_from_an_image(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.2, steps=1))
    openai = {"enabled": True, "base_url": "http://127.0.0.1:9/v1", "model": "dall-e-3"}
    async with running_bot(fake_discord, db_path, providers={"openai": openai}) as h:
        store = h.bot.db.settings
        await store.update_guild(fake_discord.guild_id, default_provider="replicate")
        attachment = fake_discord.make_attachment("a.png", make_png(64, 64), "image/png")
        on_default = await variations(h, attachment)
        await h.idle()
        assert [c[0] for c in fake_replicate.creates] == ["black-forest-labs/flux-dev"]
        assert fake_fal.submits == []
        job = await h.job_for(on_default)
        assert job is not None and (job.provider, job.state) == ("replicate", "done")

        # An images API cannot do img2img: the first allowed provider that can takes the job.
        await store.update_guild(
            fake_discord.guild_id, default_provider="openai", providers="openai,fal"
        )
        moved = await variations(h, attachment)
        await h.idle()
        assert [c[0] for c in fake_fal.submits] == ["fal-ai/flux/dev/image-to-image"]
        job = await h.job_for(moved)
        assert job is not None and (job.provider, job.state) == ("fal", "done")


async def test_variations_skip_a_default_provider_that_has_no_image_to_image_model_here(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.2, steps=1))
    providers = {"fal": {"img2img_model": ""}}  # fal is the default, without image-to-image
    async with running_bot(fake_discord, db_path, providers=providers) as h:
        attachment = fake_discord.make_attachment("a.png", make_png(64, 64), "image/png")
        interaction = await variations(h, attachment)
        await h.idle()
        assert fake_fal.submits == []
        assert [c[0] for c in fake_replicate.creates] == ["black-forest-labs/flux-dev"]
        job = await h.job_for(interaction)
        assert job is not None and (job.provider, job.kind, job.state) == (
            "replicate",
            "variation",
            "done",
        )
        assert len(h.original(interaction).attachments) == 1
