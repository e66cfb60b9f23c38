"""The durable job runner end to end: faults, retries, fallback, restarts, Discord trouble."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.jobs import execution, outputs
from tests.fakes.cdn import FakeCDN
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import running_bot

QUICK = Script(queue_s=0.1, queue_positions=[0], run_s=0.3, steps=2)


async def test_retryable_500s_on_submit_are_retried_then_delivered(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_fal.inject(
        "POST",
        r"^/fal-ai/flux",
        status=500,
        times=2,
        headers={"X-Fal-Retryable": "true"},
        json={"detail": "runner unavailable"},
    )
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="third time lucky")
        await h.idle()
        posts = [r for r in fake_fal.requests if r.method == "POST"]
        assert len(posts) == 3
        assert len(fake_fal.submits) == 1  # only the third reached the queue
        message = h.original(interaction)
        assert len(message.attachments) == 1
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state, job.attempts) == ("done", "committed", 3)


async def test_replicate_429_on_create_is_retried_after_retry_after(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, ReplicateScript(queue_s=0.1, run_s=0.3, steps=2))
    fake_replicate.inject(
        "POST",
        r"/predictions$",
        status=429,
        headers={"Retry-After": "1"},
        json={"title": "Too Many Requests", "detail": "slow down", "status": 429},
    )
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="patience", provider="replicate")
        await h.idle()
        posts = [r for r in fake_replicate.requests if r.method == "POST"]
        assert len(posts) == 2
        assert posts[1].time - posts[0].time >= 0.95  # waited as told, not the 0.05 s backoff
        assert len(h.original(interaction).attachments) == 1
        assert len(fake_replicate.creates) == 1


async def test_a_down_provider_falls_back_and_the_message_says_so(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
) -> None:
    fake_fal.inject("POST", r"^/fal-ai/flux", status=503, times=None, json={"detail": "down"})
    fake_replicate.script(None, ReplicateScript(queue_s=0.1, run_s=2.0, steps=2))
    async with running_bot(
        fake_discord,
        db_path,
        generation={"fallback_providers": ["replicate"], "retry_attempts": 2},
    ) as h:
        interaction = await h.imagine(prompt="fallback please", count=2)
        await h.idle()
        assert fake_fal.submits == []
        (model, inputs, _) = fake_replicate.creates[0]
        assert model == "black-forest-labs/flux-dev" and inputs["num_outputs"] == 2
        message = h.original(interaction)
        states = [s.get("content") or "" for s in message.history]
        assert any("fal is not answering" in s and "moved to replicate" in s for s in states)
        assert "fallback: fal was down" in (message.content or "")
        assert len(message.attachments) == 2
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.provider, job.fallback_from, job.state) == ("replicate", "fal", "done")


async def test_bad_input_does_not_fall_back(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_fal.inject(
        "POST",
        r"^/fal-ai/flux",
        status=422,
        json={"detail": [{"loc": ["body", "prompt"], "msg": "too spicy", "type": "x"}]},
    )
    async with running_bot(
        fake_discord, db_path, generation={"fallback_providers": ["replicate"]}
    ) as h:
        interaction = await h.imagine(prompt="bad")
        await h.idle()
        assert fake_replicate.creates == []
        content = h.original(interaction).content or ""
        assert "prompt: too spicy" in content and "will not help" in content
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("failed", "refunded")


async def test_discord_429s_on_edits_are_respected_and_the_final_edit_lands(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=1.0, queue_positions=[3, 2, 1, 0], run_s=3.0, steps=6))
    route = "PATCH /webhooks/{id}/{token}/messages/{mid}"
    fake_discord.rate_limits[route] = (2, 4.0)  # tighter than the 1.5 s progress throttle
    fake_discord.inject("PATCH", r"/messages/", status=429, times=1)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="rate limited", count=1)
        await h.idle(timeout=40)
        message = h.original(interaction)
        assert len(message.attachments) == 1
        assert "job #" in (message.content or "")
        # Only the one injected 429: after it, discord.py waits on the bucket headers instead
        # of sending requests beyond the limit.
        assert fake_discord.rate_limited_count == 1


async def test_expired_interaction_token_falls_back_to_a_channel_reply(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, queue_positions=[0], run_s=1.0, steps=2))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="slow one")
        await fake_fal.wait_for_submit()
        fake_discord.clock_offset = 16 * 60  # the token is now older than 15 minutes
        await h.idle()
        replies = [m for m in fake_discord.channel_messages() if m.interaction_token is None]
        assert len(replies) == 1
        reply = replies[0]
        assert reply.content and reply.content.startswith(f"<@{4000}>")
        assert len(reply.attachments) == 1
        job = await h.job_for(interaction)
        assert job is not None and job.state == "done"
        assert (job.result_json or {}).get("delivered_by") == "channel"


async def test_a_deleted_channel_ends_the_job_as_failed_and_refunds(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, queue_positions=[0], run_s=1.0, steps=2))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="into the void", count=2)
        await fake_fal.wait_for_submit()
        fake_discord.deleted_channels.add(fake_discord.channel_id)
        h.original(interaction).deleted = True
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("failed", "refunded")
        assert "could not post the result" in (job.error or "")
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0


async def test_a_graceful_restart_resumes_the_job_without_submitting_again(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.2, queue_positions=[0], run_s=2.5, steps=4))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="survive a restart", count=2)
        await fake_fal.wait_for_submit()
        await asyncio.sleep(0.5)
    # The bot is gone mid-job; a new process opens the same ledger.
    async with running_bot(fake_discord, db_path) as h2:
        await h2.idle()
        assert len(fake_fal.submits) == 1
        message = h2.original(interaction)
        assert len(message.attachments) == 2
        finals = [r for r in fake_discord.requests if r.files and interaction.token in r.path]
        assert len(finals) == 1  # delivered once
        job = await h2.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state) == ("done", "committed")
        assert await h2.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 2


async def test_a_submit_cut_off_by_a_restart_is_not_sent_twice(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.inject("POST", r"^/fal-ai/flux", hang=True, times=1)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="in flight", count=1)
        async with asyncio.timeout(10):
            while not any(r.method == "POST" for r in fake_fal.requests):
                await asyncio.sleep(0.02)
        job = await h.job_for(interaction)
        assert job is not None and job.submit_pending is True
    async with running_bot(fake_discord, db_path) as h2:
        await h2.idle()
        assert len([r for r in fake_fal.requests if r.method == "POST"]) == 1
        job = await h2.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state, job.submit_pending) == ("failed", "refunded", False)
        content = h2.original(interaction).content or ""
        assert "restarted while sending this job to fal" in content
        assert "not charged twice" in content


async def test_submits_to_one_provider_take_turns(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most SUBMITS_PER_PROVIDER submits are in flight to one provider at once; a job
    waiting for its turn is not marked as being sent, and every job is delivered."""
    monkeypatch.setattr(execution, "SUBMITS_PER_PROVIDER", 2)
    fake_fal.script(None, QUICK)
    fake_fal.inject("POST", r"^/fal-ai/flux", delay=2.0, times=2)  # the first two are slow

    def posts() -> list[float]:
        return [r.time for r in fake_fal.requests if r.method == "POST"]

    async with running_bot(fake_discord, db_path) as h:
        interactions = [await h.imagine(prompt=f"turn {i}", user_id=4000 + i) for i in range(3)]
        async with asyncio.timeout(10):
            while len(posts()) < 2:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert len(posts()) == 2  # the third job waits for a turn...
        jobs = [await h.job_for(i) for i in interactions]
        waiting = [j for j in jobs if j is not None and j.provider_request_id is None]
        assert sorted(j.submit_pending for j in waiting) == [False, True, True]  # ...unmarked
        await h.idle()
        times = posts()
        assert len(times) == 3
        assert times[2] - times[0] >= 1.9  # sent once a turn was free
        for interaction in interactions:
            assert len(h.original(interaction).attachments) == 1


async def test_a_gateway_disconnect_mid_job_does_not_affect_the_job(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, queue_positions=[0], run_s=2.0, steps=4))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="storm on the wire")
        await fake_fal.wait_for_submit()
        await fake_discord.disconnect_gateway()
        await h.idle()
        assert fake_discord.resume_count >= 1  # the client came back on its own
        assert len(h.original(interaction).attachments) == 1
        job = await h.job_for(interaction)
        assert job is not None and job.state == "done"
        assert len(fake_fal.submits) == 1


async def test_no_more_than_deliveries_at_once_jobs_hold_their_images(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of jobs finishing together would each hold their downloaded images at once
    (issue 14: ~800 MB for 1,500); the others wait with theirs still at the provider."""
    monkeypatch.setattr(execution, "DELIVERIES_AT_ONCE", 2)
    real = outputs.download_images
    holding = 0
    most = 0

    async def slow_download(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal holding, most
        holding += 1
        most = max(most, holding)
        await asyncio.sleep(0.1)
        return await real(*args, **kwargs)

    real_deliver = execution.Settlement.deliver

    async def deliver(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal holding
        try:
            return await real_deliver(self, *args, **kwargs)
        finally:
            holding -= 1

    monkeypatch.setattr(outputs, "download_images", slow_download)
    monkeypatch.setattr(execution.Settlement, "deliver", deliver)
    fake_fal.script(None, Script(queue_s=0.0, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        interactions = [await h.imagine(prompt=f"at once {n}", user_id=5000 + n) for n in range(6)]
        await h.idle()
        assert all(len(h.original(i).attachments) == 1 for i in interactions)
    assert most == 2
