"""A prompt's masked links, mentions and markdown are shown as text in every state of its job's
message: waiting, queued and running progress, the result, the failure and the cancel notice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cogs.test_jobs import progress_message_with_button
from tests.discord_markdown import render
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.fakes.fal import FakeFal, Script, validation_failure
from tests.harness import running_bot

PROMPT = (
    "[Claim free Nitro](https://evil.example/login) for <@123456789012345678> "
    "and <@&987654321098765432> @everyone <t:1700000000:R> **loud**"
)


def assert_shown_as_text(fake: FakeDiscord, message: FakeMessage) -> list[str]:
    """Every state the message went through shows the prompt as plain text; returns them."""
    states = [s["content"] for s in message.history if s.get("content")]  # not "thinking…"
    assert states
    for content in states:
        shown = render(content)
        assert all(text == target for text, target in shown.links), content  # no masked link
        assert not any(
            "123456789012345678" in m or "987654321098765432" in m or "everyone" in m
            for m in shown.mentions
        ), content
        assert "<t:1700000000:R>" not in shown.mentions, content
        assert PROMPT in shown.text, content
    edits = [r for r in fake.requests if r.method == "PATCH" and r.json and "content" in r.json]
    for edit in edits:  # and nothing could ping even if it were not escaped
        assert "everyone" not in (edit.json.get("allowed_mentions") or {}).get("parse", [])
    return states


async def test_a_prompts_links_and_mentions_stay_text_in_progress_and_result(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=2.0, queue_positions=[1, 0], run_s=2.2, steps=4))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt=PROMPT)
        await h.idle()
        message = h.original(interaction)
        states = assert_shown_as_text(fake_discord, message)
        assert any("queue" in s for s in states[:-1]), states
        assert any("Generating" in s for s in states[:-1]), states
        assert message.attachments  # the result itself
        assert fake_fal.submits[0][1]["prompt"] == PROMPT  # the provider gets it unchanged
        job = await h.job_for(interaction)
        assert job is not None and job.state == "done"


async def test_a_prompts_links_and_mentions_stay_text_in_the_failure_notice(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(
        None, Script(queue_s=0.1, run_s=0.2, fail=validation_failure("prompt", "not allowed"))
    )
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt=PROMPT)
        await h.idle()
        message = h.original(interaction)
        states = assert_shown_as_text(fake_discord, message)
        assert "Generation failed" in states[-1]
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("failed", "refunded")


async def test_a_providers_reason_quoting_the_prompt_stays_text_in_the_failure_notice(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(
        None,
        Script(queue_s=0.1, run_s=0.2, fail=validation_failure("prompt", f"refused: {PROMPT}")),
    )
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="a quiet lake")
        await h.idle()
        final = render(h.original(interaction).content or "")
        assert f"refused: {PROMPT}" in final.text
        assert all(text == target for text, target in final.links), final.links
        assert not any("123456789012345678" in m or "everyone" in m for m in final.mentions)


@pytest.mark.parametrize("phase", ["waiting", "running"])
async def test_a_prompts_links_and_mentions_stay_text_in_the_cancel_notice(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, phase: str
) -> None:
    fake_fal.script(None, Script(queue_s=0.2, queue_positions=[0], run_s=30.0, steps=10))
    async with running_bot(fake_discord, db_path, generation={"max_jobs_per_user": 1}) as h:
        if phase == "waiting":  # a first job holds the member's only slot
            first = await h.imagine(prompt="first")
            await fake_fal.wait_for_submit()
        interaction = await h.imagine(prompt=PROMPT)
        if phase == "running":
            await fake_fal.wait_for_submit()
        message = await progress_message_with_button(h, interaction)
        job = await h.job_for(interaction)
        assert job is not None
        await fake_discord.send_component(message, f"af:cancel:{job.id}", user_id=4000)
        async with asyncio.timeout(10):
            while (ended := await h.job_for(interaction)) is None or not ended.is_final:
                await asyncio.sleep(0.05)
        states = assert_shown_as_text(fake_discord, h.original(interaction))
        assert "Cancelled by <@4000>" in states[-1]
        if phase == "waiting":
            assert any("Waiting for a free slot" in s for s in states), states
            first_job = await h.job_for(first)
            assert first_job is not None
            await h.bot.runner.cancel(first_job.id, 4000)
