"""The ❌ Cancel button on progress messages (a DynamicItem read from the ledger)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

SLOW = Script(queue_s=0.2, queue_positions=[0], run_s=30.0, steps=10)


async def progress_message_with_button(h: Harness, interaction: Interaction) -> FakeMessage:
    async with asyncio.timeout(10):
        while True:
            message = interaction.original()
            if message is not None and message.components:
                return message
            await asyncio.sleep(0.05)


def button(job_id: int) -> list[dict[str, object]]:
    return [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 2, "label": "Cancel", "custom_id": f"af:cancel:{job_id}"}
            ],
        }
    ]


def custom_ids(message: FakeMessage) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row.get("components", [])]


async def test_the_requester_cancels_at_the_provider_and_is_refunded(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, SLOW)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="never mind", count=3)
        job_fal = await fake_fal.wait_for_submit()
        message = await progress_message_with_button(h, interaction)
        job = await h.job_for(interaction)
        assert job is not None
        assert custom_ids(message) == [f"af:cancel:{job.id}"]

        click = await fake_discord.send_component(message, f"af:cancel:{job.id}", user_id=4000)
        await h.idle()
        assert [c.json["type"] for c in click.callbacks()] == [6]  # deferred update
        assert job_fal.cancelled
        final = h.original(interaction)
        assert "Cancelled by <@4000>" in (final.content or "")
        assert "3 images were refunded" in (final.content or "")
        assert final.components == []  # the button is gone
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state, job.cancelled_by) == ("cancelled", "refunded", 4000)


async def test_others_are_refused_but_moderators_may_cancel(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, SLOW)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="mine", user_id=4000)
        await fake_fal.wait_for_submit()
        message = await progress_message_with_button(h, interaction)
        job = await h.job_for(interaction)
        assert job is not None

        stranger = await fake_discord.send_component(
            message, f"af:cancel:{job.id}", user_id=5000, permissions="0"
        )
        await h.settled()
        (answer,) = stranger.private_answers()
        assert "Only the member who started this job" in answer
        still = await h.job_for(interaction)
        assert still is not None and still.state in ("submitted", "running")

        moderator = await fake_discord.send_component(
            message, f"af:cancel:{job.id}", user_id=6000
        )  # default member permissions include Manage Messages
        await h.idle()
        assert [c.json["type"] for c in moderator.callbacks()] == [6]
        ended = await h.job_for(interaction)
        assert ended is not None and (ended.state, ended.cancelled_by) == ("cancelled", 6000)


async def test_forged_or_stale_buttons_get_a_clear_answer(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="done already")
        await h.idle()
        message = h.original(interaction)
        job = await h.job_for(interaction)
        assert job is not None and job.state == "done"

        # A client still showing the old button, and a payload forged with a made-up job id.
        late = await fake_discord.send_component(
            message, f"af:cancel:{job.id}", message_overrides={"components": button(job.id)}
        )
        forged = await fake_discord.send_component(
            message, "af:cancel:999999", message_overrides={"components": button(999999)}
        )
        await h.settled()
        late_answer = [r for r in fake_discord.requests if late.token in r.path]
        assert any("already finished" in ((r.json or {}).get("content") or "") for r in late_answer)
        (forged_answer,) = forged.private_answers()
        assert "does not belong to a job here" in forged_answer
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("done", "committed")


async def test_a_job_waiting_for_a_slot_is_cancelled_without_reaching_the_provider(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, SLOW)
    async with running_bot(fake_discord, db_path, generation={"max_jobs_per_user": 1}) as h:
        first = await h.imagine(prompt="first")
        await fake_fal.wait_for_submit()
        second = await h.imagine(prompt="second")
        message = await progress_message_with_button(h, second)
        assert "#1 in this bot's queue" in (message.content or "")
        job = await h.job_for(second)
        assert job is not None
        await fake_discord.send_component(message, f"af:cancel:{job.id}")
        async with asyncio.timeout(10):
            while (await h.job_for(second)).state != "cancelled":  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
        assert len(fake_fal.submits) == 1
        first_job = await h.job_for(first)
        assert first_job is not None
        await h.bot.runner.cancel(first_job.id, 4000)
        await h.idle()
