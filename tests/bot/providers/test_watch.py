"""How the real bot follows a job at the provider: fal's status stream (with polling as the
fallback) and Replicate's adaptive polling, end to end against the loopback fakes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes.cdn import FakeCDN
from tests.fakes.discord import FakeDiscord, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import Harness, running_bot


def delivered_at(fake_discord: FakeDiscord, interaction: Interaction) -> float:
    """When the fake received the final edit that carries the images."""
    times = [
        r.time
        for r in fake_discord.requests
        if r.files and r.params.get("token") == interaction.token and r.status == 200
    ]
    assert times, "the images were never posted"
    return times[0]


async def finished(h: Harness, interaction: Interaction) -> None:
    await h.idle(timeout=30)
    message = h.original(interaction)
    assert len(message.attachments) == 1, message.content


async def test_fal_jobs_follow_the_status_stream_one_request_per_job(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.5, queue_positions=[1, 0], run_s=2.0, steps=6))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="a stream of light")
        await finished(h, interaction)
        job = fake_fal.jobs[fake_fal.submits[0][2]]
        # submit, one status stream, the result: no status polling, no extra status check
        # before the result.
        assert (job.stream_opens, job.status_polls, job.result_fetches) == (1, 0, 1)
        assert len([r for r in fake_fal.requests if job.request_id in r.path]) == 2
        stream = next(r for r in fake_fal.requests if r.path.endswith("/status/stream"))
        assert stream.query.get("logs") == "1"
        assert stream.headers.get("Authorization") == "Key fal-test-key"
        # COMPLETED is pushed: the images follow within moments, not a poll interval.
        completed = fake_fal.completed_at(job.request_id)
        assert completed is not None
        assert delivered_at(fake_discord, interaction) - completed < 1.0
        # The step progress still reached the member.
        states = [s.get("content") or "" for s in h.original(interaction).history]
        assert any("step" in s for s in states), states


async def test_a_finished_status_stream_gives_its_connection_back_to_the_pool(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    # The server ends the stream a moment after COMPLETED. Read to that end, the connection
    # goes back to the pool: two jobs one after the other need two connections to fal (one
    # for a stream, one for the result fetch beside it), not a new TLS handshake per stream.
    # The images do not wait for that moment.
    fake_fal.script(None, Script(queue_s=0.2, queue_positions=[0], run_s=1.0, steps=2))
    fake_fal.stream_end_delay = 0.5
    async with running_bot(fake_discord, db_path) as h:
        for prompt in ("one connection", "and the same again"):
            interaction = await h.imagine(prompt=prompt)
            await finished(h, interaction)
            job = fake_fal.jobs[fake_fal.submits[-1][2]]
            completed = fake_fal.completed_at(job.request_id)
            assert completed is not None
            assert delivered_at(fake_discord, interaction) - completed < 0.4
            await asyncio.sleep(0.7)  # the server has ended the stream
        assert len(fake_fal.submits) == 2
        peers = {r.peer for r in fake_fal.requests}
        assert None not in peers
        assert len(peers) == 2, sorted(peers)  # type: ignore[type-var]


async def test_fal_falls_back_to_polling_when_the_stream_is_unavailable(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.3, queue_positions=[0], run_s=1.5, steps=4))
    fake_fal.inject("GET", r"/status/stream$", status=404, times=None)
    # A fault while polling keeps the usual retry semantics (503 is retried).
    fake_fal.inject("GET", r"/status$", status=503, times=1)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="no stream here")
        await finished(h, interaction)
        job = fake_fal.jobs[fake_fal.submits[0][2]]
        assert job.stream_opens == 0  # the 404 answered instead
        assert job.status_polls >= 2
        assert job.result_fetches == 1
        record = await h.job_for(interaction)
        assert record is not None and record.state == "done"


async def test_fal_stream_answering_something_else_is_also_a_fallback(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.2, queue_positions=[0], run_s=0.8, steps=2))
    # 200, but JSON instead of server-sent events (e.g. a proxy that does not stream).
    fake_fal.inject("GET", r"/status/stream$", status=200, json={"status": "?"}, times=None)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="not a stream")
        await finished(h, interaction)
        job = fake_fal.jobs[fake_fal.submits[0][2]]
        assert job.status_polls >= 1 and job.result_fetches == 1


async def test_replicate_polls_adaptively_and_still_delivers_promptly(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, cdn: FakeCDN, db_path: Path
) -> None:
    fake_replicate.script(None, ReplicateScript(queue_s=0.5, run_s=6.0, steps=12))
    config = {"providers": {"replicate": {"enabled": True, "poll_interval_s": 2.0}}}
    async with running_bot(fake_discord, db_path, **config) as h:
        interaction = await h.imagine(prompt="a patient fox", provider="replicate")
        await finished(h, interaction)
        prediction = fake_replicate.predictions[fake_replicate.creates[0][2]]
        # A fixed 0.2 s interval would take ~33 polls for these 6.5 s, and a fixed 2 s one
        # would see the end up to 2 s late. Adaptive: fewer polls, the end seen quickly.
        assert prediction.polls <= 22, prediction.polls
        completed = fake_replicate.completed_at(prediction.id)
        assert completed is not None
        assert delivered_at(fake_discord, interaction) - completed < 1.0
        assert await asyncio.wait_for(h.job_for(interaction), 5) is not None
