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
from pathlib import Path

from tests.bot.test_main import start_bot_process
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


async def test_thirty_jobs_survive_five_sigkills_delivered_once_or_ended_clearly(
    fake_fal: FakeFal, tmp_path: Path
) -> None:
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

    why = f"(CHAOS_SEED={seed})"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT interaction_id, state, quota_state, image_count, withheld_images FROM jobs"
        ).fetchall()
        used = conn.execute(
            "SELECT COALESCE(SUM(image_count), 0) FROM jobs WHERE quota_state = 'committed'"
        ).fetchone()[0]
    jobs = {int(r[0]): r for r in rows}
    assert len(jobs) == len(rows), f"one interaction made two jobs {why}"
    delivered_images = 0
    for interaction in sent:
        original = interaction.original()
        if interaction.response_type is None:
            assert interaction.id not in jobs, why  # never acknowledged, never recorded
            continue
        assert original is not None, why
        with_images = _image_messages(fake, interaction)
        assert len(with_images) <= 1, f"delivered twice {why}"
        row = jobs.get(interaction.id)
        if with_images:
            assert row is not None and row[1] == "done", why
            delivered_images += len(with_images[0].attachments)
        else:
            shown = original.content or ""
            assert any(words in shown for words in ENDED) or original.deleted, (shown, why)
            assert row is None or row[1] in ("failed", "cancelled", "expired"), (row, why)
        assert not _in_progress(original), (f"left in progress: {original.content!r}", why)
    prompts = [arguments["prompt"] for _, arguments, _ in fake_fal.submits]
    assert len(prompts) == len(set(prompts)), f"a job was submitted twice {why}"
    assert used == delivered_images, why
