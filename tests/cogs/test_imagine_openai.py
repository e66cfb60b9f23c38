"""`/imagine` on an OpenAI-compatible images API end to end: real discord.py and the real
`openai` SDK over loopback sockets against the fake images server."""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path
from typing import Any

from PIL import Image

from tests.discord_markdown import render
from tests.fakes.cdn import FakeCDN
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.fakes.openai_images import FakeOpenAIImages
from tests.harness import Harness, running_bot


def providers(fake: FakeOpenAIImages, **extra: Any) -> dict[str, Any]:
    return {"providers": {"openai": fake.config(**extra)}}


def assert_images(message: FakeMessage, count: int) -> None:
    assert len(message.attachments) == count
    for attachment in message.attachments:
        with Image.open(io.BytesIO(attachment.data)) as image:
            image.verify()


def private_answer(interaction: Interaction) -> str:
    (callback,) = interaction.callbacks()
    assert callback.json["type"] == 4 and callback.json["data"]["flags"] & 64
    return str(callback.json["data"]["content"])


async def test_gpt_image_b64_results_reach_discord_and_progress_says_there_is_none(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    fake_openai.run_s = 2.5
    async with running_bot(fake_discord, db_path, **providers(fake_openai)) as h:
        interaction = await h.imagine(
            prompt="a paper boat", provider="openai", count=2, aspect_ratio="3:2"
        )
        await h.idle()

        (generation,) = fake_openai.generations
        assert generation.body == {
            "model": "gpt-image-1.5",
            "prompt": "a paper boat",
            "n": 2,
            "size": "1536x1024",
        }
        assert generation.headers["Authorization"] == "Bearer sk-test-key"
        assert generation.headers["x-stainless-retry-count"] == "0"
        assert all("b64_json" in item for item in generation.images)

        message = h.original(interaction)
        states = [state.get("content") or "" for state in message.history]
        running = [s for s in states if "Generating" in s]
        assert running, states
        assert all("reports no progress" in s and "so far" in s for s in running)
        assert_images(message, 2)
        final = message.content or ""
        assert "openai" in final and "gpt-image-1.5" in final

        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("done", "committed")
        stored = (job.result_json or {})["images"]
        assert stored == ["data:image/png;base64,…"] * 2  # not megabytes of base64


async def test_dall_e_3_draws_one_image_per_call_so_a_job_is_split(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, cdn: FakeCDN, db_path: Path
) -> None:
    config = providers(fake_openai, model="dall-e-3", models=["dall-e-3"])
    async with running_bot(fake_discord, db_path, **config) as h:
        interaction = await h.imagine(
            prompt="a lighthouse", provider="openai", count=3, aspect_ratio="16:9"
        )
        await h.idle()
        assert len(fake_openai.generations) == 3
        for generation in fake_openai.generations:
            assert generation.body == {
                "model": "dall-e-3",
                "prompt": "a lighthouse",
                "n": 1,
                "size": "1792x1024",
                "response_format": "url",
            }
        starts = sorted(g.started_at for g in fake_openai.generations)
        assert starts[-1] - starts[0] < fake_openai.run_s  # concurrently, not one by one
        assert_images(h.original(interaction), 3)
        assert len([p for _, p, _ in cdn.requests if p.startswith("/oai/")]) == 3


async def test_sizes_and_options_the_model_lacks_are_refused_naming_a_provider_that_has_them(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path, **providers(fake_openai)) as h:
        wide = await h.imagine(prompt="x", provider="openai", aspect_ratio="21:9")
        sixteen = await h.imagine(prompt="x", provider="openai", aspect_ratio="16:9")
        seeded = await h.imagine(prompt="x", provider="openai", seed=3)
        negative = await h.imagine(prompt="x", provider="openai", negative_prompt="dogs")
        await h.settled()
        assert private_answer(wide) == (
            "openai can't do aspect ratio 21:9 on this bot (with gpt-image-1.5 it offers 1:1, "
            "3:2, 2:3); fal can: pick provider fal."
        )
        assert "openai can't do aspect ratio 16:9" in private_answer(sixteen)
        assert "fal can: pick provider fal" in private_answer(sixteen)
        assert private_answer(seeded) == (
            "openai can't do a fixed seed on this bot; fal can: pick provider fal."
        )
        assert "No model on this bot takes a negative prompt" in private_answer(negative)
        for interaction in (wide, sixteen, seeded, negative):
            assert await h.job_for(interaction) is None
        assert fake_openai.requests == []


async def test_a_content_policy_refusal_fails_at_once_and_refunds(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path, **providers(fake_openai)) as h:
        interaction = await h.imagine(prompt="something forbidden", provider="openai", count=2)
        await h.idle()
        content = h.original(interaction).content or ""
        assert "Generation failed" in content
        assert "rejected as a result of our safety system" in content
        assert "will not help" in content
        assert "2 images were refunded" in content
        assert len(fake_openai.posts) == 1
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("failed", "refunded")
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0


async def test_rate_limits_and_server_errors_are_retried_by_the_bots_policy(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    fake_openai.inject(
        "POST",
        r"/images/generations$",
        status=429,
        headers={"Retry-After": "1"},
        json={
            "error": {
                "message": "Rate limit reached for images per minute.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
    )
    fake_openai.inject("POST", r"/images/generations$", status=500)
    async with running_bot(fake_discord, db_path, **providers(fake_openai)) as h:
        interaction = await h.imagine(prompt="third time lucky", provider="openai")
        await h.idle()
        posts = fake_openai.posts
        assert len(posts) == 3
        assert posts[1].time - posts[0].time >= 0.95  # Retry-After honoured
        assert len(fake_openai.generations) == 1
        assert_images(h.original(interaction), 1)


async def test_an_empty_account_and_a_wrong_key_fail_with_a_clear_reason(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    fake_openai.inject(
        "POST",
        r"/images/generations$",
        status=429,
        json={
            "error": {
                "message": "You exceeded your current quota.",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        },
    )
    async with running_bot(fake_discord, db_path, **providers(fake_openai)) as h:
        broke = await h.imagine(prompt="a", provider="openai")
        await h.idle()
        assert "out of credit" in (h.original(broke).content or "")
        fake_openai.keys.clear()
        refused = await h.imagine(prompt="b", provider="openai")
        await h.idle()
        shown = render(h.original(refused).content or "").text  # as the member reads it
        assert "refused the bot's key" in shown and "OPENAI_API_KEY" in shown
        assert len(fake_openai.posts) == 2  # neither was retried


async def _submitted(h: Harness, interaction: Interaction) -> bool:
    job = await h.job_for(interaction)
    return job is not None and job.provider_request_id is not None


async def test_a_restart_mid_call_ends_the_job_with_a_refund_instead_of_hanging(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    fake_openai.run_s = 5.0
    config = providers(fake_openai)
    async with running_bot(fake_discord, db_path, **config) as h:
        interaction = await h.imagine(prompt="lost in a restart", provider="openai", count=2)
        async with asyncio.timeout(5):  # the call is under way and the ledger says so
            while not fake_openai.generations or not await _submitted(h, interaction):
                await asyncio.sleep(0.05)
    async with running_bot(fake_discord, db_path, **config) as h2:
        await h2.idle(timeout=5)
        content = h2.original(interaction).content or ""
        assert "Generation failed" in content
        assert "cannot be picked up again after a restart" in content
        assert "2 images were refunded" in content
        assert "may help" in content
        job = await h2.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("failed", "refunded")
        assert len(fake_openai.generations) == 1  # never sent again


async def test_a_call_that_never_answers_times_out_and_is_refunded(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    fake_openai.hang_calls = True
    async with running_bot(
        fake_discord, db_path, generation={"job_timeout_s": 2}, **providers(fake_openai)
    ) as h:
        interaction = await h.imagine(prompt="forever", provider="openai")
        await h.idle()
        content = h.original(interaction).content or ""
        assert "longer than the 2 s limit" in content
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("expired", "refunded")
        assert len(fake_openai.posts) == 1


async def test_a_down_images_api_moves_the_job_to_a_fallback_provider(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1))
    fallback = {"fallback_providers": ["fal"], "retry_attempts": 2, "retry_base_delay_s": 0.05}
    # The proxy answers, but its upstream is down (what LiteLLM says with no healthy deployment).
    fake_openai.inject("POST", r"/images/generations$", status=503, times=None)
    async with running_bot(
        fake_discord, db_path, generation=fallback, **providers(fake_openai)
    ) as h:
        unhealthy = await h.imagine(prompt="a lighthouse", provider="openai")
        await h.idle()
        assert len(fake_openai.posts) == 2  # both attempts, then the fallback
        message = h.original(unhealthy)
        assert "fallback: openai was down" in (message.content or "")
        assert len(message.attachments) == 1
        job = await h.job_for(unhealthy)
        assert job is not None
        assert (job.provider, job.fallback_from, job.state) == ("fal", "openai", "done")
        assert await h.bot.db.jobs.quota_used(4000, job.quota_day) == 1

    with socket.socket() as closed:  # nobody listens there: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    unreachable = {
        "providers": {"openai": fake_openai.config(base_url=f"http://127.0.0.1:{port}/v1")}
    }
    async with running_bot(fake_discord, db_path, generation=fallback, **unreachable) as h:
        refused = await h.imagine(prompt="a harbour", provider="openai")
        await h.idle()
        job = await h.job_for(refused)
        assert job is not None
        assert (job.provider, job.fallback_from, job.state) == ("fal", "openai", "done")
        assert "fallback: openai was down" in (h.original(refused).content or "")
    assert [app for app, _, _ in fake_fal.submits] == ["fal-ai/flux/dev", "fal-ai/flux/dev"]


async def test_a_gpt_image_model_under_another_name_gets_the_gpt_image_sizes(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    # A LiteLLM proxy names it "openai/gpt-image-1.5"; OpenAI's own alias is
    # "chatgpt-image-latest". Both draw GPT image sizes, not the retired DALL·E ones.
    from tests.fakes.openai_images import GPT_IMAGE

    fake_openai.models["openai/gpt-image-1.5"] = GPT_IMAGE
    fake_openai.models["chatgpt-image-latest"] = GPT_IMAGE
    extra = {"model": "openai/gpt-image-1.5", "models": ["chatgpt-image-latest"]}
    async with running_bot(fake_discord, db_path, **providers(fake_openai, **extra)) as h:
        for model in ("openai/gpt-image-1.5", "chatgpt-image-latest"):
            await h.imagine(prompt="a boat", provider="openai", model=model, aspect_ratio="2:3")
        await h.idle()
        sizes = {(g.body["model"], g.body["size"]) for g in fake_openai.generations}
        assert sizes == {
            ("openai/gpt-image-1.5", "1024x1536"),
            ("chatgpt-image-latest", "1024x1536"),
        }
        assert all("response_format" not in g.body for g in fake_openai.generations)
