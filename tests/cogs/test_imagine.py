"""`/imagine` end to end: real discord.py, fal-client and replicate over loopback sockets."""

from __future__ import annotations

import asyncio
import io
import itertools
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes.cdn import FakeCDN, make_png
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.fakes.fal import FakeFal, Script, validation_failure
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import running_bot


def is_final(message: FakeMessage) -> bool:
    return bool(message.attachments) or "Generation failed" in (message.content or "")


def assert_valid_images(message: FakeMessage, count: int) -> list[Image.Image]:
    assert len(message.attachments) == count
    images = []
    for attachment in message.attachments:
        with Image.open(io.BytesIO(attachment.data)) as image:
            image.verify()
        images.append(Image.open(io.BytesIO(attachment.data)))
    return images


async def test_imagine_on_fal_acks_first_streams_progress_and_posts_every_image(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=2.0, queue_positions=[2, 1, 0], run_s=2.2, steps=4))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(
            prompt="a lighthouse in a storm",
            count=2,
            seed=42,
            aspect_ratio="16:9",
            steps=28,
            guidance=3.5,
        )
        await h.idle()

        callbacks = interaction.callbacks()
        assert [c.json["type"] for c in callbacks] == [5]  # deferred, public
        first_provider_call = fake_fal.requests[0].time
        assert callbacks[0].time < first_provider_call

        (app_id, arguments, request_id) = fake_fal.submits[0]
        assert app_id == "fal-ai/flux/dev"
        assert arguments["prompt"] == "a lighthouse in a storm"
        assert arguments["num_images"] == 2
        assert arguments["seed"] == 42
        assert arguments["image_size"] == "landscape_16_9"
        assert arguments["num_inference_steps"] == 28
        assert arguments["guidance_scale"] == 3.5
        assert len(fake_fal.submits) == 1

        message = h.original(interaction)
        states = [state.get("content") or "" for state in message.history]
        progress = [s for s in states[1:-1] if s]
        assert progress, "no progress edit before the final one"
        assert any("queue" in s for s in progress)
        assert all("job #" not in s for s in progress)
        final = message.content or ""
        assert "seed 42" in final and "fal" in final and "fal-ai/flux/dev" in final
        assert " s" in final  # the time it took
        assert_valid_images(message, 2)

        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state, job.image_count) == ("done", "committed", 2)
        assert job.provider_request_id == request_id
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 2

        # Progress edits are spaced by the throttle (1.5 s per message).
        edits = [
            r for r in fake_discord.requests if r.method == "PATCH" and interaction.token in r.path
        ]
        gaps = [b.time - a.time for a, b in itertools.pairwise(edits[:-1])]
        assert all(gap >= 1.45 for gap in gaps), gaps


async def test_imagine_on_replicate_shows_step_progress(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, ReplicateScript(queue_s=0.2, run_s=3.5, steps=5))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(
            prompt="a tiny robot gardener",
            provider="replicate",
            count=3,
            aspect_ratio="2:3",
            guidance=3.0,
        )
        await h.idle()
        model, inputs, _ = fake_replicate.creates[0]
        assert model == "black-forest-labs/flux-dev"
        assert inputs["num_outputs"] == 3
        assert inputs["aspect_ratio"] == "2:3"
        assert inputs["guidance"] == 3.0

        message = h.original(interaction)
        states = [state.get("content") or "" for state in message.history]
        assert any("step " in s and "/5" in s for s in states), states
        assert_valid_images(message, 3)
        assert "replicate" in (message.content or "")
        job = await h.job_for(interaction)
        assert job is not None and job.state == "done"


async def test_invalid_or_contradictory_options_get_a_private_answer_and_no_job(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        contradictory = await h.imagine(
            prompt="x", provider="fal", model="black-forest-labs/flux-dev"
        )
        bad_guidance = await h.imagine(prompt="x", model="fal-ai/flux/schnell", guidance=20.5)
        forged = await h.imagine(prompt="x", count=9)  # Discord would not send this
        await h.settled()
        for interaction, words in (
            (contradictory, "is a replicate model but the provider is fal"),
            (bad_guidance, "guidance must be between 1 and 20 for fal-ai/flux/schnell"),
            (forged, "count must be between 1 and 4 images (got 9)"),
        ):
            callbacks = interaction.callbacks()
            assert len(callbacks) == 1
            assert callbacks[0].json["type"] == 4
            assert callbacks[0].json["data"]["flags"] & 64  # ephemeral
            assert words in callbacks[0].json["data"]["content"]
            assert await h.job_for(interaction) is None
        assert fake_fal.requests == []


async def test_a_6000_character_prompt_is_accepted(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="p" * 6000)
        await h.idle()
        assert fake_fal.submits[0][1]["prompt"] == "p" * 6000
        message = h.original(interaction)
        assert len(message.content or "") <= 2000
        assert_valid_images(message, 1)


async def test_quota_holds_under_50_concurrent_commands(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.3, steps=1))
    async with running_bot(
        fake_discord,
        db_path,
        quotas={"images_per_user_per_day": 7},
        generation={"max_jobs_per_user": 50, "max_concurrent_jobs": 50},
    ) as h:
        warmup = await h.imagine(prompt="first", count=2)  # 5 images left after this one
        await h.idle()
        assert (await h.job_for(warmup)) is not None

        burst = await asyncio.gather(*(h.imagine(prompt=f"burst {i}") for i in range(50)))
        await h.idle(timeout=60)

        jobs = [await h.job_for(i) for i in burst]
        accepted = [j for j in jobs if j is not None]
        assert len(accepted) == 5
        assert all(j.state == "done" for j in accepted)
        assert len(fake_fal.submits) == 1 + 5
        refused = [i for i, j in zip(burst, jobs, strict=True) if j is None]
        for interaction in refused:
            followups = [
                r
                for r in fake_discord.requests
                if r.method == "POST" and r.path.endswith(interaction.token)
            ]
            assert len(followups) == 1
            assert followups[0].json["flags"] & 64
            assert "used all 7 of your images for today" in followups[0].json["content"]
            assert "resets <t:" in followups[0].json["content"]
            original = interaction.original()
            assert original is None or original.deleted  # no public "thinking…" left behind
        assert await h.bot.db.jobs.quota_used(4000, accepted[0].quota_day) == 7


async def test_provider_validation_error_ends_the_message_and_refunds(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(
        None, Script(queue_s=0.1, run_s=0.2, fail=validation_failure("prompt", "prompt is unsafe"))
    )
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="something", count=3)
        await h.idle()
        message = h.original(interaction)
        content = message.content or ""
        assert "Generation failed" in content
        assert "prompt is unsafe" in content
        assert "will not help" in content
        assert "3 images were refunded" in content
        assert message.attachments == []
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("failed", "refunded")
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0


async def test_retryable_provider_error_says_retrying_may_help(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.inject(
        "POST",
        r"^/fal-ai/flux",
        status=500,
        headers={"X-Fal-Retryable": "true"},
        json={"detail": "runner crashed"},
        times=None,
    )
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="something")
        await h.idle()
        content = h.original(interaction).content or ""
        assert "Generation failed" in content and "runner crashed" in content
        assert "may help" in content
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("failed", "refunded")
        assert job.provider_request_id is None


async def test_a_stuck_job_times_out_is_cancelled_at_the_provider_and_refunded(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, hang=True))
    async with running_bot(fake_discord, db_path, generation={"job_timeout_s": 2}) as h:
        interaction = await h.imagine(prompt="forever")
        await h.idle()
        content = h.original(interaction).content or ""
        assert "Generation failed" in content and "longer than the 2 s limit" in content
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("expired", "refunded")
        assert fake_fal.jobs[job.provider_request_id or ""].cancelled


async def test_image_download_failure_is_reported_and_refunded(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1))
    cdn.inject(r".", status=404, times=None)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="lost")
        await h.idle()
        content = h.original(interaction).content or ""
        assert "Generation failed" in content
        assert "HTTP 404" in content
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("failed", "refunded")


async def test_images_over_the_attachment_limit_are_re_encoded_to_fit(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    noisy = cdn.put("noise.png", make_png(400, 400, noise=True))  # ~480 KB, incompressible
    result = {
        "images": [{"url": noisy, "width": 400, "height": 400, "content_type": "image/png"}],
        "seed": 5,
        "has_nsfw_concepts": [False],
    }
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1, result=result))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await fake_discord.send_interaction(
            "imagine",
            [{"name": "prompt", "type": 3, "value": "big"}],
            attachment_size_limit=60_000,
        )
        await h.idle()
        message = h.original(interaction)
        (image,) = assert_valid_images(message, 1)
        assert len(message.attachments[0].data) <= 60_000
        assert image.format == "JPEG"


async def test_model_choices_fit_discords_100_character_limit(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    long_id = "fal-ai/" + "x" * 90  # 97 characters: with " (fal)" its name would be 103
    too_long = "fal-ai/" + "y" * 100  # 107: can't be a choice's value at all
    fal = {"models": ["fal-ai/flux/dev", long_id, too_long]}
    async with running_bot(fake_discord, db_path, providers={"fal": fal}) as h:
        asked = await fake_discord.send_autocomplete(
            "imagine", [{"name": "prompt", "type": 3, "value": "p"}, {**MODEL_OPTION}]
        )
        await h.settled()
        (callback,) = asked.callbacks()
        assert callback.status == 200, callback
        choices = asked.autocomplete_choices or []
        assert [c["value"] for c in choices] == ["fal-ai/flux/dev", long_id]
        assert all(len(c["name"]) <= 100 for c in choices)


MODEL_OPTION = {"name": "model", "type": 3, "value": "", "focused": True}


async def test_a_fixed_seed_on_replicate_flux_turns_go_fast_off_so_it_reproduces(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, ReplicateScript(queue_s=0.1, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        await h.imagine(prompt="seeded", provider="replicate", seed=42)
        await h.imagine(prompt="random", provider="replicate")
        await h.idle()
        inputs = {i["prompt"]: i for _, i, _ in fake_replicate.creates}
        assert inputs["seeded"]["seed"] == 42 and inputs["seeded"]["go_fast"] is False
        assert "go_fast" not in inputs["random"]  # the model's default (fast) stays


async def test_a_negative_prompt_on_a_flux_model_is_refused_not_dropped(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="a harbour", negative_prompt="boats")
        await h.settled()
        (answer,) = interaction.private_answers()
        assert answer == "No model on this bot takes a negative prompt: leave that option empty."
        assert fake_fal.submits == []
        assert await h.job_for(interaction) is None


async def test_imagine_checks_its_request_against_the_schema_once(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before the acknowledgement and reused after it: the schema check is the
    costliest step of an /imagine (issue 14)."""
    import bot.providers.request

    real = bot.providers.request.build_request
    builds = 0

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal builds
        builds += 1
        return real(*args, **kwargs)

    # The cog's module is executed anew when the bot loads it, importing this one.
    monkeypatch.setattr(bot.providers.request, "build_request", counting)
    fake_fal.script(None, Script(queue_s=0.0, run_s=0.1, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="checked once")
        await h.idle()
        assert len(h.original(interaction).attachments) == 1
    assert builds == 1


async def test_in_a_burst_options_are_checked_after_the_acknowledgement_and_still_refused(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord's 3 s are for every command's acknowledgement (issue 14): in a burst the schema
    check moves after it, and a bad option is answered privately all the same."""
    from bot.jobs import journal

    monkeypatch.setattr(journal, "BURST_ACKS", 0)  # every command counts as part of a burst
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="x", model="fal-ai/flux/schnell", guidance=20.5)
        await h.settled()
        callbacks = interaction.callbacks()
        assert [c.json["type"] for c in callbacks] == [5]  # acknowledged first, publicly
        followups = [
            r
            for r in fake_discord.requests
            if r.method == "POST" and r.path.endswith(interaction.token)
        ]
        assert len(followups) == 1
        assert followups[0].json["flags"] & 64
        assert (
            "guidance must be between 1 and 20 for fal-ai/flux/schnell"
            in (followups[0].json["content"])
        )
        original = interaction.original()
        assert original is None or original.deleted  # no public "thinking…" left behind
        assert await h.job_for(interaction) is None
    assert fake_fal.requests == []
