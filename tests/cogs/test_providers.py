"""`/providers`: configured providers, their models and capabilities, and ledger health."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.jobs.model import Origin
from db.database import Database
from db.jobs import NewJob
from tests.fakes.civitai import FakeCivitai
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script, validation_failure
from tests.fakes.openai_images import FakeOpenAIImages
from tests.harness import running_bot


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in embed["fields"]}


async def test_providers_lists_models_capabilities_and_recent_health_privately(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_civitai: FakeCivitai,
    fake_openai: FakeOpenAIImages,
    db_path: Path,
) -> None:
    fake_fal.script(None, Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1))
    fail = Script(queue_s=0, run_s=0.1, fail=validation_failure("prompt", "no"))
    fake_fal.script(None, fail, times=1)  # the newest script wins, once
    async with running_bot(
        fake_discord,
        db_path,
        providers={"civitai": fake_civitai.config(), "openai": fake_openai.config()},
        generation={"fallback_providers": ["replicate"]},
    ) as h:
        for prompt in ("fails", "one", "two"):
            await h.imagine(prompt=prompt)
            await h.idle()
        interaction = await fake_discord.send_interaction("providers")
        await h.settled()

        answer = h.original(interaction)
        assert answer.ephemeral
        (embed,) = answer.embeds
        shown = fields(embed)
        assert list(shown) == ["fal ★ default", "replicate", "civitai", "openai"]

        fal = shown["fal ★ default"]
        assert "`fal-ai/flux/dev` (default)" in fal and "`fal-ai/flux/schnell`" in fal
        assert "image-to-image" in fal and "upscale" in fal and "≤3 LoRAs" in fal
        assert "progress: queue position, steps" in fal
        assert "3 jobs in 24 h · 67% ok (2 done, 1 failed) · median" in fal

        assert "no jobs in the last 24 h" in shown["replicate"]
        civitai = shown["civitai"]
        assert "urn:air:sdxl:checkpoint:civitai:101055@128078" in civitai
        assert "≤5 LoRAs" in civitai and "progress: queue position" in civitai
        openai = shown["openai"]
        assert "`gpt-image-1.5` (default)" in openai
        assert "progress: elapsed time only" in openai
        assert "no negative prompt, seed, steps, guidance" in openai
        assert "**ratios:** 1:1, 3:2, 2:3" in openai
        assert "replicate" in embed["footer"]["text"]


async def test_provider_health_counts_and_median_come_from_the_ledger(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "h.db")
    try:
        now = time.time()
        latencies = {"fal": [4.0, 1.0, 10.0, 2.0], "openai": [7.0]}
        for provider, values in latencies.items():
            for seconds in values:
                job_id = await _job(db, provider)
                await db.jobs.begin_submit(job_id)
                await db.jobs.mark_submitted(job_id, f"r-{job_id}")
                await db.connection.execute(
                    "UPDATE jobs SET submitted_at = ? WHERE id = ?", (now - 100, job_id)
                )
                await db.jobs.finish(job_id, "done")
                await db.connection.execute(
                    "UPDATE jobs SET finished_at = ? WHERE id = ?", (now - 100 + seconds, job_id)
                )
        for state in ("failed", "expired", "cancelled"):
            await db.jobs.finish(await _job(db, "fal"), state)
        old = await _job(db, "replicate")
        await db.connection.execute(
            "UPDATE jobs SET created_at = ? WHERE id = ?", (now - 90000, old)
        )

        health = await db.stats.provider_health(24 * 3600)
        assert set(health) == {"fal", "openai"}
        fal = health["fal"]
        assert (fal.jobs, fal.done, fal.failed) == (7, 4, 2)
        assert fal.median_s is not None and abs(fal.median_s - 3.0) < 1e-6  # (2 + 4) / 2
        assert fal.success_rate is not None and abs(fal.success_rate - 4 / 6) < 1e-9
        assert health["openai"].median_s is not None
        assert abs(health["openai"].median_s - 7.0) < 1e-6
    finally:
        await db.close()


async def _job(db: Database, provider: str) -> int:
    job_id = await db.jobs.reserve(
        NewJob(
            origin=Origin(1, 1, 1, 1, None, "t", time.time()),
            provider=provider,
            model="m",
            inputs={},
            image_count=1,
        ),
        daily_limit=100,
        day="2030-01-01",
    )
    assert job_id is not None
    return job_id
