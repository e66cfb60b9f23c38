"""The README's start command, as a real process: `python -m bot --config config.toml`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

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
