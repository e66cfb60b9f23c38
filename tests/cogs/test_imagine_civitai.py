"""`/imagine` on CivitAI end to end: real discord.py and the bot's aiohttp CivitAI client over
loopback sockets against the fake orchestration API (v2 workflows) and its blob host."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from bot.config import DEFAULT_PROVIDERS
from tests.discord_markdown import render
from tests.fakes.civitai import FakeCivitai, Script
from tests.fakes.discord import FakeDiscord
from tests.harness import running_bot

CHECKPOINT = DEFAULT_PROVIDERS["civitai"].model
QUICK = Script(queue_s=0.1, queue_positions=[0], run_s=0.3)
WORKFLOWS = r"^/v2/consumer/workflows$"


def providers(fake: FakeCivitai, **extra: object) -> dict[str, object]:
    return {"civitai": fake.config(**extra)}


async def test_civitai_shows_queue_position_then_delivers_every_image(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    # Long enough phases that the 1.5 s edit throttle shows each of them.
    fake_civitai.script(Script(queue_s=2.0, queue_positions=[3, 1, 0], run_s=2.0))
    async with running_bot(
        fake_discord,
        db_path,
        providers=providers(fake_civitai),
        generation={"default_provider": "civitai"},
    ) as h:
        interaction = await h.imagine(
            prompt="a watercolour fox",
            negative_prompt="blurry",
            count=2,
            seed=7,
            aspect_ratio="16:9",
            steps=30,
            guidance=5.0,
        )
        await h.idle()

        (submission,) = fake_civitai.submits
        (step,) = submission.body["steps"]
        assert step["$type"] == "textToImage"
        params = step["input"]
        assert params["model"] == CHECKPOINT
        assert params["quantity"] == 2
        assert "additionalNetworks" not in params
        assert params["prompt"] == "a watercolour fox"
        assert params["negativePrompt"] == "blurry"
        assert (params["width"], params["height"]) == (1344, 768)
        assert (params["steps"], params["cfgScale"], params["seed"]) == (30, 5.0, 7)
        assert params["scheduler"] == "eulerA"
        assert submission.query == {"wait": "0"}
        assert submission.headers["Authorization"] == "Bearer civitai-test-token"

        message = h.original(interaction)
        states = [state.get("content") or "" for state in message.history]
        assert any("In civitai's queue: position" in s for s in states), states
        assert any("Generating" in s for s in states), states
        final = message.content or ""
        assert "seed 7" in final and "civitai" in final and CHECKPOINT in final
        assert len(message.attachments) == 2
        for attachment in message.attachments:
            with Image.open(io.BytesIO(attachment.data)) as image:
                image.verify()

        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("done", "committed")
        assert job.provider_request_id == submission.workflow_id
        # Blob URLs expire: the result is read from a fresh poll, right before downloading,
        # from CivitAI's blob host (not the API host, and without the bot's token).
        assert len(fake_civitai.blob_fetches) == 2
        assert all("Authorization" not in r.headers for r in fake_civitai.blobs.requests)


async def test_a_failed_civitai_job_ends_the_message_and_refunds(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.script(
        Script(queue_s=0.1, queue_positions=[0], run_s=0.4, fail="worker ran out of memory")
    )
    async with running_bot(fake_discord, db_path, providers=providers(fake_civitai)) as h:
        interaction = await h.imagine(prompt="too big", provider="civitai", count=3)
        await h.idle()
        content = h.original(interaction).content or ""
        assert "Generation failed" in content
        assert "worker ran out of memory" in content
        assert "may help" in content
        assert "3 images were refunded" in content
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("failed", "refunded")
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0


async def test_a_civitai_workflow_blocked_by_moderation_is_not_worth_retrying(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.script(Script(queue_s=0.1, queue_positions=[0], run_s=0.2, blocked="minor"))
    async with running_bot(fake_discord, db_path, providers=providers(fake_civitai)) as h:
        interaction = await h.imagine(prompt="something unacceptable", provider="civitai")
        await h.idle()
        content = h.original(interaction).content or ""
        assert "Generation failed" in content
        assert "the CivitAI job failed: minor" in content
        assert "will not help" in content
        assert "refunded" in content
        assert fake_civitai.blob_fetches == []
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("failed", "refunded")
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0


async def test_civitai_refusals_and_bad_tokens_fail_at_once_with_the_reason(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.unknown_models.add(CHECKPOINT)
    async with running_bot(fake_discord, db_path, providers=providers(fake_civitai)) as h:
        refused = await h.imagine(prompt="x", provider="civitai")
        await h.idle()
        content = h.original(refused).content or ""
        assert "Generation failed" in content and "is not available" in content
        assert "will not help" in content
        fake_civitai.unknown_models.clear()
        fake_civitai.bad_tokens.add("civitai-test-token")
        unauthorised = await h.imagine(prompt="y", provider="civitai")
        await h.idle()
        shown = render(h.original(unauthorised).content or "").text  # as the member reads it
        assert "refused the bot's API token" in shown and "CIVITAI_API_TOKEN" in shown
        posts = [r for r in fake_civitai.requests if r.method == "POST"]
        assert len(posts) == 2  # neither was retried
        for interaction in (refused, unauthorised):
            job = await h.job_for(interaction)
            assert job is not None and (job.state, job.quota_state) == ("failed", "refunded")
            assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0


async def test_a_civitai_429_is_retried_after_retry_after(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.script(QUICK)
    fake_civitai.inject("POST", WORKFLOWS, status=429, headers={"Retry-After": "1"}, times=1)
    async with running_bot(fake_discord, db_path, providers=providers(fake_civitai)) as h:
        interaction = await h.imagine(prompt="patience", provider="civitai")
        await h.idle()
        posts = [r for r in fake_civitai.requests if r.method == "POST"]
        assert len(posts) == 2
        assert posts[1].time - posts[0].time >= 0.95
        assert len(h.original(interaction).attachments) == 1
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("done", "committed")


async def test_a_stuck_civitai_workflow_is_cancelled_at_the_provider_and_refunded(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.script(Script(queue_s=0.1, queue_positions=[0], hang=True))
    async with running_bot(
        fake_discord,
        db_path,
        providers=providers(fake_civitai),
        generation={"job_timeout_s": 2},
    ) as h:
        interaction = await h.imagine(prompt="forever", provider="civitai", count=2)
        await h.idle()
        content = h.original(interaction).content or ""
        assert "longer than the 2 s limit" in content
        (submission,) = fake_civitai.submits
        assert all(job.canceled_at is not None for job in submission.jobs)
        (cancel,) = [r for r in fake_civitai.requests if r.method == "PUT"]
        assert cancel.path == f"/v2/consumer/workflows/{submission.workflow_id}"
        assert cancel.json == {"status": "canceled"}
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("expired", "refunded")
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0


async def test_a_restart_reattaches_to_the_civitai_workflow_without_submitting_again(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.script(Script(queue_s=0.2, queue_positions=[0], run_s=2.5))
    config = {"providers": providers(fake_civitai)}
    async with running_bot(fake_discord, db_path, **config) as h:
        interaction = await h.imagine(prompt="survive a restart", provider="civitai", count=2)
        submission = await fake_civitai.wait_for_submit()
        async with asyncio.timeout(10):  # until the ledger holds the workflow id
            while True:
                job = await h.job_for(interaction)
                if job is not None and job.provider_request_id == submission.workflow_id:
                    break
                await asyncio.sleep(0.02)
    posts_before = len([r for r in fake_civitai.requests if r.method == "POST"])
    async with running_bot(fake_discord, db_path, **config) as h2:
        await h2.idle()
        assert len(fake_civitai.submits) == 1
        assert len([r for r in fake_civitai.requests if r.method == "POST"]) == posts_before
        message = h2.original(interaction)
        assert len(message.attachments) == 2
        # The seed the bot picked is read back from the workflow, so it survives the restart.
        assert f"seed {submission.input['seed']}" in (message.content or "")
        job = await h2.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("done", "committed")


async def test_options_civitai_cannot_honour_are_refused_naming_a_provider_that_can(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path, providers=providers(fake_civitai)) as h:
        interaction = await h.imagine(prompt="x", provider="civitai", model="fal-ai/flux/dev")
        await h.settled()
        (callback,) = interaction.callbacks()
        assert callback.json["data"]["flags"] & 64
        assert "is a fal model but the provider is civitai" in callback.json["data"]["content"]
        assert fake_civitai.submits == []
        assert await h.job_for(interaction) is None  # refused before anything was written


def opt(name: str, value: object) -> dict[str, object]:
    types = {str: 3, int: 4, float: 10}
    return {"name": name, "type": types[type(value)], "value": value}


async def test_lora_links_become_airs_and_a_lora_for_another_base_model_is_refused(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.script(QUICK)
    fake_civitai.add_model(4201, "Ink Wash", versions=[(9002, "SDXL 1.0"), (9001, "SD 1.5")])
    async with running_bot(fake_discord, db_path, providers=providers(fake_civitai)) as h:
        good = await fake_discord.send_interaction(
            "lora",
            [
                opt("prompt", "a heron"),
                opt("lora", "https://civitai.com/models/4201/ink-wash"),
                opt("scale", 0.7),
                opt("lora2", "urn:air:sdxl:lora:civitai:555@556"),
                opt("provider", "civitai"),
            ],
        )
        await h.idle()
        (submission,) = fake_civitai.submits
        assert submission.input["model"] == CHECKPOINT
        assert submission.input["additionalNetworks"] == {
            "urn:air:sdxl:lora:civitai:4201@9002": {"type": "Lora", "strength": 0.7},
            "urn:air:sdxl:lora:civitai:555@556": {"type": "Lora", "strength": 1.0},
        }
        assert len(h.original(good).attachments) == 1

        old = await fake_discord.send_interaction(
            "lora",
            [
                opt("prompt", "a heron"),
                opt("lora", "https://civitai.com/models/4201?modelVersionId=9001"),
                opt("provider", "civitai"),
            ],
        )
        await h.idle()
        content = h.original(old).content or ""
        assert "Generation failed" in content
        assert "Ink Wash is a LoRA for SD 1.5, but the checkpoint is SDXL" in content
        assert "refunded" in content
        assert len(fake_civitai.submits) == 1  # nothing was sent, no Buzz spent
        job = await h.job_for(old)
        assert job is not None and (job.state, job.quota_state) == ("failed", "refunded")


async def test_parameters_in_the_prompt_reach_the_provider_and_the_prompt_shown_is_clean(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.script(QUICK)
    async with running_bot(
        fake_discord,
        db_path,
        providers=providers(fake_civitai),
        generation={"default_provider": "civitai"},
    ) as h:
        interaction = await h.imagine(prompt="a watercolour fox --ar 3:2 --no text --seed 7")
        await h.idle()
        (submission,) = fake_civitai.submits
        params = submission.body["steps"][0]["input"]
        assert params["prompt"] == "a watercolour fox"
        assert (params["negativePrompt"], params["seed"]) == ("text", 7)
        assert params["width"] > params["height"]  # 3:2
        assert "**a watercolour fox**" in (h.original(interaction).content or "")


async def test_a_bad_parameter_in_the_prompt_is_refused_and_nothing_is_charged(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    async with running_bot(
        fake_discord,
        db_path,
        providers=providers(fake_civitai),
        generation={"default_provider": "civitai"},
    ) as h:
        interaction = await h.imagine(prompt="a fox --ar 7:5")
        await h.settled()
        (said,) = [c.json["data"]["content"] for c in interaction.callbacks()]
        assert said.startswith("--ar 7:5 is not supported; choose one of")
        assert fake_civitai.submits == []
        assert (await h.bot.jobs.usage(4000)).used == 0
