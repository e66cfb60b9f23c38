"""The gateway connection end to end: a session Discord ends is re-identified on the gateway
that `GET {api_base}/gateway/bot` names, never on discord.py's built-in gateway.discord.gg."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal
from tests.harness import ENV, Harness, running_bot


async def _identify_now(shard_id: int | None, *, initial: bool = False) -> None:
    """The bot waits a random 1-5 s before it IDENTIFYs a shard again (bot/identify.py: Discord
    asks for it after an INVALID_SESSION); the wait has nothing to do with where the bot
    connects, so tests skip it."""


def skip_identify_pause(h: Harness) -> None:
    h.bot.before_identify_hook = _identify_now  # type: ignore[method-assign]


async def wait_for_identifies(fake: FakeDiscord, count: int) -> None:
    async with asyncio.timeout(15):
        while len(fake.identify_payloads) < count:
            await asyncio.sleep(0.02)


async def assert_imagine_works(h: Harness, fake_fal: FakeFal) -> None:
    interaction = await h.imagine(prompt="a lighthouse after the storm")
    await h.idle()
    assert len(h.original(interaction).attachments) == 1
    job = await h.job_for(interaction)
    assert job is not None and job.state == "done"
    assert len(fake_fal.submits) == 1


async def test_after_an_invalid_session_the_bot_identifies_again_on_the_configured_gateway(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        skip_identify_pause(h)
        await fake_discord.invalidate_session(resumable=False)
        await wait_for_identifies(fake_discord, 2)
        assert fake_discord.identify_payloads[1]["token"] == ENV["DISCORD_TOKEN"]
        assert fake_discord.resume_count == 0
        await assert_imagine_works(h, fake_fal)


async def test_a_failed_resume_identifies_again_on_the_configured_gateway(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        skip_identify_pause(h)
        await fake_discord.disconnect_gateway(resumable=False)
        await wait_for_identifies(fake_discord, 2)
        assert fake_discord.failed_resumes == 1  # it tried to RESUME first, and was refused
        assert fake_discord.resume_count == 0
        await assert_imagine_works(h, fake_fal)


async def test_with_shard_count_configured_every_identify_uses_the_configured_gateway(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path, discord={"shard_count": 1}) as h:
        skip_identify_pause(h)
        assert fake_discord.identify_payloads[0]["shard"] == [0, 1]
        await fake_discord.invalidate_session(resumable=False)
        await wait_for_identifies(fake_discord, 2)
        assert fake_discord.identify_payloads[1]["shard"] == [0, 1]
        await assert_imagine_works(h, fake_fal)


async def test_the_gateway_reader_lets_the_loop_run_between_two_buffered_messages() -> None:
    """aiohttp returns a buffered message without suspending: without a turn in between, a
    burst of commands is parsed whole before any handler can acknowledge (issue 14)."""
    from bot.gateway import take_turns

    class Buffered:
        async def receive(self, timeout: float | None = None) -> str:
            return "message"  # already buffered: no suspension

    order: list[str] = []
    socket = take_turns(Buffered())  # type: ignore[arg-type]

    async def handler() -> None:
        order.append("handler")

    first = await socket.receive()
    order.append(first)
    asyncio.get_running_loop().create_task(handler())  # what dispatching the event starts
    order.append(await socket.receive())
    assert order == ["message", "handler", "message"]
