"""Reading the schemas the providers serve now (`sources.py`), against the loopback fakes,
which serve them in the providers' own shapes (tests/fakes/published.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.errors import ProviderError
from bot.providers.catalogue.registry import SNAPSHOTS, entry_from
from bot.providers.catalogue.sources import FalSchemas, ReplicateSchemas
from tests.fakes.fal import FakeFal
from tests.fakes.replicate import FakeReplicate


def snapshot(provider: str, model: str) -> dict[str, Any]:
    path = SNAPSHOTS / provider / (model.replace("/", "__") + ".json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_fal_schemas_are_read_by_endpoint_id_and_an_unlisted_one_is_left_out(
    fake_fal: FakeFal, session: aiohttp.ClientSession
) -> None:
    source = FalSchemas(session, fake_fal.base_url, "fal-key")
    found = await source.published_schemas(["fal-ai/flux/dev", "fal-ai/no-such-model"])
    assert list(found) == ["fal-ai/flux/dev"]
    assert found["fal-ai/flux/dev"]["openapi"] == snapshot("fal", "fal-ai/flux/dev")["openapi"]
    [call] = fake_fal.platform_requests
    assert call.headers["Authorization"] == "Key fal-key"
    assert entry_from(found["fal-ai/flux/dev"]).schema.bounds("num_inference_steps") == (1, 50)


async def test_replicate_schemas_tell_an_official_model_from_a_community_one(
    fake_replicate: FakeReplicate, session: aiohttp.ClientSession
) -> None:
    source = ReplicateSchemas(session, "r8", fake_replicate.base_url)
    found = await source.published_schemas(
        ["black-forest-labs/flux-schnell", "nightmareai/real-esrgan"]
    )
    schnell, esrgan = found["black-forest-labs/flux-schnell"], found["nightmareai/real-esrgan"]
    assert (schnell["official"], esrgan["official"]) == (True, False)
    shipped = snapshot("replicate", "nightmareai/real-esrgan")
    assert esrgan["version"] == shipped["version"] and esrgan["openapi"] == shipped["openapi"]
    assert entry_from(schnell).schema.bounds("num_inference_steps") == (1, 4)


async def test_a_pinned_replicate_version_is_read_from_its_version_route(
    fake_replicate: FakeReplicate, session: aiohttp.ClientSession
) -> None:
    shipped = snapshot("replicate", "nightmareai/real-esrgan")
    pinned = f"nightmareai/real-esrgan:{shipped['version']}"
    source = ReplicateSchemas(session, "r8", fake_replicate.base_url)
    found = await source.published_schemas([pinned])
    assert found[pinned]["openapi"] == shipped["openapi"]
    paths = [r.path for r in fake_replicate.requests]
    assert paths == [f"/v1/models/nightmareai/real-esrgan/versions/{shipped['version']}"]
    missing = f"nightmareai/real-esrgan:{'0' * 64}"
    refused = (await source.published_schemas([missing]))[missing]
    assert isinstance(refused, ProviderError) and "HTTP 404" in refused.reason


async def test_fal_schemas_listed_over_several_pages_are_all_read(
    fake_fal: FakeFal, session: aiohttp.ClientSession
) -> None:
    fake_fal.models_page_size = 2
    models = ["fal-ai/flux/dev", "fal-ai/flux/schnell", "fal-ai/flux-lora", "fal-ai/esrgan"]
    found = await FalSchemas(session, fake_fal.base_url, "fal-key").published_schemas(models)
    assert sorted(found) == sorted(models)
    assert len(fake_fal.platform_requests) == 2


async def test_a_replicate_model_that_cannot_be_read_keeps_its_own_reason(
    fake_replicate: FakeReplicate, session: aiohttp.ClientSession
) -> None:
    source = ReplicateSchemas(session, "r8", fake_replicate.base_url)
    found = await source.published_schemas(["black-forest-labs/flux-dev", "acme/missing"])
    assert isinstance(found["black-forest-labs/flux-dev"], dict)
    missing = found["acme/missing"]
    assert isinstance(missing, ProviderError) and "HTTP 404" in missing.reason
