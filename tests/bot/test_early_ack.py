"""bot/early_ack.py: in a burst, an /imagine is acknowledged from its gateway event, before
discord.py builds the interaction, and nobody is left at "thinking…" whatever happens next."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.state
import pytest
from aiohttp import web

from bot import early_ack
from bot.early_ack import EarlyAcks
from bot.jobs import journal
from bot.jobs.journal import Intake
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.harness import running_bot

RAW = {
    "id": "900",
    "token": "tok900",
    "application_id": "5",
    "type": 2,
    "guild_id": "7",
    "channel_id": "8",
    "member": {"user": {"id": "4000"}, "roles": ["11"]},
    "data": {"name": "imagine", "type": 1, "options": []},
}


class DiscordApi:
    """Discord's interaction endpoints on loopback: records each request (method, path) with
    what the journal held when it arrived."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.requests: list[tuple[str, str, int]] = []
        self.callback_answer = b'{"interaction": {"id": "900", "response_message_id": "1234"}}'
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path, self.intake.pending))
        if request.path.endswith("/callback"):
            return web.Response(body=self.callback_answer, content_type="application/json")
        return web.Response(status=204)


@pytest.fixture
async def api() -> AsyncIterator[DiscordApi]:
    served = DiscordApi(Intake(None))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    served.base = f"http://127.0.0.1:{port}/api/v10"
    yield served
    await runner.cleanup()


class State:
    def __init__(self) -> None:
        self.parsed: list[dict[str, Any]] = []
        self.parsers = {"INTERACTION_CREATE": self.parsed.append}


@pytest.fixture
async def acks(api: DiscordApi) -> AsyncIterator[EarlyAcks]:
    made = EarlyAcks(api.intake, api.base, "DiscordBot (x, 1)")
    yield made
    await made.close()


def installed(
    acks: EarlyAcks, monkeypatch: pytest.MonkeyPatch, *, burst: bool
) -> tuple[EarlyAcks, State]:
    monkeypatch.setattr(journal, "BURST_ACKS", 0 if burst else 10**9)
    state = State()
    return acks.install(state), state


async def test_the_journal_notes_an_early_acknowledgement_before_it_is_sent(
    api: DiscordApi, acks: EarlyAcks, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed(acks, monkeypatch, burst=True)[0].parse(RAW)
    early = acks.claim(900)
    assert early is not None and await early.sent == 1234
    assert api.requests == [("POST", "/api/v10/interactions/900/tok900/callback", 1)]


async def test_an_acknowledgement_whose_answer_names_no_message_has_still_landed(
    api: DiscordApi, acks: EarlyAcks, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.callback_answer = b"<html>"
    installed(acks, monkeypatch, burst=True)[0].parse(RAW)
    early = acks.claim(900)
    assert early is not None and await early.sent is None  # not NOT_SENT: no second ack


async def test_outside_a_burst_the_event_goes_straight_to_discord_py(
    api: DiscordApi, acks: EarlyAcks, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, state = installed(acks, monkeypatch, burst=False)
    acks.parse(RAW)
    assert state.parsed == [RAW]
    assert api.requests == [] and api.intake.pending == 0


async def test_an_early_acknowledgement_no_handler_claims_is_answered(
    api: DiscordApi, acks: EarlyAcks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(early_ack, "UNCLAIMED_AFTER_S", 0.05)
    _, state = installed(acks, monkeypatch, burst=True)
    acks.parse(RAW)  # discord.py gets it, and (here) nobody handles it
    async with asyncio.timeout(5):
        while api.intake.pending:
            await asyncio.sleep(0.01)
    assert state.parsed == [RAW]
    assert [(method, path) for method, path, _ in api.requests] == [
        ("POST", "/api/v10/interactions/900/tok900/callback"),
        ("DELETE", "/api/v10/webhooks/5/tok900/messages/@original"),
        ("POST", "/api/v10/webhooks/5/tok900"),
    ]


async def test_in_a_burst_imagine_is_acknowledged_before_discord_py_builds_the_interaction(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "BURST_ACKS", 0)  # every command counts as part of a burst
    callbacks_when_parsed: list[int] = []
    parse = discord.state.ConnectionState.parse_interaction_create

    def recording(self: discord.state.ConnectionState, data: dict[str, Any]) -> None:
        sent = fake_discord.interactions[-1]
        callbacks_when_parsed.append(len(sent.callbacks()))
        parse(self, data)

    monkeypatch.setattr(discord.state.ConnectionState, "parse_interaction_create", recording)
    fake_fal.script(None, Script(queue_s=0.0, run_s=0.1, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="early")
        await h.idle()
        assert callbacks_when_parsed == [1]
        assert [c.json["type"] for c in interaction.callbacks()] == [5]  # and only that one
        assert len(h.original(interaction).attachments) == 1
        job = await h.job_for(interaction)
        assert job is not None and job.message_id == h.original(interaction).id
        assert h.bot.intake.pending == 0


async def test_a_command_refused_before_its_cog_keeps_no_early_placeholder(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "BURST_ACKS", 0)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.discord.send_interaction(
            "imagine",
            [
                {"name": "prompt", "type": 3, "value": "a fox"},
                {"name": "count", "type": 3, "value": "four"},
            ],
        )
        await h.settled()
        assert [c.json["type"] for c in interaction.callbacks()] == [5]
        original = interaction.original()
        assert original is None or original.deleted
        followups = interaction.followups()
        assert len(followups) == 1 and followups[0].flags & 64
        assert "`count` must be a whole number" in followups[0].content
        assert await h.job_for(interaction) is None
        assert h.bot.intake.pending == 0
    assert fake_fal.requests == []


async def test_an_event_it_cannot_read_goes_to_discord_py_unacknowledged(
    api: DiscordApi, acks: EarlyAcks, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, state = installed(acks, monkeypatch, burst=True)
    odd = {key: value for key, value in RAW.items() if key != "token"}
    acks.parse(odd)
    assert state.parsed == [odd]
    assert api.requests == [] and api.intake.pending == 0
