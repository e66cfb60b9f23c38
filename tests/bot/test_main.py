"""The README's start command, as a real process: `python -m bot --config config.toml`."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from db.database import migrations
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script

ROOT = Path(__file__).resolve().parents[2]


async def test_python_m_bot_serves_imagine_and_stops_cleanly_on_sigterm(
    fake_fal: FakeFal, tmp_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.2, run_s=0.4, steps=2))
    fake_discord = FakeDiscord()
    await fake_discord.start()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[discord]\napi_base = "{fake_discord.api_base}"\ndev_guild_id = {fake_discord.guild_id}\n'
        f'[database]\npath = "{tmp_path / "data" / "bot.db"}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "DISCORD_TOKEN": "fake-token", "FAL_KEY": "fal-key"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(30):
            await fake_discord.identified.wait()
            while "imagine" not in fake_discord.commands:
                await asyncio.sleep(0.05)
        interaction = await fake_discord.send_interaction(
            "imagine", [{"name": "prompt", "type": 3, "value": "a cat"}]
        )
        async with asyncio.timeout(30):
            while True:
                message = interaction.original()
                if message is not None and message.attachments:
                    break
                await asyncio.sleep(0.05)
        assert len(message.attachments) == 1

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await process.wait()
        assert code == 0
        assert time.monotonic() - started < 10
        output = (await process.stdout.read()).decode() if process.stdout else ""
        assert "fake-token" not in output and "fal-key" not in output
        assert (tmp_path / "data" / "bot.db").exists()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake_discord.close()


async def start_bot_process(config: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "DISCORD_TOKEN": "fake-token", "FAL_KEY": "fal-key"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_sigkill_mid_job_then_restart_delivers_once_and_charges_once(
    fake_fal: FakeFal, tmp_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.3, queue_positions=[0], run_s=4.0, steps=8))
    fake_discord = FakeDiscord()
    await fake_discord.start()
    db = tmp_path / "bot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[discord]\napi_base = "{fake_discord.api_base}"\n'
        f"dev_guild_id = {fake_discord.guild_id}\n"
        f'[database]\npath = "{db}"\n[quotas]\nimages_per_user_per_day = 5\n',
        encoding="utf-8",
    )
    first = await start_bot_process(config)
    second: asyncio.subprocess.Process | None = None
    try:
        async with asyncio.timeout(30):
            await fake_discord.identified.wait()
            while "imagine" not in fake_discord.commands:
                await asyncio.sleep(0.05)
        interaction = await fake_discord.send_interaction(
            "imagine",
            [
                {"name": "prompt", "type": 3, "value": "a phoenix"},
                {"name": "count", "type": 4, "value": 2},
            ],
        )
        job = await fake_fal.wait_for_submit(timeout=20)
        await asyncio.sleep(1.0)  # mid-generation, progress edits flowing
        first.kill()  # SIGKILL: no cleanup of any kind
        await first.wait()
        assert interaction.original() is not None
        assert not interaction.original().attachments  # type: ignore[union-attr]

        fake_discord.identified.clear()
        second = await start_bot_process(config)
        async with asyncio.timeout(40):
            while True:
                message = interaction.original()
                if message is not None and message.attachments:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # anything sent twice would arrive now

        assert len(fake_fal.submits) == 1  # re-attached by request id, never re-submitted
        assert not job.cancelled
        deliveries = [r for r in fake_discord.requests if r.files]
        assert len(deliveries) == 1
        assert len(message.attachments) == 2

        second.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await second.wait() == 0
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT state, quota_state, image_count FROM jobs").fetchall()
        assert rows == [("done", "committed", 2)]
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
        await fake_discord.close()


def test_db_check_reports_a_healthy_ledger(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "x.db"}"\n', encoding="utf-8")
    env = {**os.environ, "DISCORD_TOKEN": "t", "FAL_KEY": "k"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "check", "--config", str(config)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "database OK" in done.stdout
    assert f"schema version {len(migrations())}" in done.stdout
    (tmp_path / "x.db").write_bytes(b"this is not a database" * 100)
    broken = subprocess.run(
        [sys.executable, "-m", "bot", "db", "check", "--config", str(config)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode != 0
    assert "Traceback" not in broken.stderr
    assert "database" in broken.stderr
