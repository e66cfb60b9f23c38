"""Runs the real bot as `python -m bot` processes against the loopback fakes, several at once on
one PostgreSQL ledger (tests/bot/test_scale_out.py); tests/harness.py runs one in this process.

Each process has its own Discord token (`{name}-token`) and fal key (`{name}-key`), so the fakes
tell who sent what, and its own folder (its config, its log, its intake journal).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.jobs.model import FINAL_STATES
from db.database import Database
from tests.conftest import FAL_PORT, TLS_MATERIAL
from tests.fakes.cdn import FakeCDN
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal
from tests.harness import options
from tests.postgres import Cluster, drop_ledger, ledger_url

ROOT = Path(__file__).resolve().parents[1]
LEASE_S = 2.0  # short, so a dead process's jobs move on within seconds
QUOTA = 5  # images per member per day (per server)
FAL = f"https://127.0.0.1:{FAL_PORT}"


@dataclass
class Bot:
    """One `python -m bot` process; its log is a file (a pipe nobody reads would fill up)."""

    name: str
    process: asyncio.subprocess.Process
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return f"--- {self.name} (exit {self.process.returncode}):\n" + "\n".join(
            text.splitlines()[-lines:]
        )

    def owns(self, owner: str | None) -> bool:
        """Whether a job's `owner` (host:pid:nonce, bot/jobs/leases.py) is this process."""
        return bool(owner) and str(owner).startswith(f"{socket.gethostname()}:{self.process.pid}:")


def write_config(folder: Path, fake: FakeDiscord, url: str | None, discord: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shared = f'url = "{url}"\nlease_s = {LEASE_S}\n' if url else ""
    config = folder / "config.toml"
    config.write_text(
        f'[discord]\napi_base = "{fake.api_base}"\n{discord}\n'
        f'[database]\npath = "{folder / "bot.db"}"\n{shared}'
        f"[quotas]\nimages_per_user_per_day = {QUOTA}\n"
        "[generation]\nmax_concurrent_jobs = 200\nmax_jobs_per_user = 2\n"
        "retry_base_delay_s = 0.05\nretry_total_s = 20\n"
        f'[providers.fal]\npoll_interval_s = 0.2\nstorage_url = "{FAL}"\n'
        f'models_base_url = "{FAL}"\n',
        encoding="utf-8",
    )
    return config


async def start(name: str, config: Path, *flags: str) -> Bot:
    """`python -m bot` with its own secrets (`{name}-token`, `{name}-key`)."""
    env = {**os.environ, "DISCORD_TOKEN": f"{name}-token", "FAL_KEY": f"{name}-key"}
    env.pop("DATABASE_URL", None)
    log = config.parent / f"{name}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "--config", str(config), *flags),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    return Bot(name, process, log)


async def stop(bots: Sequence[Bot]) -> None:
    for bot in bots:
        if bot.process.returncode is None:
            bot.process.terminate()
    for bot in bots:
        try:
            async with asyncio.timeout(15):
                await bot.process.wait()
        except TimeoutError:
            bot.process.kill()
            with contextlib.suppress(ProcessLookupError):
                await bot.process.wait()


async def serving(fake: FakeDiscord, bot: Bot, shard: int) -> None:
    """Until `bot` holds a live session of `shard` and the commands are synced."""
    async with asyncio.timeout(40):
        while True:
            if bot.process.returncode is not None:
                raise AssertionError(f"{bot.name} exited at start\n{bot.tail()}")
            mine = [p for p in fake.identify_payloads if p.get("token") == f"{bot.name}-token"]
            live = [shard, fake.shard_count] in fake.live_shards()
            if mine and live and "imagine" in fake.commands:
                return
            await asyncio.sleep(0.05)


async def imagine(
    fake: FakeDiscord,
    prompt: str,
    user: int,
    *,
    guild: int | None = None,
    shard: int | Sequence[int] | None = None,
) -> Interaction:
    return await fake.send_interaction(
        "imagine", options(prompt=prompt), user_id=user, guild_id=guild, shard=shard
    )


async def delivered(
    interaction: Interaction, bots: Sequence[Bot], timeout: float = 40
) -> FakeMessage:
    """The job's message once it carries images (fails at once if a process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for bot in bots:
            if bot.process.returncode is not None:
                raise AssertionError(f"{bot.name} exited\n{bot.tail()}")
        message = interaction.original()
        if message is not None and message.attachments and not message.deleted:
            return message
        await asyncio.sleep(0.05)
    logs = "\n".join(bot.tail() for bot in bots)
    raise AssertionError(f"interaction {interaction.id} not delivered in {timeout}s\n{logs}")


async def row(db: Database, sql: str, *args: Any) -> tuple[Any, ...] | None:
    async with db.connection.execute(sql, args) as cursor:
        found = await cursor.fetchone()
    return tuple(found) if found is not None else None


async def rows(db: Database, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    async with db.connection.execute(sql, args) as cursor:
        return [tuple(r) for r in await cursor.fetchall()]


def uploads(fake: FakeDiscord, interaction: Interaction) -> int:
    """Requests that sent files for this interaction (its deliveries)."""
    return sum(1 for r in fake.requests if r.files and interaction.token in r.path)


def fal_keys(fal: FakeFal, prompt: str) -> list[str]:
    """The fal key of each submit of `prompt`."""
    return [
        str(fal.jobs[rid].headers.get("Authorization"))
        for _, args, rid in fal.submits
        if args.get("prompt") == prompt
    ]


@dataclass
class Fleet:
    """Processes on one ledger, the fakes they talk to, and the ledger, opened here too."""

    fake: FakeDiscord
    fal: FakeFal
    db: Database
    bots: list[Bot]
    second: int = 0  # a guild on shard 1 (`fake.guild_id` is on shard 0)

    def bot(self, name: str) -> Bot:
        return next(b for b in self.bots if b.name == name)


@contextlib.asynccontextmanager
async def fleet(
    cluster: Cluster, fal: FakeFal, tmp: Path, shards: int, *processes: tuple[str, str, str]
) -> AsyncIterator[Fleet]:
    """`processes`: (name, [discord] lines, --role) each, all started at once."""
    fake = FakeDiscord(shard_count=shards, max_concurrency=shards)
    await fake.start()
    url = await ledger_url(cluster, tmp / "ledger")
    db = await Database.open(url)  # migrated before the processes start
    crew = Fleet(fake, fal, db, [])
    try:
        crew.second = fake.add_guild(shard=1) if shards > 1 else fake.guild_id
        for name, discord, role in processes:
            config = write_config(tmp / name, fake, url, discord)
            crew.bots.append(await start(name, config, "--role", role))
        yield crew
    finally:
        await stop(crew.bots)
        await db.close()
        await drop_ledger(cluster, url)
        await fake.close()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Wait for `condition()` to hold, at most `timeout` seconds (the asserts that follow say
    what did not happen)."""
    deadline = time.monotonic() + timeout
    while not await condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def final_rows(
    db: Database, key: str, value: Any, columns: str, timeout: float = 15
) -> list[tuple[Any, ...]]:
    """(state, *columns) of the jobs whose `key` is `value`, once none of them is active (a
    job's message shows its images a moment before its row says done)."""
    sql = f"SELECT state, {columns} FROM jobs WHERE {key} = ? ORDER BY id"

    async def ended() -> bool:
        found = await rows(db, sql, value)
        return bool(found) and all(r[0] in FINAL_STATES for r in found)

    await until(ended, timeout)
    return await rows(db, sql, value)


@contextlib.asynccontextmanager
async def fal_of_its_own() -> AsyncIterator[FakeFal]:
    """A fake fal (and its CDN) on the session's fal port, for a module-scoped fixture: closed
    when the fixture is done, so the port is free for the other tests' `fake_fal`."""
    cdn = FakeCDN()
    await cdn.start()
    server = FakeFal(TLS_MATERIAL, cdn, FAL_PORT)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
        await cdn.close()
