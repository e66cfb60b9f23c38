"""IDENTIFY pacing end to end: the real bot's shards against a fake Discord that enforces
Discord's IDENTIFY limits (tests/fakes/discord/identify.py): one IDENTIFY per bucket
`shard_id % max_concurrency` per window, else op 9; none past `session_start_limit.remaining`
before `reset_after`, else close 4004. The bot paces by what `GET /gateway/bot` answered
(bot/identify.py); both windows are shortened from Discord's 5 s to WINDOW_S here."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot import identify
from tests.fakes.discord import FakeDiscord
from tests.harness import running_bot

WINDOW_S = 1.0
DISCORD_PY_PAUSE_S = 5.0  # what discord.py's own hook sleeps before each IDENTIFY but the first


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identify, "IDENTIFY_WINDOW_S", WINDOW_S)


@asynccontextmanager
async def enforcing_fake(shards: int, max_concurrency: int) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(
        shard_count=shards, max_concurrency=max_concurrency, identify_window_s=WINDOW_S
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
    assert fake.spec_violations == [], fake.spec_violations


def identified(fake: FakeDiscord) -> list[list[int]]:
    return [payload["shard"] for payload in fake.identify_payloads]


async def test_shards_of_different_buckets_identify_together_and_a_bucket_waits_its_window(
    db_path: Path,
) -> None:
    async with (
        enforcing_fake(shards=4, max_concurrency=2) as fake,
        running_bot(fake, db_path) as h,
    ):
        assert identified(fake) == [[0, 4], [1, 4], [2, 4], [3, 4]]
        assert fake.rate_limited_identifies == [] and fake.gateway_closes == []
        t0, t1, t2, t3 = fake.identify_times
        # round one: shard 1 (bucket 1) did not wait for shard 0 (bucket 0), nor 3 for 2
        assert t1 - t0 < WINDOW_S and t3 - t2 < WINDOW_S
        assert t2 - t0 >= WINDOW_S  # round two: bucket 0 again, a window later
        assert sorted(fake.live_shards()) == [[0, 4], [1, 4], [2, 4], [3, 4]]
        assert sorted(h.bot.shards) == [0, 1, 2, 3]


async def test_with_max_concurrency_1_the_shards_identify_one_window_apart(
    db_path: Path,
) -> None:
    async with (
        enforcing_fake(shards=3, max_concurrency=1) as fake,
        running_bot(fake, db_path, discord={"shard_count": 3}) as h,
    ):
        assert identified(fake) == [[0, 3], [1, 3], [2, 3]]
        assert fake.rate_limited_identifies == [] and fake.gateway_closes == []
        times = fake.identify_times
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        # one bucket: each waits the window Discord set, not discord.py's fixed pause
        assert all(WINDOW_S <= gap < DISCORD_PY_PAUSE_S for gap in gaps), gaps
        assert sorted(fake.live_shards()) == [[0, 3], [1, 3], [2, 3]]
        assert sorted(h.bot.shards) == [0, 1, 2]


async def test_with_no_session_start_left_the_bot_waits_reset_after_and_says_why_once(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with enforcing_fake(shards=2, max_concurrency=2) as fake:
        fake.set_session_start_limit(remaining=0, reset_after_s=1.0)
        with caplog.at_level(logging.WARNING, logger="bot.identify"):
            async with running_bot(fake, db_path) as h:
                # an IDENTIFY before the reset would have been closed with 4004
                assert fake.gateway_closes == [] and fake.rate_limited_identifies == []
                assert identified(fake) == [[0, 2], [1, 2]]
                assert sorted(fake.live_shards()) == [[0, 2], [1, 2]]
                assert sorted(h.bot.shards) == [0, 1]
    said = [r.getMessage() for r in caplog.records if r.name == "bot.identify"]
    assert len(said) == 1, said
    assert said[0].startswith("Discord allows no more gateway sessions until its limit resets")
    assert re.search(r"\(session_start_limit: 0 of 1000 left\): waiting \d+ s before", said[0])
