"""Fixtures of the fakes' own tests: a throwaway CA, a fake fal on it and a fake Replicate (the
suite-wide `cdn` fixture is tests/conftest.py's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.cdn import FakeCDN
from tests.fakes.fal import FakeFal
from tests.fakes.replicate import FakeReplicate
from tests.fakes.tls import TLS, make_tls


@pytest.fixture
def tls(tmp_path: Path) -> TLS:
    return make_tls(tmp_path)


@pytest.fixture
async def fal(tls: TLS, cdn: FakeCDN) -> AsyncIterator[FakeFal]:
    fake = FakeFal(tls, cdn, FakeFal.pick_port())
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def rep(cdn: FakeCDN) -> AsyncIterator[FakeReplicate]:
    fake = FakeReplicate(cdn)
    await fake.start()
    yield fake
    await fake.close()
