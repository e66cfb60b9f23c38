"""Discord failing while a job's final message is posted: retried, posted once, never lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.delivery import posting
from tests.fakes.discord import FakeDiscord, FakeMessage, RecordedRequest
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0.1, queue_positions=[0], run_s=0.3, steps=2)
EDIT = r"^/webhooks/\d+/[^/]+/messages/\d+$"
CHANNEL_POST = r"^/channels/\d+/messages$"
ALWAYS = 10**6


def uploads(rec: RecordedRequest) -> bool:
    """The final result's request: the only one that uploads files."""
    return bool(rec.files)


def failure_notice(rec: RecordedRequest) -> bool:
    return isinstance(rec.json, dict) and "Generation failed" in str(rec.json.get("content"))


def with_images(fake: FakeDiscord) -> list[FakeMessage]:
    return [m for m in fake.messages.values() if m.attachments and not m.deleted]


async def assert_charged_once(h: Harness, job_id: int) -> None:
    job = await h.bot.db.jobs.get(job_id)
    assert job is not None
    assert (job.state, job.quota_state) == ("done", "committed")
    assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == job.image_count


async def test_502s_on_the_final_edit_are_retried_and_the_result_is_posted_once(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_discord.inject("PATCH", EDIT, status=502, times=5, when=uploads)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="through the storm")
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None
        (posted,) = with_images(fake_discord)
        assert posted.id == job.result_message_id
        assert f"job #{job.id}" in (posted.content or "")
        how = (job.result_json or {}).get("delivered_by")
        assert how == ("edit" if posted.id == interaction.original_message_id else "channel")
        assert len([r for r in fake_discord.requests if r.files]) >= 6  # 5 × 502, then posted
        await assert_charged_once(h, job.id)


async def test_when_the_result_goes_to_a_reply_the_original_points_to_it(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_discord.inject("PATCH", EDIT, status=502, times=ALWAYS, when=uploads)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="sent elsewhere")
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None and (job.result_json or {}).get("delivered_by") == "channel"
        (posted,) = with_images(fake_discord)
        original = h.original(interaction)
        assert original.content == f"⬇️ Posted in a reply: {posted_link(fake_discord, posted)}"
        assert original.components == []  # no Cancel button left on a finished job
        await assert_charged_once(h, job.id)


def posted_link(fake: FakeDiscord, message: FakeMessage) -> str:
    return f"https://discord.com/channels/{fake.guild_id}/{message.channel_id}/{message.id}"


async def test_an_edit_discord_applied_but_answered_502_is_not_posted_again(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_discord.inject("PATCH", EDIT, status=502, times=ALWAYS, applied=True, when=uploads)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="it did land")
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None
        (posted,) = with_images(fake_discord)  # no channel reply with the images again
        assert posted is h.original(interaction)
        assert f"job #{job.id}" in (posted.content or "")
        assert (job.result_json or {}).get("delivered_by") == "edit"
        await assert_charged_once(h, job.id)


async def test_a_channel_reply_discord_created_but_answered_502_is_not_posted_twice(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, queue_positions=[0], run_s=1.0, steps=2))
    async with running_bot(fake_discord, db_path, generation={"retry_attempts": 8}) as h:
        interaction = await h.imagine(prompt="said twice")
        await fake_fal.wait_for_submit()
        fake_discord.clock_offset = 16 * 60  # the token expired: the result goes to the channel
        fake_discord.inject("POST", CHANNEL_POST, status=502, times=6, applied=True)
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None
        (posted,) = with_images(fake_discord)
        assert posted.interaction_token is None and posted.id == job.result_message_id
        assert (job.result_json or {}).get("delivered_by") == "channel"
        posts = [r for r in fake_discord.requests if r.route.startswith("POST /channels/")]
        assert len(posts) == 7  # every try reached Discord; its nonce made them one message
        await assert_charged_once(h, job.id)


async def test_a_final_edit_that_hangs_is_abandoned_and_sent_again(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(posting, "ATTEMPT_TIMEOUT_S", 1.0)
    fake_fal.script(None, QUICK)
    fake_discord.inject("PATCH", EDIT, status=200, delay=60, times=1, when=uploads)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="no answer")
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None
        (posted,) = with_images(fake_discord)
        assert posted is h.original(interaction)
        assert len([r for r in fake_discord.requests if r.files]) == 2
        await assert_charged_once(h, job.id)


async def test_when_every_delivery_path_fails_the_job_fails_refunded_and_the_member_is_told(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_discord.inject("PATCH", EDIT, status=502, times=ALWAYS)
    fake_discord.inject("POST", CHANNEL_POST, status=502, times=ALWAYS)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="nowhere to go", count=2)
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("failed", "refunded")
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0
        assert with_images(fake_discord) == []
        # The one path Discord still served: a follow-up (the first one after a deferred
        # response fills in its "thinking…" message, which no progress edit reached).
        (follow_up,) = [r for r in fake_discord.requests if r.route.startswith("POST /webhooks/")]
        assert follow_up.status == 200
        (told,) = [
            m
            for m in (h.original(interaction), *interaction.followups())
            if "Generation failed" in (m.content or "")
        ]
        text = told.content or ""
        assert text.startswith(f"<@{job.user_id}>") and "Generation failed" in text
        assert "could not post the result" in text and "Discord answered HTTP 502" in text
        assert "2 images were refunded" in text
        assert len(fake_fal.submits) == 1


async def test_a_failure_notice_survives_502s(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.inject(
        "POST",
        r"^/fal-ai/flux",
        status=422,
        json={"detail": [{"loc": ["body", "prompt"], "msg": "too spicy", "type": "x"}]},
    )
    fake_discord.inject("PATCH", EDIT, status=502, times=5, when=failure_notice)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="bad")
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("failed", "refunded")
        shown = [
            m
            for m in fake_discord.messages.values()
            if "Generation failed" in (m.content or "") and "too spicy" in (m.content or "")
        ]
        assert len(shown) == 1  # the original edited, or one reply in the channel
        assert len([r for r in fake_discord.requests if failure_notice(r)]) >= 6
