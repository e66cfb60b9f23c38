"""Input images over 256 KB go through the provider's own file storage, not inline `data:` URIs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.jobs.input_images import INLINE_IMAGE_LIMIT
from tests.fakes.cdn import make_png
from tests.fakes.discord import FakeDiscord, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)


def large_photo() -> bytes:
    """A noisy 2048x1536 PNG: about 9 MB, still over 3 MB once normalised to JPEG."""
    return make_png(2048, 1536, noise=True)


async def variations(h: Harness, data: bytes, **options: str) -> Interaction:
    attachment = h.discord.make_attachment("photo.png", data, "image/png")
    values: list[dict[str, object]] = [{"name": "image", "type": 11, "value": attachment}]
    values += [{"name": k, "type": 3, "value": v} for k, v in options.items()]
    return await h.discord.send_interaction("variations", values, user_id=4000)


async def test_a_large_input_image_is_uploaded_to_fals_storage_and_sent_as_its_url(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await variations(h, large_photo(), prompt="as a mosaic")
        await h.idle(timeout=60)
        assert len(fake_fal.uploads) == 1
        upload = fake_fal.uploads[0]
        assert len(upload.data) > 3_000_000 > INLINE_IMAGE_LIMIT
        assert upload.content_type == "image/jpeg"
        assert upload.headers["Authorization"] == f"Bearer {fake_fal.storage_tokens[0]}"
        token_requests = [r for r in fake_fal.requests if r.path == "/storage/auth/token"]
        assert [r.headers["Authorization"] for r in token_requests] == ["Key fal-test-key"]
        assert token_requests[0].query == {"storage_type": "fal-cdn-v3"}
        app_id, arguments, _ = fake_fal.submits[0]
        assert app_id == "fal-ai/flux/dev/image-to-image"
        assert arguments["image_url"] == upload.url
        assert len(h.original(interaction).attachments) == 1
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("done", "committed")


async def test_a_large_input_image_is_uploaded_to_replicate_files_and_sent_as_its_url(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await variations(h, large_photo(), provider="replicate")
        await h.idle(timeout=60)
        assert len(fake_replicate.uploads) == 1
        upload = fake_replicate.uploads[0]
        assert len(upload.data) > 3_000_000
        assert upload.content_type == "image/jpeg"
        assert upload.headers["Authorization"] == "Bearer r8"
        model, inputs, _ = fake_replicate.creates[0]
        assert model == "black-forest-labs/flux-dev"
        assert inputs["image"] == upload.url
        assert upload.url.endswith(f"/v1/files/{next(iter(fake_replicate.files))}")
        assert len(h.original(interaction).attachments) == 1
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("done", "committed")


async def test_an_upload_refused_by_fal_fails_the_job_unsent_and_refunded(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.inject(
        "POST", r"^/storage/auth/token", status=401, times=None, json={"detail": "Invalid key"}
    )
    async with running_bot(fake_discord, db_path) as h:
        interaction = await variations(h, large_photo())
        await h.idle(timeout=60)
        assert fake_fal.submits == [] and fake_fal.uploads == []
        content = h.original(interaction).content or ""
        assert "fal refused the bot's API key" in content
        assert "refunded" in content
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.quota_state, job.provider_request_id) == (
            "failed",
            "refunded",
            None,
        )
        assert await h.bot.db.jobs.quota_used(4000, job.quota_day) == 0


async def test_a_job_resumed_after_a_restart_does_not_upload_its_image_again(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.2, queue_positions=[0], run_s=2.5, steps=4))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await variations(h, large_photo())
        await fake_fal.wait_for_submit(timeout=60)
        await asyncio.sleep(0.3)
    async with running_bot(fake_discord, db_path) as h2:
        await h2.idle(timeout=60)
        assert len(fake_fal.uploads) == 1 and len(fake_fal.submits) == 1
        assert fake_fal.submits[0][1]["image_url"] == fake_fal.uploads[0].url
        assert len(h2.original(interaction).attachments) == 1
        job = await h2.job_for(interaction)
        assert job is not None and (job.state, job.quota_state) == ("done", "committed")


async def test_a_retried_submit_reuses_the_uploaded_image(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_fal.inject(
        "POST",
        r"^/fal-ai/flux",
        status=503,
        times=2,
        headers={"X-Fal-Retryable": "true"},
        json={"detail": "runner unavailable"},
    )
    async with running_bot(fake_discord, db_path) as h:
        interaction = await variations(h, large_photo())
        await h.idle(timeout=60)
        submits = [r for r in fake_fal.requests if r.path.startswith("/fal-ai/flux")]
        assert [r.method for r in submits if r.method == "POST"] == ["POST"] * 3
        assert len(fake_fal.uploads) == 1
        assert fake_fal.submits[0][1]["image_url"] == fake_fal.uploads[0].url
        job = await h.job_for(interaction)
        assert job is not None and (job.state, job.attempts) == ("done", 3)
