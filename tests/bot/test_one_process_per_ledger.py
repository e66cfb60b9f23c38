"""One SQLite ledger serves one bot process (db/lock.py), as real `python -m bot` processes.

A second process on the same file would resume, submit and deliver the same jobs a second time
(and charge them twice), so it is refused at start, before it connects to anything; the lock
dies with its process, so a SIGKILLed bot leaves nothing that stops the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from db.database import migrations
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.fakes.fal import FakeFal, Script
from tests.processes import fal_of_its_own

ROOT = Path(__file__).resolve().parents[2]
FIRST, SECOND, THIRD = "first", "second", "third"  # each process's Discord token and fal key


@dataclass
class Ran:
    """A process that has exited: its exit code (None: it had to be killed) and output."""

    code: int | None
    stdout: str
    stderr: str


@dataclass
class SharedLedger:
    """Three bots, one after the other, on one ledger, and the db commands beside the third."""

    db: Path
    first_pid: int
    second: Ran  # started while the first ran
    second_discord_requests: int  # REST requests and IDENTIFYs with the second's token
    second_fal_requests: int  # fal requests with the second's key
    first_job: FakeMessage  # a job the first delivered after the second was refused
    first_job_keys: list[str]  # the fal key of each submit for that job
    third_pid: int  # started after the first was SIGKILLed mid-job
    resumed_job: FakeMessage  # the killed job, as the third left it
    submits: int
    deliveries: int  # requests to Discord that uploaded files
    check: Ran  # `db check` while the third ran
    migrate: Ran  # `db migrate` while the third ran
    lock_after_migrate: str  # the lock file's text after the refused `db migrate`
    third_exit: int | None
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # state, quota_state per job


def _env(secret: str) -> dict[str, str]:
    return {**os.environ, "DISCORD_TOKEN": f"{secret}-token", "FAL_KEY": f"{secret}-key"}


async def _start(config: Path, secret: str, *, output: bool = True) -> asyncio.subprocess.Process:
    """`python -m bot` with its own secrets; `output=False` for a long run nobody reads."""
    pipe = asyncio.subprocess.PIPE if output else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        cwd=ROOT,
        env=_env(secret),
        stdout=pipe,
        stderr=pipe,
    )


async def _finish(process: asyncio.subprocess.Process, timeout: float) -> Ran:
    """Wait for the process to exit by itself (killing it past `timeout`)."""
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        return Ran(None, out.decode(), err.decode())
    return Ran(process.returncode, out.decode(), err.decode())


async def _run(config: Path, *command: str) -> Ran:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *command,
        "--config",
        str(config),
        cwd=ROOT,
        env=_env(THIRD),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return await _finish(process, 60)


async def _ready(fake: FakeDiscord) -> None:
    async with asyncio.timeout(30):
        await fake.identified.wait()
        while "imagine" not in fake.commands:
            await asyncio.sleep(0.05)


async def _imagine(fake: FakeDiscord, prompt: str) -> Any:
    return await fake.send_interaction("imagine", [{"name": "prompt", "type": 3, "value": prompt}])


async def _delivered(
    interaction: Any, bot: asyncio.subprocess.Process | None = None
) -> FakeMessage:
    async with asyncio.timeout(40):
        while True:
            if bot is not None and bot.returncode is not None:
                raise AssertionError(f"the bot exited with {await _finish(bot, 10)}")
            message = interaction.original()
            if message is not None and message.attachments:
                return message  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


def _has_request_id(db: Path, job_id: int) -> bool:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        query = "SELECT provider_request_id FROM jobs WHERE id = ?"
        row = conn.execute(query, (job_id,)).fetchone()
    return row is not None and row[0] is not None


async def _request_id_recorded(db: Path, job_id: int) -> None:
    async with asyncio.timeout(20):
        while not await asyncio.to_thread(_has_request_id, db, job_id):
            await asyncio.sleep(0.05)


def _carrying(requests: Sequence[Any], secret: str) -> int:
    return sum(secret in str(r.headers.get("Authorization", "")) for r in requests)


async def _three_bots_on_one_ledger(fake_fal: FakeFal, tmp_path: Path) -> SharedLedger:
    fake = FakeDiscord()
    await fake.start()
    db = tmp_path / "data" / "bot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[discord]\napi_base = "{fake.api_base}"\ndev_guild_id = {fake.guild_id}\n'
        f'[database]\npath = "{db}"\n[quotas]\nimages_per_user_per_day = 10\n',
        encoding="utf-8",
    )
    processes: list[asyncio.subprocess.Process] = []
    try:
        processes.append(first := await _start(config, FIRST, output=False))
        await _ready(fake)
        processes.append(second := await _start(config, SECOND))
        refused = await _finish(second, 30)
        if refused.code is None:  # the steps below need the first bot to be the one connected
            raise AssertionError(f"a second bot on the same ledger kept running: {refused}")
        identifies = [p for p in fake.identify_payloads if p.get("token") == f"{SECOND}-token"]
        second_discord = _carrying(fake.requests, f"{SECOND}-token") + len(identifies)
        second_fal = _carrying(fake_fal.requests + fake_fal.platform_requests, f"{SECOND}-key")

        fake_fal.script(None, Script(queue_s=0.1, run_s=0.2, steps=2))
        first_job = await _delivered(await _imagine(fake, "a lighthouse"))
        await fake_fal.wait_for_submit(timeout=20)
        keys = [
            str(r.headers.get("Authorization")) for r in fake_fal.requests if r.method == "POST"
        ]

        fake_fal.script(None, Script(queue_s=0.3, queue_positions=[0], run_s=4.0, steps=8))
        killed = await _imagine(fake, "a phoenix")
        await fake_fal.wait_for_submit(timeout=20)
        await _request_id_recorded(db, 2)  # re-attachable from here on
        first.kill()  # SIGKILL mid-generation: no cleanup of any kind
        await first.wait()

        fake.identified.clear()
        processes.append(third := await _start(config, THIRD))
        resumed = await _delivered(killed, third)
        check = await _run(config, "db", "check")
        migrate = await _run(config, "db", "migrate")
        lock_text = await asyncio.to_thread(Path(f"{db}-lock").read_text, "utf-8")
        deliveries = len([r for r in fake.requests if r.files])
        third.send_signal(signal.SIGTERM)
        third_exit = (await _finish(third, 10)).code
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT state, quota_state FROM jobs ORDER BY id").fetchall()
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()
        await fake.close()
    return SharedLedger(
        db=db,
        first_pid=first.pid,
        second=refused,
        second_discord_requests=second_discord,
        second_fal_requests=second_fal,
        first_job=first_job,
        first_job_keys=keys,
        third_pid=third.pid,
        resumed_job=resumed,
        submits=len(fake_fal.submits),
        deliveries=deliveries,
        check=check,
        migrate=migrate,
        lock_after_migrate=lock_text,
        third_exit=third_exit,
        rows=rows,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SharedLedger]:
    """The whole run, once for the tests below (the fakes are closed before they run, so the
    fal port is free again for the other tests' `fake_fal`)."""
    async with fal_of_its_own() as fake_fal:
        outcome = await _three_bots_on_one_ledger(fake_fal, tmp_path_factory.mktemp("ledger"))
    yield outcome


def _in_use(db: Path, pid: int) -> str:
    return (
        f"database error: {db} is in use by another Art Factory process (pid {pid} on "
        f"{socket.gethostname()}): one "
        "SQLite ledger serves one process, or its jobs would run twice; stop that process "
        "first (several processes will need a shared PostgreSQL database).\n"
    )


def test_a_second_bot_on_the_same_ledger_exits_2_with_one_line_naming_the_first(
    shared: SharedLedger,
) -> None:
    assert shared.second.code == 2
    assert shared.second.stderr == _in_use(shared.db, shared.first_pid)  # no traceback, no log


def test_a_refused_second_bot_sends_nothing_to_discord(shared: SharedLedger) -> None:
    assert shared.second_discord_requests == 0


def test_a_refused_second_bot_sends_nothing_to_the_provider(shared: SharedLedger) -> None:
    assert shared.second_fal_requests == 0


def test_the_first_bot_keeps_serving_jobs_after_a_second_was_refused(
    shared: SharedLedger,
) -> None:
    assert len(shared.first_job.attachments) == 1
    assert shared.first_job_keys == [f"Key {FIRST}-key"]


def test_a_sigkilled_bot_leaves_no_lock_and_the_next_start_resumes_its_job_once(
    shared: SharedLedger,
) -> None:
    assert len(shared.resumed_job.attachments) == 1
    assert shared.submits == 2  # the resumed job was re-attached, not submitted again
    assert shared.deliveries == 2
    assert shared.rows == [("done", "committed"), ("done", "committed")]
    assert shared.third_exit == 0


def test_db_check_reads_the_ledger_while_a_bot_runs(shared: SharedLedger) -> None:
    assert shared.check.code == 0, shared.check.stderr
    assert shared.check.stdout == (
        f"database OK: {shared.db} (schema version {len(migrations())})\n"
    )


def test_db_migrate_is_refused_while_a_bot_runs(shared: SharedLedger) -> None:
    assert shared.migrate.code == 2
    assert shared.migrate.stderr == _in_use(shared.db, shared.third_pid)
    assert shared.lock_after_migrate.split()[0] == str(shared.third_pid)  # still the bot's


def _old_ledger(path: Path) -> None:
    """A ledger a release with only the first migration left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _, _, sql = migrations()[0]
    with sqlite3.connect(path) as conn:
        conn.executescript(f"{sql}\nPRAGMA user_version = 1;")


def _schema_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _db_command(tmp_path: Path, db: Path, command: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{db}"\n', encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "bot", "db", command, "--config", str(config)],
        env=_env(THIRD),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_db_check_reports_pending_migrations_without_applying_them(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _old_ledger(db)
    done = _db_command(tmp_path, db, "check")
    assert done.returncode == 0, done.stderr
    latest = len(migrations())
    assert done.stdout == (
        f"database OK: {db} (schema version 1 of {latest}: {latest - 1} migration(s) pending, "
        "applied at the bot's next start or by `python -m bot db migrate`)\n"
    )
    assert _schema_version(db) == 1


def test_db_migrate_applies_the_pending_migrations_when_no_bot_runs(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _old_ledger(db)
    done = _db_command(tmp_path, db, "migrate")
    assert done.returncode == 0, done.stderr
    latest = len(migrations())
    assert done.stdout == f"database migrated: {db} (schema version 1 → {latest})\n"
    assert _schema_version(db) == latest
