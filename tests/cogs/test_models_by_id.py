"""Any model by id: listed only in the config, read from its provider's published schema at
start, offered for what its inputs allow, and driven by their published names."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bot.providers.catalogue.registry import SNAPSHOTS
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import running_bot

COMMUNITY = "acme/painter"
VERSION = "5f" * 32
FAL_MODEL = "fal-ai/some-new-model"


def snapshot(provider: str, slug: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SNAPSHOTS / provider / f"{slug}.json").read_text())
    return copy.deepcopy(data["openapi"])


def community_schema() -> dict[str, Any]:
    """A cog text-to-image model with a negative prompt (what SDXL-style models publish)."""
    schema = snapshot("replicate", "black-forest-labs__flux-schnell")
    inputs = schema["components"]["schemas"]["Input"]["properties"]
    inputs["negative_prompt"] = {"type": "string", "title": "Negative Prompt", "x-order": 20}
    return schema


@pytest.mark.parametrize("listed", [COMMUNITY, f"{COMMUNITY}:{VERSION}"])
async def test_a_community_replicate_model_listed_only_in_the_config_runs_by_version(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path, listed: str
) -> None:
    fake_replicate.publish(COMMUNITY, community_schema(), version=VERSION, official=False)
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.2, steps=1))
    models = ["black-forest-labs/flux-dev", listed]
    async with running_bot(fake_discord, db_path, providers={"replicate": {"models": models}}) as h:
        assert h.bot.catalogue_refresh is not None
        await h.bot.catalogue_refresh
        interaction = await h.imagine(
            prompt="a harbour",
            provider="replicate",
            model=listed,
            negative_prompt="boats",
            count=2,
        )
        await h.idle()
        (create,) = [r for r in fake_replicate.requests if r.method == "POST"]
        assert create.path == "/v1/predictions"
        assert create.json["version"] == VERSION
        assert create.json["input"]["negative_prompt"] == "boats"
        assert create.json["input"]["num_outputs"] == 2
        job = await h.job_for(interaction)
        assert job is not None and job.state == "done"
        assert len(h.original(interaction).attachments) == 2
        assert await h.bot.db.jobs.quota_used(4000, job.quota_day) == 2


async def test_a_fal_endpoint_listed_only_in_the_config_is_offered_once_its_schema_is_read(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    # A model whose inputs are named otherwise than flux/dev's, and which refuses unknown ones.
    document = snapshot("fal", "fal-ai__flux__dev")
    document["paths"] = {f"/{FAL_MODEL}": document["paths"]["/fal-ai/flux/dev"]}
    (name,) = [n for n in document["components"]["schemas"] if n.endswith("Input")]
    inputs = document["components"]["schemas"][name]
    inputs["properties"]["steps"] = inputs["properties"].pop("num_inference_steps")
    inputs["additionalProperties"] = False
    fake_fal.publish(FAL_MODEL, document)
    fake_fal.script(None, Script(queue_s=0, run_s=0.1))
    models = ["fal-ai/flux/dev", FAL_MODEL]
    async with running_bot(fake_discord, db_path, providers={"fal": {"models": models}}) as h:
        assert h.bot.catalogue_refresh is not None
        await h.bot.catalogue_refresh
        interaction = await h.imagine(prompt="a fox", model=FAL_MODEL, steps=20)
        await h.idle()
        ((app, arguments),) = [(s[0], s[1]) for s in fake_fal.submits]
        assert app == FAL_MODEL
        assert arguments["steps"] == 20 and "num_inference_steps" not in arguments
        job = await h.job_for(interaction)
        assert job is not None and job.state == "done"
        cached = await h.bot.db.schemas.all()
        assert FAL_MODEL in {row.model for row in cached}
