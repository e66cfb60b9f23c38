"""The README's start command, as a real process: `python -m bot --config config.toml`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from db.database import migrations
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.fakes.fal import FakeFal, Script
from tests.processes import fal_of_its_own
from tests.storage import database_toml

ROOT = Path(__file__).resolve().parents[2]
IMAGES = 2  # in the job killed mid-generation


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


@dataclass
class AfterRestart:
    """What a SIGKILL mid-generation and a restart left behind."""

    before_restart: FakeMessage | None  # the job's message when the first process died
    attachments_before_restart: int
    message: FakeMessage  # the same message once the result arrived
    submits: int  # requests fal received
    cancelled_at_fal: bool
    deliveries: int  # requests to Discord that uploaded files
    exit_code: int | None  # the second process's, after SIGTERM
    rows: list[tuple[Any, ...]]  # state, quota_state, image_count of every job


async def _kill_mid_job_and_restart(fake_fal: FakeFal, tmp_path: Path) -> AfterRestart:
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
                {"name": "count", "type": 4, "value": IMAGES},
            ],
        )
        job = await fake_fal.wait_for_submit(timeout=20)
        await asyncio.sleep(1.0)  # mid-generation, progress edits flowing
        first.kill()  # SIGKILL: no cleanup of any kind
        await first.wait()
        before = interaction.original()
        attachments_before = len(before.attachments) if before is not None else 0

        fake_discord.identified.clear()
        second = await start_bot_process(config)
        async with asyncio.timeout(40):
            while True:
                message = interaction.original()
                if message is not None and message.attachments:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # anything sent twice would arrive now
        submits, cancelled = len(fake_fal.submits), job.cancelled
        deliveries = len([r for r in fake_discord.requests if r.files])

        second.send_signal(signal.SIGTERM)
        exit_code: int | None = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                exit_code = await second.wait()
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT state, quota_state, image_count FROM jobs").fetchall()
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
        await fake_discord.close()
    return AfterRestart(
        before, attachments_before, message, submits, cancelled, deliveries, exit_code, rows
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def after_restart(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AfterRestart]:
    """The kill and restart, once for the tests below; the fakes are closed before they run
    (so the fal port is free again for the other tests' `fake_fal`)."""
    async with fal_of_its_own() as fake_fal:
        outcome = await _kill_mid_job_and_restart(fake_fal, tmp_path_factory.mktemp("sigkill"))
    yield outcome


def test_a_job_killed_mid_generation_was_not_delivered_by_the_dead_process(
    after_restart: AfterRestart,
) -> None:
    assert after_restart.before_restart is not None
    assert after_restart.attachments_before_restart == 0


def test_the_restarted_bot_reattaches_by_request_id_and_never_resubmits(
    after_restart: AfterRestart,
) -> None:
    assert after_restart.submits == 1
    assert not after_restart.cancelled_at_fal


def test_the_restarted_bot_delivers_the_result_once(after_restart: AfterRestart) -> None:
    assert after_restart.deliveries == 1
    assert len(after_restart.message.attachments) == IMAGES


def test_the_restarted_bot_stops_cleanly_on_sigterm(after_restart: AfterRestart) -> None:
    assert after_restart.exit_code == 0


def test_a_job_killed_mid_generation_is_charged_once(after_restart: AfterRestart) -> None:
    assert after_restart.rows == [("done", "committed", IMAGES)]


def test_db_check_reports_a_healthy_ledger(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "x.db"}"\n', encoding="utf-8")
    env = {**os.environ, "DISCORD_TOKEN": "t", "FAL_KEY": "k"}
    subprocess.run(  # `db check` only reads: the ledger is made first
        [sys.executable, "-m", "bot", "db", "migrate", "--config", str(config)],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
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


@pytest.mark.postgresql_only
def test_db_migrate_and_check_work_on_a_postgresql_ledger(db_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(database_toml(db_path), encoding="utf-8")
    env = {**os.environ, "DISCORD_TOKEN": "t", "FAL_KEY": "k"}

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *command, "--config", str(config)],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    before = run("db", "check")
    assert before.returncode == 0, before.stderr
    assert f"schema version 0 of {len(migrations())}" in before.stdout
    migrated = run("db", "migrate")
    assert migrated.returncode == 0 and f"→ {len(migrations())})" in migrated.stdout
    after = run("db", "check")
    assert after.returncode == 0 and f"(schema version {len(migrations())})" in after.stdout
    assert after.stdout.startswith("database OK: postgresql://")


async def test_a_postgresql_that_cannot_be_reached_stops_the_bot_with_one_line(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "config.toml"
    config.write_text(
        f'[discord]\napi_base = "{fake_discord.api_base}"\n'
        f'[database]\npath = "{tmp_path / "d" / "bot.db"}"\n'
        f'url = "postgresql://bot:hunter2@127.0.0.1:{port}/artfactory"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "DISCORD_TOKEN": "fake-token", "FAL_KEY": "fal-key"}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "--config", str(config)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"database error: postgresql://bot:***@127.0.0.1:{port}/artfactory: ")
    assert "check [database] url (or DATABASE_URL)" in line
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
