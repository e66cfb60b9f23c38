"""Chaos: jobs from several members while the real bot process is SIGKILLed again and again.

Whatever moment a kill lands on (acknowledgement, ledger write, submit, generation, delivery),
after the last restart every command is delivered exactly once or ended with a clear message,
nothing is submitted twice, quota used equals the images delivered, and no message is left at
"thinking…" or in a progress state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.bot.test_main import start_bot_process
from tests.conftest import FAL_PORT, TLS_MATERIAL
from tests.fakes.cdn import FakeCDN
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script

MEMBERS = (4001, 4002, 4003, 4004, 4005)
COMMANDS = 30
KILLS = 5
CALLBACK = r"^/interactions/\d+/[^/]+/callback$"
ENDED = ("didn't go through", "Generation failed", "Cancelled")


async def _wait_ready(fake: FakeDiscord) -> None:
    async with asyncio.timeout(40):
        await fake.identified.wait()
        while "imagine" not in fake.commands:
            await asyncio.sleep(0.05)


def _in_progress(message: FakeMessage) -> bool:
    """Still "thinking…", or a progress state (those carry the ❌ Cancel button)."""
    buttons = [
        c.get("custom_id", "")
        for row in message.components
        for c in row.get("components", [])
        if isinstance(c, dict)
    ]
    return message.loading or any(b.startswith("af:cancel:") for b in buttons)


def _image_messages(fake: FakeDiscord, interaction: Interaction) -> list[FakeMessage]:
    """Messages that carry this command's images: its response, or a reply in the channel."""
    out = []
    for message in fake.messages.values():
        if message.deleted or not message.attachments:
            continue
        original = message.id == interaction.original_message_id
        reply = (message.message_reference or {}).get("message_id") == str(
            interaction.original_message_id
        )
        if original or reply:
            out.append(message)
    return out


async def _settled(fake: FakeDiscord, sent: list[Interaction], timeout: float) -> None:
    """Until no message is in progress, or `timeout` (then the assertions name the stuck one)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                originals = [i.original() for i in sent]
                if not any(m is not None and not m.deleted and _in_progress(m) for m in originals):
                    return
                await asyncio.sleep(0.1)


@dataclass
class Aftermath:
    """What is left once the last restart has settled: the fakes' records and the ledger."""

    seed: int
    fake: FakeDiscord  # closed; its messages and requests are kept
    sent: list[Interaction]
    rows: list[tuple[Any, ...]]  # interaction_id, state, quota_state, image_count, withheld
    used: int  # images committed to quotas
    prompts: list[str]  # as submitted to fal, one per submit

    @property
    def why(self) -> str:
        return f"(CHAOS_SEED={self.seed})"

    @property
    def jobs(self) -> dict[int, tuple[Any, ...]]:
        return {int(row[0]): row for row in self.rows}

    @property
    def acknowledged(self) -> list[Interaction]:
        return [i for i in self.sent if i.response_type is not None]

    def delivered(self, interaction: Interaction) -> list[FakeMessage]:
        return _image_messages(self.fake, interaction)


async def _chaos(fake_fal: FakeFal, tmp_path: Path) -> Aftermath:
    """Members send COMMANDS while the bot process is SIGKILLed KILLS times and restarted."""
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1 << 30))
    rng = random.Random(seed)
    fake_fal.script(None, Script(queue_s=0.2, queue_positions=[0], run_s=1.2, steps=4))
    fake = FakeDiscord()
    await fake.start()
    db = tmp_path / "bot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[discord]\napi_base = "{fake.api_base}"\ndev_guild_id = {fake.guild_id}\n'
        f'[database]\npath = "{db}"\n[quotas]\nimages_per_user_per_day = 100\n'
        "[generation]\nretry_base_delay_s = 0.05\n[providers.fal]\npoll_interval_s = 0.2\n",
        encoding="utf-8",
    )
    process = await start_bot_process(config)
    sent: list[Interaction] = []
    try:
        await _wait_ready(fake)

        async def members() -> None:
            for n in range(COMMANDS):
                user = MEMBERS[n % len(MEMBERS)]
                options = [
                    {"name": "prompt", "type": 3, "value": f"chaos {n}"},
                    {"name": "count", "type": 4, "value": 1 + n % 2},
                ]
                # While the bot is down, Discord tells the member it did not respond.
                with contextlib.suppress(TimeoutError, ConnectionError):
                    sent.append(await fake.send_interaction("imagine", options, user_id=user))
                await asyncio.sleep(rng.uniform(0.05, 0.3))

        async def moment(kind: str) -> None:
            """Wait for the moment a kill lands on: a random time, or the arrival of the next
            acknowledgement (held, so the bot has taken no step past it), provider submit or
            result upload."""
            if kind == "time":
                await asyncio.sleep(rng.uniform(0.2, 1.5))
                return
            if kind == "ack":
                fake.inject("POST", CALLBACK, status=200, hold_s=30)
            seen = len(fake.requests)
            predicates = {
                "ack": lambda r: r.route.endswith("/callback"),
                "delivery": lambda r: bool(r.files),
            }
            with contextlib.suppress(TimeoutError):
                if kind == "submit":
                    await fake_fal.wait_for_submit(timeout=5)
                else:
                    match = predicates[kind]
                    await fake.wait_for_request(
                        lambda r: fake.requests.index(r) >= seen and match(r), timeout=5
                    )

        async def killer() -> None:
            nonlocal process
            for kind in rng.sample(["time", "ack", "submit", "delivery", "time"], KILLS):
                await moment(kind)
                process.kill()
                await process.wait()
                fake.clear_injections()
                fake.identified.clear()
                process = await start_bot_process(config)
                await _wait_ready(fake)

        await asyncio.gather(members(), killer())
        await _settled(fake, sent, timeout=60)
        await asyncio.sleep(0.5)  # anything sent twice would arrive now
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.close()

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT interaction_id, state, quota_state, image_count, withheld_images FROM jobs"
        ).fetchall()
        used = conn.execute(
            "SELECT COALESCE(SUM(image_count), 0) FROM jobs WHERE quota_state = 'committed'"
        ).fetchone()[0]
    prompts = [arguments["prompt"] for _, arguments, _ in fake_fal.submits]
    return Aftermath(seed, fake, sent, rows, used, prompts)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def aftermath(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Aftermath]:
    """The chaos run, once for all the tests below; its fakes are closed before they start
    (so the fal port is free again for other modules' `fake_fal`)."""
    cdn = FakeCDN()
    await cdn.start()
    fake_fal = FakeFal(TLS_MATERIAL, cdn, FAL_PORT)
    await fake_fal.start()
    try:
        outcome = await _chaos(fake_fal, tmp_path_factory.mktemp("chaos"))
    finally:
        await fake_fal.close()
        await cdn.close()
    yield outcome


def test_no_interaction_makes_two_jobs(aftermath: Aftermath) -> None:
    assert len(aftermath.jobs) == len(aftermath.rows), (
        f"one interaction made two jobs {aftermath.why}"
    )


def test_a_command_never_acknowledged_is_never_recorded(aftermath: Aftermath) -> None:
    for interaction in aftermath.sent:
        if interaction.response_type is None:
            assert interaction.id not in aftermath.jobs, aftermath.why


def test_every_acknowledged_command_has_its_response_message(aftermath: Aftermath) -> None:
    for interaction in aftermath.acknowledged:
        assert interaction.original() is not None, aftermath.why


def test_no_command_is_delivered_twice(aftermath: Aftermath) -> None:
    for interaction in aftermath.acknowledged:
        assert len(aftermath.delivered(interaction)) <= 1, f"delivered twice {aftermath.why}"


def test_a_delivered_command_is_done_in_the_ledger(aftermath: Aftermath) -> None:
    for interaction in aftermath.acknowledged:
        if aftermath.delivered(interaction):
            row = aftermath.jobs.get(interaction.id)
            assert row is not None and row[1] == "done", aftermath.why


def test_an_undelivered_command_ends_with_a_clear_message(aftermath: Aftermath) -> None:
    for interaction in aftermath.acknowledged:
        original = interaction.original()
        if original is not None and not aftermath.delivered(interaction):
            shown = original.content or ""
            assert any(words in shown for words in ENDED) or original.deleted, (
                shown,
                aftermath.why,
            )


def test_an_undelivered_command_is_ended_and_refunded_in_the_ledger(aftermath: Aftermath) -> None:
    for interaction in aftermath.acknowledged:
        if not aftermath.delivered(interaction):
            row = aftermath.jobs.get(interaction.id)
            assert row is None or row[1] in ("failed", "cancelled", "expired"), (
                row,
                aftermath.why,
            )


def test_no_message_is_left_thinking_or_in_progress(aftermath: Aftermath) -> None:
    for interaction in aftermath.acknowledged:
        original = interaction.original()
        if original is not None:
            assert not _in_progress(original), (
                f"left in progress: {original.content!r}",
                aftermath.why,
            )


def test_no_job_is_submitted_twice(aftermath: Aftermath) -> None:
    prompts = aftermath.prompts
    assert len(prompts) == len(set(prompts)), f"a job was submitted twice {aftermath.why}"


def test_quota_used_equals_the_images_delivered(aftermath: Aftermath) -> None:
    delivered_images = sum(
        len(messages[0].attachments)
        for interaction in aftermath.acknowledged
        if (messages := aftermath.delivered(interaction))
    )
    assert aftermath.used == delivered_images, aftermath.why
