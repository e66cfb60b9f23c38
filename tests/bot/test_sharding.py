"""Gateway shards end to end: the real bot against a fake Discord that serves several shards.

One process runs every shard of `[discord] shard_count` (default: the count `GET
{api_base}/gateway/bot` recommends); `shard_ids` that leave shards to another process are refused
at start on SQLite, as several processes need a shared PostgreSQL ledger (`[database] url`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.app import ArtFactoryBot
from bot.config import parse_config
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal
from tests.harness import ENV, options, running_bot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def two_shards() -> AsyncIterator[FakeDiscord]:
    # max_concurrency 2: the two shards are in different IDENTIFY buckets and start at once
    fake = FakeDiscord(shard_count=2, max_concurrency=2)
    await fake.start()
    yield fake
    await fake.close()
    assert fake.spec_violations == [], fake.spec_violations


def identified_shards(fake: FakeDiscord) -> list[list[int]]:
    return sorted(payload["shard"] for payload in fake.identify_payloads)


async def test_the_bot_opens_one_connection_per_shard_discord_recommends(
    two_shards: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(two_shards, db_path) as h:
        assert identified_shards(two_shards) == [[0, 2], [1, 2]]
        assert sorted(two_shards.live_shards()) == [[0, 2], [1, 2]]
        assert sorted(h.bot.shards) == [0, 1]
        assert h.bot.shard_count == 2


async def test_commands_from_guilds_on_both_shards_arrive_on_their_shard_and_become_jobs(
    two_shards: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    second = two_shards.add_guild(shard=1)
    config = {"shard_count": 2, "shard_ids": [1, 0], "dev_guild_id": None}  # global commands
    async with running_bot(two_shards, db_path, discord=config) as h:
        assert identified_shards(two_shards) == [[0, 2], [1, 2]]
        on_zero = await two_shards.send_interaction(
            "imagine", options(prompt="a harbour at dawn"), user_id=4000
        )
        on_one = await two_shards.send_interaction(
            "imagine", options(prompt="a harbour at dusk"), user_id=4001, guild_id=second
        )
        await h.idle()
        sent = {d.data["id"]: d.shard for d in two_shards.dispatches if d.data.get("token")}
        assert sent == {str(on_zero.id): [0, 2], str(on_one.id): [1, 2]}
        for interaction, guild in ((on_zero, two_shards.guild_id), (on_one, second)):
            assert interaction.response_type is not None, "never acknowledged"
            job = await h.job_for(interaction)
            assert job is not None and job.state == "done" and job.guild_id == guild
            assert len(h.original(interaction).attachments) == 1
        assert len(fake_fal.submits) == 2


async def test_the_fake_closes_a_bot_identifying_with_too_few_shards_with_4011(
    two_shards: FakeDiscord, db_path: Path
) -> None:
    raw = {
        "discord": {"api_base": two_shards.api_base, "shard_count": 1},
        "database": {"path": str(db_path)},
    }
    bot = ArtFactoryBot(parse_config(raw, ENV), guild_ready_timeout=0.1)
    try:
        await bot.login(ENV["DISCORD_TOKEN"])
        with pytest.raises(discord.ConnectionClosed) as closed:
            async with asyncio.timeout(15):
                await bot.connect(reconnect=True)
        assert closed.value.code == 4011
    finally:
        await bot.close()
        discord.http.Route.BASE = "https://discord.com/api/v10"
    assert identified_shards(two_shards) == [[0, 1]]
    assert two_shards.gateway_closes == [4011]
    assert two_shards.live_shards() == []


# ------------------------------------------------------------------ `python -m bot`


async def run_bot_process(
    config: Path, *flags: str, until: asyncio.Event | None = None
) -> tuple[int, str]:
    """Start `python -m bot --config config *flags`; stop it with SIGTERM once `until` is set,
    or wait for it to exit. Returns its exit code and what it wrote to stderr."""
    env = {**os.environ, "DISCORD_TOKEN": "fake-token", "FAL_KEY": "fal-key"}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "--config", str(config), *flags),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            if until is not None:
                waiter = asyncio.create_task(until.wait())
                exited = asyncio.create_task(process.wait())
                await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if process.returncode is None:
                    process.terminate()
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def write_config(tmp_path: Path, fake: FakeDiscord, discord_keys: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[discord]\napi_base = "{fake.api_base}"\n{discord_keys}\n'
        f'[database]\npath = "{tmp_path / "data" / "bot.db"}"\n',
        encoding="utf-8",
    )
    return config


async def test_shard_flags_win_over_the_config(fake_discord: FakeDiscord, tmp_path: Path) -> None:
    config = write_config(tmp_path, fake_discord, "shard_count = 3\nshard_ids = [0, 1, 2]")
    code, stderr = await run_bot_process(
        config, "--shard-count", "1", "--shard-ids", "0", until=fake_discord.identified
    )
    assert code == 0, stderr
    assert [p["shard"] for p in fake_discord.identify_payloads] == [[0, 1]]


async def test_a_partial_shard_set_is_refused_at_start_with_one_line(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    config = write_config(tmp_path, fake_discord, "shard_count = 2\nshard_ids = [0]")
    code, stderr = await run_bot_process(config)
    assert code == 2
    line = stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("config error: [discord] shard_ids = [0] leaves shard 1 of 2 to ")
    assert "another process" in line and "[database] url" in line
    assert fake_discord.requests == []  # refused before logging in
    assert not (tmp_path / "data").exists()  # and before the ledger was opened


async def test_a_partial_shard_set_from_the_flags_is_refused_too(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    config = write_config(tmp_path, fake_discord, "")
    code, stderr = await run_bot_process(config, "--shard-count", "3", "--shard-ids", "0,2")
    assert code == 2
    assert stderr.strip().startswith(
        "config error: [discord] shard_ids = [0, 2] leaves shard 1 of 3 to "
    )
    assert fake_discord.requests == []


async def test_too_few_shards_for_discord_end_the_process_with_one_line_and_exit_code_2(
    tmp_path: Path,
) -> None:
    fake = FakeDiscord(shard_count=2)  # Discord requires 2: an IDENTIFY with [0, 1] gets 4011
    await fake.start()
    try:
        config = write_config(tmp_path, fake, "shard_count = 1")
        code, stderr = await run_bot_process(config)
    finally:
        await fake.close()
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "Discord closed the gateway: sharding required (4011): the bot is in too many servers "
        "for 1 shard: set [discord] shard_count (or --shard-count) to at least 2, or leave it "
        "unset so the bot opens as many shards as Discord recommends."
    )
    assert [p["shard"] for p in fake.identify_payloads] == [[0, 1]]
    assert fake.gateway_closes == [4011] and fake.live_shards() == []
