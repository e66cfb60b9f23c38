"""bot/early_ack.py: in a burst, an /imagine is acknowledged from its gateway event, before
discord.py builds the interaction, and nobody is left at "thinking…" whatever happens next."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.state
import pytest

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


class Answer:
    status = 200
    body = b'{"interaction": {"id": "900", "response_message_id": "1234"}}'

    async def read(self) -> bytes:
        return self.body


class Session:
    """Records each request and what the journal held when it was made."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.requests: list[tuple[str, str, int]] = []

    @contextlib.asynccontextmanager
    async def _request(self, method: str, url: str, **_: Any) -> AsyncIterator[Answer]:
        self.requests.append((method, url, self.intake.pending))
        yield Answer()

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self._request("DELETE", url, **kwargs)


class State:
    def __init__(self) -> None:
        self.parsed: list[dict[str, Any]] = []
        self.parsers = {"INTERACTION_CREATE": self.parsed.append}


def early_acks(
    intake: Intake, monkeypatch: pytest.MonkeyPatch, *, burst: bool
) -> tuple[EarlyAcks, Session, State]:
    monkeypatch.setattr(journal, "BURST_ACKS", 0 if burst else 10**9)
    session, state = Session(intake), State()
    acks = EarlyAcks(intake, "http://discord.test/api/v10", "DiscordBot (x, 1)", session)  # type: ignore[arg-type]
    return acks.install(state), session, state


async def test_the_journal_notes_an_early_acknowledgement_before_it_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    intake = Intake(None)
    acks, session, _ = early_acks(intake, monkeypatch, burst=True)
    acks.parse(RAW)
    early = acks.claim(900)
    assert early is not None and await early.sent == 1234
    method, url, journalled = session.requests[0]
    assert (method, url) == ("POST", "http://discord.test/api/v10/interactions/900/tok900/callback")
    assert journalled == 1


async def test_an_acknowledgement_whose_answer_names_no_message_has_still_landed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Answer, "body", b"<html>")
    acks, _, _ = early_acks(Intake(None), monkeypatch, burst=True)
    acks.parse(RAW)
    early = acks.claim(900)
    assert early is not None and await early.sent is None  # not NOT_SENT: no second ack


async def test_outside_a_burst_the_event_goes_straight_to_discord_py(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    intake = Intake(None)
    acks, session, state = early_acks(intake, monkeypatch, burst=False)
    acks.parse(RAW)
    assert state.parsed == [RAW]
    assert session.requests == [] and intake.pending == 0


async def test_an_early_acknowledgement_no_handler_claims_is_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(early_ack, "UNCLAIMED_AFTER_S", 0.05)
    intake = Intake(None)
    acks, session, state = early_acks(intake, monkeypatch, burst=True)
    acks.parse(RAW)  # discord.py gets it, and (here) nobody handles it
    async with asyncio.timeout(5):
        while intake.pending:
            await asyncio.sleep(0.01)
    assert state.parsed == [RAW]
    assert [(m, u.rsplit("/", 2)[-2:]) for m, u, _ in session.requests] == [
        ("POST", ["tok900", "callback"]),
        ("DELETE", ["messages", "@original"]),
        ("POST", ["5", "tok900"]),
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    intake = Intake(None)
    acks, session, state = early_acks(intake, monkeypatch, burst=True)
    odd = {key: value for key, value in RAW.items() if key != "token"}
    acks.parse(odd)
    assert state.parsed == [odd]
    assert session.requests == [] and intake.pending == 0
