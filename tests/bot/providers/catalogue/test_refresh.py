"""Keeping the catalogue current: live schema, else cache, else snapshot, else not offered."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from bot.config import Config, parse_config
from bot.errors import InvalidRequest, ProviderError
from bot.providers.catalogue import catalogue_for
from bot.providers.catalogue.refresh import Published, load_cached, refresh
from bot.providers.request import build_request
from db.schemas import CachedSchema
from tests.bot.providers.catalogue.documents import NEW_MODEL, flux_dev_document

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "f"}


class Source:
    name = "fal"

    def __init__(self, documents: dict[str, dict[str, Any]] | None = None) -> None:
        self.documents = documents

    async def published_schemas(self, models: list[str]) -> Published:
        if self.documents is None:
            raise ProviderError(
                "fal", "https://fal.test/v1/models answered HTTP 503", retryable=True
            )
        return {m: d for m, d in self.documents.items() if m in models}


class Cache:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    async def save(self, provider: str, model: str, document: dict[str, Any]) -> None:
        self.rows[(provider, model)] = document

    async def all(self) -> list[CachedSchema]:
        return [CachedSchema(p, m, d, self.fetched_at) for (p, m), d in self.rows.items()]

    fetched_at = time.time()


@pytest.fixture
def config() -> Config:
    return parse_config({"providers": {"fal": {"models": ["fal-ai/flux/dev", NEW_MODEL]}}}, ENV)


async def test_a_model_known_only_by_id_is_offered_once_its_schema_is_read(config: Config) -> None:
    with pytest.raises(InvalidRequest, match=f"{NEW_MODEL} can't be used yet"):
        build_request(config, prompt="p", model=NEW_MODEL)
    cache = Cache()
    outcomes = await refresh(
        catalogue_for(config), config, {"fal": Source({NEW_MODEL: flux_dev_document()})}, cache
    )
    assert {(o.model, o.source) for o in outcomes if o.model == NEW_MODEL} == {(NEW_MODEL, "live")}
    assert build_request(config, prompt="p", model=NEW_MODEL, steps=30).model == NEW_MODEL
    assert ("fal", NEW_MODEL) in cache.rows


async def test_the_live_schemas_ranges_replace_the_snapshots(config: Config) -> None:
    live = flux_dev_document("fal-ai/flux/dev", max_steps=28)
    await refresh(catalogue_for(config), config, {"fal": Source({"fal-ai/flux/dev": live})}, None)
    with pytest.raises(InvalidRequest, match="steps must be between 1 and 28"):
        build_request(config, prompt="p", steps=30)


async def test_an_unreachable_provider_leaves_the_snapshot_with_one_log_line(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    outcomes = await refresh(catalogue_for(config), config, {"fal": Source(None)}, None)
    by_model = {o.model: o.source for o in outcomes}
    assert by_model["fal-ai/flux/dev"] == "snapshot"
    assert by_model[NEW_MODEL] == "none"
    lines = [r.getMessage() for r in caplog.records if "fal-ai/flux/dev " in r.getMessage()]
    assert len(lines) == 1 and "HTTP 503" in lines[0] and "snapshot" in lines[0]
    assert build_request(config, prompt="p").model == "fal-ai/flux/dev"


async def test_a_schema_read_at_an_earlier_start_is_used_while_the_provider_is_down(
    config: Config,
) -> None:
    cache = Cache()
    await cache.save("fal", NEW_MODEL, flux_dev_document())
    assert await load_cached(catalogue_for(config), cache) == 1
    outcomes = await refresh(catalogue_for(config), config, {"fal": Source(None)}, None)
    assert {o.model: o.source for o in outcomes}[NEW_MODEL] == "cache"
    assert build_request(config, prompt="p", model=NEW_MODEL).model == NEW_MODEL


async def test_a_snapshot_shipped_after_the_cached_read_wins_over_it(config: Config) -> None:
    cache = Cache()
    cache.fetched_at = 0.0  # read in 1970: every shipped snapshot is newer
    await cache.save("fal", "fal-ai/flux/dev", flux_dev_document("fal-ai/flux/dev", max_steps=28))
    await cache.save("fal", NEW_MODEL, flux_dev_document())
    assert await load_cached(catalogue_for(config), cache) == 1  # only the unshipped model
    assert build_request(config, prompt="p", steps=40).steps == 40
