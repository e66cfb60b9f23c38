"""How Replicate predictions end beyond success: safety-filter drops and `aborted` predictions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from db.reservation import month_start
from tests.fakes.discord import FakeDiscord
from tests.fakes.replicate import ALL_NSFW, FakeReplicate, Script
from tests.harness import running_bot

QUICK = {"queue_s": 0, "run_s": 0.2, "steps": 1}


async def test_images_withheld_by_replicates_safety_filter_are_not_charged_and_the_member_is_told(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, Script(**QUICK, drop=1))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="a lighthouse", count=4, provider="replicate")
        await h.idle()
        assert fake_replicate.creates[0][1]["num_outputs"] == 4
        message = h.original(interaction)
        assert len(message.attachments) == 3
        assert "1 of 4 images was withheld by Replicate's safety filter" in (message.content or "")
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("done", "committed")
        assert (job.withheld_images, job.refunded_images) == (1, 1)
        assert await h.bot.db.jobs.quota_used(4000, job.quota_day) == 3
        assert job.cost == pytest.approx(3 * 0.025)
        assert await h.bot.db.jobs.guild_spend(
            job.guild_id, month_start(time.time())
        ) == pytest.approx(3 * 0.025)


async def test_a_replicate_job_whose_every_image_is_withheld_fails_and_is_refunded(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, Script(**QUICK, drop=2))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="a lighthouse", count=2, provider="replicate")
        await h.idle()
        content = h.original(interaction).content or ""
        assert "Replicate's safety filter withheld all 2 images" in content
        assert "change the prompt" in content
        assert "2 images were refunded" in content
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state, job.error_retryable) == ("failed", "refunded", False)
        assert ALL_NSFW.split(".")[0] in (job.error or "")
        assert await h.bot.db.jobs.quota_used(4000, job.quota_day) == 0
        assert await h.bot.db.jobs.guild_spend(job.guild_id, month_start(time.time())) == 0


async def test_an_aborted_replicate_prediction_ends_at_once_refunded_with_a_clear_message(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, Script(queue_s=0.3, abort=True))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="a lighthouse", count=2, provider="replicate")
        await h.idle()
        (prediction,) = fake_replicate.predictions.values()
        assert fake_replicate.prediction_json(prediction, 1e12)["status"] == "aborted"
        content = h.original(interaction).content or ""
        assert "Replicate aborted the prediction before it started" in content
        assert "Trying again in a little while may help" in content
        assert "2 images were refunded" in content
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state, job.error_retryable) == ("failed", "refunded", True)
        assert await h.bot.db.jobs.quota_used(4000, job.quota_day) == 0
        # It ended on the status that said so, not after retrying an unreadable one.
        ended = fake_replicate.completed_at(prediction.id)
        assert ended is not None
        reads = [r for r in fake_replicate.requests if r.method == "GET" and r.time >= ended]
        assert len(reads) <= 1
