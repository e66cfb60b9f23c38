"""The fake Discord's shards, spoken to over raw websockets as Discord's gateway documents them:
`GET /gateway/bot` names the shard count, IDENTIFY's `shard [i, n]` is checked (4010 invalid
shard, 4011 sharding required), READY and GUILD_CREATE follow the session's shard, and each
event goes only to the sessions of its guild's shard, `(guild_id >> 22) % n` (no guild: 0)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from .discord import FakeDiscord

TOKEN = "Bot fake-token"


@pytest.fixture
async def sharded() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(shard_count=2, max_concurrency=2)
    await fake.start()
    yield fake
    await fake.close()
    assert fake.spec_violations == []


class Session:
    """One raw gateway connection: what it received, in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            msg = await self.ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"closed: {self.ws.close_code}")
        frame: dict[str, Any] = msg.json()
        self.frames.append(frame)
        return frame

    async def identify(self, shard: list[int] | None) -> dict[str, Any]:
        """Send IDENTIFY; return READY (the GUILD_CREATEs that follow stay to be read)."""
        d: dict[str, Any] = {
            "token": "fake-token",
            "intents": 1,
            "properties": {"os": "linux", "browser": "test", "device": "test"},
        }
        if shard is not None:
            d["shard"] = shard
        await self.ws.send_json({"op": 2, "d": d})
        return await self.next()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [f["d"] for f in self.frames if f.get("t") == name]


@asynccontextmanager
async def gateway(fake: FakeDiscord) -> AsyncIterator[Session]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(fake.gateway_url + "?v=10&encoding=json") as ws,
    ):
        session = Session(ws)
        hello = await session.next()
        assert hello["op"] == 10
        yield session


async def drain(session: Session, until: str, timeout: float = 5.0) -> None:
    """Read frames until an event named `until` arrived."""
    while not session.events(until):
        await session.next(timeout)


async def test_gateway_bot_names_the_configured_shard_count_and_concurrency(
    sharded: FakeDiscord,
) -> None:
    async with (
        aiohttp.ClientSession(headers={"Authorization": TOKEN}) as http,
        http.get(sharded.api_base + "/gateway/bot") as resp,
    ):
        body = await resp.json()
    assert body["url"] == sharded.gateway_url
    assert body["shards"] == 2
    assert body["session_start_limit"]["max_concurrency"] == 2


async def test_a_shard_id_outside_the_shard_count_is_closed_with_4010(sharded: FakeDiscord) -> None:
    async with gateway(sharded) as session:
        with pytest.raises(ConnectionError):
            await session.identify([2, 2])
        assert session.ws.close_code == 4010
    assert sharded.gateway_closes == [4010]
    assert sharded.live_shards() == []


async def test_fewer_shards_than_discord_requires_is_closed_with_4011(sharded: FakeDiscord) -> None:
    for shard in ([0, 1], None):  # one shard of one, and no shard at all
        async with gateway(sharded) as session:
            with pytest.raises(ConnectionError):
                await session.identify(shard)
            assert session.ws.close_code == 4011
    assert sharded.gateway_closes == [4011, 4011]
    assert sharded.live_shards() == []


async def test_ready_and_guild_create_follow_the_sessions_shard(sharded: FakeDiscord) -> None:
    second = sharded.add_guild(shard=1)
    assert sharded.shard_of(second) == 1 and sharded.shard_of(sharded.guild_id) == 0
    async with gateway(sharded) as zero, gateway(sharded) as one:
        ready0, ready1 = await zero.identify([0, 2]), await one.identify([1, 2])
        await drain(zero, "GUILD_CREATE")
        await drain(one, "GUILD_CREATE")
        assert ready0["d"]["shard"] == [0, 2] and ready1["d"]["shard"] == [1, 2]
        assert [g["id"] for g in ready0["d"]["guilds"]] == [str(sharded.guild_id)]
        assert [g["id"] for g in ready1["d"]["guilds"]] == [str(second)]
        assert [g["id"] for g in zero.events("GUILD_CREATE")] == [str(sharded.guild_id)]
        assert [g["id"] for g in one.events("GUILD_CREATE")] == [str(second)]
        channel = one.events("GUILD_CREATE")[0]["channels"][0]
        assert channel["id"] == str(sharded.guild_channels[second])
        assert channel["guild_id"] == str(second)


async def test_each_guilds_events_go_only_to_its_shard_and_the_rest_to_shard_zero(
    sharded: FakeDiscord,
) -> None:
    second = sharded.add_guild(shard=1)
    async with gateway(sharded) as zero, gateway(sharded) as one:
        await zero.identify([0, 2])
        await one.identify([1, 2])
        await drain(zero, "GUILD_CREATE")
        await drain(one, "GUILD_CREATE")
        await sharded.send_interaction("imagine", guild_id=second)
        await sharded.send_interaction("imagine")  # the first guild
        await sharded.send_raw_interaction({"user": sharded.user_json(4000)})  # a DM
        for session, shard in ((zero, 0), (one, 1)):  # whatever came before it was sent
            await sharded.dispatch("TEST_MARKER", {}, shard=shard)
            await drain(session, "TEST_MARKER")
    on_one = [d.get("guild_id") for d in one.events("INTERACTION_CREATE")]
    on_zero = [d.get("guild_id") for d in zero.events("INTERACTION_CREATE")]
    assert on_one == [str(second)]
    assert on_zero == [str(sharded.guild_id), None]
    sent = [d.shard for d in sharded.dispatches if d.event == "INTERACTION_CREATE"]
    assert sent == [[1, 2], [0, 2], [0, 2]]


async def test_two_sessions_of_one_shard_both_receive_its_events(sharded: FakeDiscord) -> None:
    """Discord: "You can establish multiple sessions with the same [shard_id, num_shards]";
    num_shards only routes traffic, so both sessions get the shard's events."""
    async with gateway(sharded) as first, gateway(sharded) as again:
        await first.identify([0, 2])
        await again.identify([0, 2])
        await drain(first, "GUILD_CREATE")
        await drain(again, "GUILD_CREATE")
        await sharded.send_interaction("imagine")
        await drain(first, "INTERACTION_CREATE")
        await drain(again, "INTERACTION_CREATE")
        assert sorted(sharded.live_shards()) == [[0, 2], [0, 2]]
    assert sharded.gateway_closes == []


async def test_a_guild_made_for_a_shard_lands_on_it_for_any_shard_count() -> None:
    fake = FakeDiscord(shard_count=3)
    guilds = [fake.add_guild(shard=s) for s in (2, 1, 0, 2)]
    assert [fake.shard_of(g) for g in guilds] == [2, 1, 0, 2]
    assert len(set(guilds)) == 4
    assert [(g >> 22) % 3 for g in guilds] == [2, 1, 0, 2]
    with pytest.raises(ValueError):
        fake.add_guild(shard=3)


async def test_an_interaction_sent_to_chosen_shards_reaches_each_and_is_acknowledged_once(
    sharded: FakeDiscord,
) -> None:
    """One INTERACTION_CREATE delivered to two shards (two processes of one bot): both get the
    same id and token; the first callback is taken, the second gets 40060 as on Discord."""
    async with gateway(sharded) as zero, gateway(sharded) as one:
        await zero.identify([0, 2])
        await one.identify([1, 2])  # no guild of its own: no GUILD_CREATE
        await drain(zero, "GUILD_CREATE")
        sent = await sharded.send_interaction("imagine", shard=[0, 1])
        await drain(zero, "INTERACTION_CREATE")
        await drain(one, "INTERACTION_CREATE")
        moved = await sharded.send_interaction("imagine", shard=1)  # the first guild's, on 1
        while len(one.events("INTERACTION_CREATE")) < 2:
            await one.next()
    first, second = zero.events("INTERACTION_CREATE")[0], one.events("INTERACTION_CREATE")[0]
    assert (
        (first["id"], first["token"])
        == (second["id"], second["token"])
        == (
            str(sent.id),
            sent.token,
        )
    )
    assert [d["id"] for d in one.events("INTERACTION_CREATE")] == [str(sent.id), str(moved.id)]
    assert [d["id"] for d in zero.events("INTERACTION_CREATE")] == [str(sent.id)]
    url = f"{sharded.api_base}/interactions/{sent.id}/{sent.token}/callback"
    async with aiohttp.ClientSession() as http:
        answers: list[tuple[int, Any]] = []
        for _ in range(2):
            async with http.post(url, json={"type": 5}) as resp:
                answers.append((resp.status, await resp.json() if resp.status != 204 else None))
    assert answers[0] == (204, None)
    assert answers[1][0] == 400 and answers[1][1]["code"] == 40060


async def test_peak_requests_per_second_counts_every_client_in_rate_limit_windows(
    sharded: FakeDiscord,
) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": TOKEN}) as http:
        for _ in range(3):
            async with http.get(sharded.api_base + "/users/@me"):
                pass
    other = {"Authorization": "Bot other-token"}  # another process of the bot
    async with (
        aiohttp.ClientSession(headers=other) as http,
        http.get(sharded.api_base + "/users/@me"),
    ):
        pass
    assert sharded.peak_requests_per_second() == 4
    assert sharded.peak_requests_per_second(since=sharded.requests[2].time) == 2
    for rec, at in zip(sharded.requests, (100.0, 100.6, 101.1, 101.5), strict=True):
        rec.time = at  # windows [100, 101) and [101.1, 102.1): not [100.6, 101.6)
    assert sharded.peak_requests_per_second() == 2
