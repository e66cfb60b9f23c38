"""CivitAI LoRAs reach fal and Replicate as the version's download link, whether typed as a
page link or kept in the library, and their NSFW level is the version's own."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.jobs.intake import quota_day
from db.loras import LoraRow
from tests.cogs.test_lora import answer, loras, opt
from tests.fakes.civitai import FakeCivitai
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
QUICK_REPLICATE = ReplicateScript(queue_s=0, run_s=0.2, steps=1)
MEMBER = 4000
PAGE = "https://civitai.com/models/12345/cool-style?modelVersionId=777"
NSFW_REFUSAL = "is marked NSFW on CivitAI and this server does not allow NSFW LoRAs."


def models_api(fake_civitai: FakeCivitai) -> dict[str, Any]:
    return {"civitai": {"models_base_url": fake_civitai.base_url}}


def download_link(fake_civitai: FakeCivitai, version_id: int) -> str:
    """The version's `downloadUrl` as the (fake) models API gives it."""
    return f"{fake_civitai.base_url}/api/download/models/{version_id}"


def cool_style(fake_civitai: FakeCivitai) -> None:
    """A Flux LoRA with two versions: the link names the older one."""
    fake_civitai.add_model(12345, "Cool Style", versions=[(778, "Flux.1 D"), (777, "Flux.1 D")])


async def lora(fake_discord: FakeDiscord, ref: str, **more: Any) -> Any:
    options = [opt("prompt", "p"), opt("lora", ref), *(opt(k, v) for k, v in more.items())]
    return await fake_discord.send_interaction("lora", options, user_id=MEMBER)


async def used_today(h: Harness) -> int:
    """Images charged to the member today, on every server."""
    return await h.bot.db.jobs.quota_used(MEMBER, quota_day())


async def delivered(h: Harness, interaction: Any) -> None:
    job = await h.job_for(interaction)
    assert job is not None and job.state == "done", job


async def test_a_civitai_page_link_reaches_replicate_as_the_version_download_link(
    fake_discord: FakeDiscord,
    fake_replicate: FakeReplicate,
    fake_civitai: FakeCivitai,
    db_path: Path,
) -> None:
    fake_replicate.script(None, QUICK_REPLICATE)
    fake_replicate.civitai_origins.add(fake_civitai.base_url)  # it stands in for civitai.com
    cool_style(fake_civitai)
    async with running_bot(fake_discord, db_path, providers=models_api(fake_civitai)) as h:
        asked = await lora(fake_discord, PAGE, provider="replicate")
        await h.idle()
        await delivered(h, asked)  # cog-flux can't load a page link: the prediction fails
        [(model, inputs, _)] = fake_replicate.creates
        assert model == "black-forest-labs/flux-dev-lora"
        assert inputs["lora_weights"] == download_link(fake_civitai, 777)
        assert await used_today(h) == 1


async def test_a_library_lora_added_as_a_civitai_page_is_kept_and_sent_as_its_download_link(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    fake_civitai: FakeCivitai,
    db_path: Path,
) -> None:
    fake_fal.script(None, QUICK)
    fake_replicate.script(None, QUICK_REPLICATE)
    fake_replicate.civitai_origins.add(fake_civitai.base_url)
    cool_style(fake_civitai)
    link = download_link(fake_civitai, 777)
    async with running_bot(fake_discord, db_path, providers=models_api(fake_civitai)) as h:
        added = await loras(fake_discord, "add", name="cool", url=PAGE)
        assert "Added **cool**" in await answer(h, added)
        assert (await h.bot.loras.lora(fake_discord.guild_id, "cool")).url == link

        on_fal = await lora(fake_discord, "cool", provider="fal")
        on_replicate = await lora(fake_discord, "cool", provider="replicate")
        await h.idle()
        assert fake_fal.submits[0][1]["loras"] == [{"path": link, "scale": 1.0}]
        assert fake_replicate.creates[0][1]["lora_weights"] == link
        await delivered(h, on_fal)
        await delivered(h, on_replicate)
        assert await used_today(h) == 2


async def test_a_library_row_stored_as_a_civitai_page_is_sent_as_its_download_link(
    fake_discord: FakeDiscord,
    fake_replicate: FakeReplicate,
    fake_civitai: FakeCivitai,
    db_path: Path,
) -> None:
    fake_replicate.script(None, QUICK_REPLICATE)
    fake_replicate.civitai_origins.add(fake_civitai.base_url)
    cool_style(fake_civitai)
    async with running_bot(fake_discord, db_path, providers=models_api(fake_civitai)) as h:
        # as `/loras add` stored CivitAI links before they were resolved on adding
        old = LoraRow(fake_discord.guild_id, "cool", PAGE, "", 0.9, False, 1, time.time())
        assert await h.bot.db.loras.add(old)
        asked = await lora(fake_discord, "cool", provider="replicate")
        await h.idle()
        [(_, inputs, _)] = fake_replicate.creates
        assert (inputs["lora_weights"], inputs["lora_scale"]) == (
            download_link(fake_civitai, 777),
            0.9,
        )
        await delivered(h, asked)
        assert await used_today(h) == 1


async def test_a_library_civitai_lora_is_refused_where_its_link_would_be(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.add_model(500, "SDXL Thing", versions=[(501, "SDXL 1.0")])
    fake_civitai.add_model(600, "Spicy", versions=[(601, "Flux.1 D")], nsfw_level=8)
    async with running_bot(fake_discord, db_path, providers=models_api(fake_civitai)) as h:
        for name, page in (("thing", "models/500"), ("spicy", "models/600")):
            added = await loras(fake_discord, "add", name=name, url=f"https://civitai.com/{page}")
            assert f"Added **{name}**" in await answer(h, added)
        wrong_base = await lora(fake_discord, "thing")
        assert "SDXL Thing is a LoRA for SDXL 1.0, but the checkpoint is Flux.1 D" in (
            await answer(h, wrong_base)
        )
        nsfw = await lora(fake_discord, "spicy")
        assert f"Spicy {NSFW_REFUSAL}" in await answer(h, nsfw)
        assert await h.job_for(wrong_base) is None and await h.job_for(nsfw) is None
        assert fake_fal.requests == []
        assert await used_today(h) == 0


async def test_a_civitai_lora_whose_own_version_is_pg_is_usable_in_a_normal_channel(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    # The model's level is the union of its versions': another version's R and X images.
    fake_civitai.add_model(
        800,
        "Portraits",
        versions=[(802, "Flux.1 D"), (801, "Flux.1 D")],
        nsfw_level=1 | 4 | 8,
        version_nsfw_levels={801: 1, 802: 4 | 8},
    )
    async with running_bot(fake_discord, db_path, providers=models_api(fake_civitai)) as h:
        asked = await lora(fake_discord, "https://civitai.com/models/800?modelVersionId=801")
        await h.idle()
        assert fake_fal.submits[0][1]["loras"] == [
            {"path": download_link(fake_civitai, 801), "scale": 1.0}
        ]
        await delivered(h, asked)
        assert await used_today(h) == 1


async def test_a_civitai_lora_whose_own_version_is_x_is_refused_in_a_normal_channel(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    # CivitAI rolls the versions' levels up into the model's in a later job
    # (updateModelNsfwLevels), so a just-published X version can sit under a PG model.
    fake_civitai.add_model(
        900,
        "Fresh",
        versions=[(902, "Flux.1 D"), (901, "Flux.1 D")],
        nsfw_level=1,
        version_nsfw_levels={902: 8},
    )
    async with running_bot(fake_discord, db_path, providers=models_api(fake_civitai)) as h:
        asked = await lora(fake_discord, "urn:air:flux1:lora:civitai:900@902")
        assert f"Fresh {NSFW_REFUSAL}" in await answer(h, asked)
        assert await h.job_for(asked) is None
        assert fake_fal.requests == []
        assert await used_today(h) == 0
