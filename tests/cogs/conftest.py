from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.discord import FakeDiscord


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    assert server.spec_violations == [], server.spec_violations
    await server.close()
