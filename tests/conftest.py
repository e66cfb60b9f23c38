"""Test-wide setup for the loopback fakes.

fal-client reads FAL_RUN_HOST / FAL_QUEUE_RUN_HOST when it is imported, and httpx loads
SSL_CERT_FILE (which *replaces* the trust store) when fal-client makes its first client. So the
fake fal's port and the throwaway CA are fixed here, before any test module imports the bot.
aiohttp builds its default SSL context when it is imported, so SSL_CERT_FILE is set before the
first import of aiohttp (the fakes below): the bot's own session then trusts the fake fal too
(it reads the models' schemas from fal's platform API, `[providers.fal] models_base_url`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fakes.tls import TLS, make_tls
from tests.postgres import Cluster, drop_ledger, ledger_url, start_cluster
from tests.storage import LEDGERS

TLS_MATERIAL: TLS = make_tls()
os.environ["SSL_CERT_FILE"] = str(TLS_MATERIAL.ca_pem_path)
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ.pop("SSL_CERT_DIR", None)

from tests.fakes.cdn import FakeCDN  # noqa: E402 (after SSL_CERT_FILE, see above)
from tests.fakes.civitai import FakeCivitai  # noqa: E402
from tests.fakes.discord import FakeDiscord  # noqa: E402
from tests.fakes.discord_oauth import FakeDiscordOAuth  # noqa: E402
from tests.fakes.fal import FakeFal  # noqa: E402
from tests.fakes.openai_images import FakeOpenAIImages  # noqa: E402
from tests.fakes.replicate import FakeReplicate  # noqa: E402

FAL_PORT = FakeFal.pick_port()
os.environ["FAL_RUN_HOST"] = f"127.0.0.1:{FAL_PORT}"
os.environ["FAL_QUEUE_RUN_HOST"] = f"127.0.0.1:{FAL_PORT}"


@pytest.fixture
async def cdn() -> AsyncIterator[FakeCDN]:
    server = FakeCDN()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def fake_fal(cdn: FakeCDN) -> AsyncIterator[FakeFal]:
    server = FakeFal(TLS_MATERIAL, cdn, FAL_PORT)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def fake_replicate(
    cdn: FakeCDN, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeReplicate]:
    server = FakeReplicate(cdn)
    await server.start()
    monkeypatch.setenv("REPLICATE_BASE_URL", server.base_url)
    yield server
    await server.close()


@pytest.fixture
async def fake_civitai() -> AsyncIterator[FakeCivitai]:
    server = FakeCivitai()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def fake_openai(cdn: FakeCDN) -> AsyncIterator[FakeOpenAIImages]:
    server = FakeOpenAIImages(cdn)
    await server.start()
    yield server
    await server.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster | str]:
    """The session's throwaway PostgreSQL, or the one-line reason there is none."""
    try:
        cluster = start_cluster()
    except RuntimeError as exc:
        if os.environ.get("ARTFACTORY_TEST_REQUIRE_POSTGRES"):  # .ci/run: never skip it there
            raise
        yield str(exc)
        return
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_path(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_cluster: Cluster | str
) -> AsyncIterator[Path]:
    """Where a test's ledger lives: every test that keeps one runs on both engines. On
    PostgreSQL the path still names the intake journal's folder, and `ledger_target(path)`
    (the harness's config, `open_ledger`) turns it into the test's own schema."""
    path = tmp_path / "data" / "artfactory.db"
    if request.param == "sqlite":
        yield path
        return
    if isinstance(postgres_cluster, str):
        pytest.skip(postgres_cluster)
    url = await ledger_url(postgres_cluster, path)
    LEDGERS[path] = url
    try:
        yield path
    finally:
        LEDGERS.pop(path, None)
        await drop_ledger(postgres_cluster, url)


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    await server.close()
    assert server.spec_violations == [], server.spec_violations


def _engine(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("db_path")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `sqlite_only` (it is about SQLite itself: its file lock, its busy
    handling) runs on SQLite alone, one marked `postgresql_only` (several processes on one
    ledger) on PostgreSQL alone: the other copy is not collected."""
    dropped = [
        item
        for item in items
        if (item.get_closest_marker("sqlite_only") and _engine(item) == "postgresql")
        or (item.get_closest_marker("postgresql_only") and _engine(item) == "sqlite")
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]


@pytest.fixture
async def fake_oauth() -> AsyncIterator[FakeDiscordOAuth]:
    server = FakeDiscordOAuth()
    await server.start()
    yield server
    await server.close()
