"""fal-client's one httpx pool is never given a queue (bot/providers/fal.py `CALLS_IN_FLIGHT`):
httpcore re-scans every waiting request on each release, so thousands of waiting results made
every release quadratic (issue 14). The bot waits on its own semaphore instead."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.config import parse_config
from bot.providers import fal as fal_module
from bot.providers.fal import FalProvider
from bot.providers.request import build_request
from tests.fakes.fal import FakeFal, Script

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}
DELAY_S = 0.3


async def test_no_more_than_calls_in_flight_fal_requests_enter_the_http_pool(
    fake_fal: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fal_module, "CALLS_IN_FLIGHT", 2)
    fake_fal.script(None, Script(queue_s=0.0, run_s=0.0, steps=1))
    provider = FalProvider("k")
    request = build_request(parse_config({}, ENV), prompt="pooled")
    try:
        ids = [await provider.submit(request) for _ in range(8)]
        await asyncio.sleep(0.2)  # every one has completed at the fake
        fake_fal.inject("GET", r"/requests/[^/]+$", delay=DELAY_S, times=8)
        started = time.monotonic()
        results = await asyncio.gather(*(provider.result(request.model, rid) for rid in ids))
        elapsed = time.monotonic() - started
    finally:
        await provider.close()
    assert all(result.images for result in results)
    # Eight slowed answers, two at a time: four rounds (all at once would take one).
    assert elapsed >= 4 * DELAY_S * 0.9, elapsed
