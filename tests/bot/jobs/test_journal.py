"""A command acknowledged just before a crash is answered after the restart
(bot/jobs/journal.py)."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.jobs.journal import Acknowledged, Intake, parse
from bot.jobs.model import Origin
from tests.bot.test_main import start_bot_process
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import running_bot

CALLBACK = r"^/interactions/\d+/[^/]+/callback$"


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def _entry(interaction_id: int, received_at: float = 1e12) -> Acknowledged:
    return Acknowledged(Origin(3, None, 2, 1, interaction_id, "tok", received_at), "`/imagine`")


@dataclass
class Restarted:
    """A command whose acknowledgement Discord applied while the bot was SIGKILLed, and the
    bot process started again after it."""

    fake: FakeDiscord
    interaction: Interaction
    process: asyncio.subprocess.Process
    db: Path


@asynccontextmanager
async def killed_at_ack(
    tmp_path: Path, command: str, options: list[dict[str, Any]]
) -> AsyncIterator[Restarted]:
    fake = FakeDiscord()
    await fake.start()
    db = tmp_path / "bot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[discord]\napi_base = "{fake.api_base}"\ndev_guild_id = {fake.guild_id}\n'
        f'[database]\npath = "{db}"\n[quotas]\nimages_per_user_per_day = 5\n',
        encoding="utf-8",
    )
    processes = [await start_bot_process(config)]
    try:
        async with asyncio.timeout(30):
            await fake.identified.wait()
            while command not in fake.commands:
                await asyncio.sleep(0.05)
        # Discord applies the acknowledgement ("thinking…") but the bot never hears back:
        # it dies at exactly that moment, before anything reached its ledger.
        fake.inject("POST", CALLBACK, status=200, hold_s=30)
        interaction = await fake.send_interaction(command, options)
        async with asyncio.timeout(20):
            while interaction.original() is None:
                await asyncio.sleep(0.02)
        processes[0].kill()
        await processes[0].wait()
        assert interaction.original().loading  # type: ignore[union-attr]
        fake.identified.clear()
        processes.append(await start_bot_process(config))
        yield Restarted(fake, interaction, processes[-1], db)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await fake.close()


async def shown_after_restart(interaction: Interaction, words: str) -> FakeMessage:
    async with asyncio.timeout(40):
        while words not in (interaction.original().content or ""):  # type: ignore[union-attr]
            await asyncio.sleep(0.05)
    answer = interaction.original()
    assert answer is not None and not answer.loading
    return answer


async def test_a_command_killed_at_its_acknowledgement_is_answered_after_restart(
    fake_fal: FakeFal, tmp_path: Path
) -> None:
    prompt = [{"name": "prompt", "type": 3, "value": "a lighthouse"}]
    async with killed_at_ack(tmp_path, "imagine", prompt) as run:
        answer = await shown_after_restart(run.interaction, "didn't go through")
        assert answer.content == (
            "⚠️ `/imagine` didn't go through: the bot restarted before it was recorded. "
            "Nothing was charged — please run it again."
        )
        run.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await run.process.wait() == 0
        with sqlite3.connect(run.db) as conn:
            assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
        assert fake_fal.submits == []
        assert parse((tmp_path / "bot.db-intake").read_text().splitlines()) == []


async def test_an_acknowledged_command_that_became_a_job_is_left_to_the_runner(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, run_s=0.2, steps=2))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="a quiet harbour")
        await h.idle()
    delivered = h.original(interaction)
    assert delivered.attachments
    # A crash after the ledger write but before the journal's "done" line:
    journal = Path(f"{db_path}-intake")
    origin = Origin(
        user_id=4000,
        guild_id=fake_discord.guild_id,
        channel_id=fake_discord.channel_id,
        application_id=fake_discord.app_id,
        interaction_id=interaction.id,
        interaction_token=interaction.token,
        interaction_created_at=time.time(),
    )
    _append(journal, json.dumps({"ack": Acknowledged(origin, "`/imagine`").to_json()}))
    edits_before = len(delivered.history)
    async with running_bot(fake_discord, db_path) as h2:
        await asyncio.sleep(0)  # let the recovery task run
        if h2.bot._recovery is not None:
            await h2.bot._recovery
        assert h2.bot.intake.pending == 0
    assert len(delivered.history) == edits_before
    assert "didn't go through" not in (delivered.content or "")


def test_a_torn_last_line_is_skipped_and_settled_entries_are_not_open() -> None:
    lines = [
        json.dumps({"ack": _entry(1).to_json()}),
        json.dumps({"ack": _entry(2).to_json()}),
        json.dumps({"done": 1}),
        '{"ack": {"origin": {"user_id": 3, "gui',
    ]
    assert [e.interaction_id for e in parse(lines)] == [2]


def test_the_journal_keeps_only_open_entries_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "x.db-intake"
    first = Intake(path)
    assert first.start() == []
    first.begin(_entry(1))
    first.begin(_entry(2))
    first.settle(1)
    first.close()  # the process dies here
    second = Intake(path)
    assert [e.interaction_id for e in second.start()] == [2]
    second.settle(2)
    second.close()
    assert Intake(path).start() == []


def test_an_acknowledgement_that_landed_records_the_message_to_replace() -> None:
    lines = [
        json.dumps({"ack": _entry(7).to_json()}),
        json.dumps({"acked": 7, "message": 99}),
    ]
    (entry,) = parse(lines)
    assert entry.origin.message_id == 99


async def test_a_button_left_open_is_answered_in_the_channel_never_over_the_result(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, run_s=0.2, steps=2))
    async with running_bot(fake_discord, db_path) as h:
        command = await h.imagine(prompt="a lantern", user_id=4000)
        await h.idle()
        result = h.original(command)
        click = await fake_discord.send_component(result, "af:v:999999:1", user_id=4001)
        await h.settled()
    shown = (result.content, [a.filename for a in result.attachments])
    # A crash after the journal noted the click, before its acknowledgement was known to land:
    origin = Origin(
        user_id=4001,
        guild_id=fake_discord.guild_id,
        channel_id=fake_discord.channel_id,
        application_id=fake_discord.app_id,
        interaction_id=click.id,
        interaction_token=click.token,
        interaction_created_at=time.time(),
    )
    entry = Acknowledged(origin, "the button you clicked", command=False)
    _append(Path(f"{db_path}-intake"), json.dumps({"ack": entry.to_json()}))
    async with running_bot(fake_discord, db_path) as h2:
        if h2.bot._recovery is not None:
            await h2.bot._recovery
    assert (result.content, [a.filename for a in result.attachments]) == shown
    (notice,) = [
        m
        for m in fake_discord.channel_messages(fake_discord.channel_id)
        if "didn't go through" in (m.content or "")
    ]
    assert notice.content == (
        "<@4001> ⚠️ the button you clicked didn't go through: the bot restarted before it was "
        "recorded. Nothing was charged — please run it again."
    )


async def test_a_private_answer_killed_at_its_acknowledgement_is_answered_after_restart(
    fake_fal: FakeFal, tmp_path: Path
) -> None:
    async with killed_at_ack(tmp_path, "usage", []) as run:
        answer = await shown_after_restart(run.interaction, "restarted")
        assert answer.ephemeral
        assert answer.content == (
            "⚠️ The bot restarted before it could answer `/usage`: please run it again."
        )


async def test_every_acknowledged_command_is_settled_once_answered(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, run_s=0.2, steps=2))
    async with running_bot(fake_discord, db_path) as h:
        await h.imagine(prompt="a kite")
        for name in ("usage", "providers"):
            await fake_discord.send_interaction(name, [])
        await fake_discord.send_interaction("loras", [{"name": "list", "type": 1}])
        await fake_discord.send_interaction("gallery", [{"name": "top", "type": 1}])
        await h.idle()
        assert h.bot.intake.pending == 0
