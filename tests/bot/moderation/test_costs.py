"""What a job is estimated to cost: the operator's model price, else the model catalogue's price
for the request's size, else the operator's provider price (`bot/providers/pricing.py`)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, parse_config
from bot.providers.catalogue import Price, catalogue_for
from bot.providers.pricing import estimate_cost
from bot.providers.request import GenerationRequest
from db.reservation import month_start
from tests.fakes.cdn import make_png
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.1, steps=1)
FLAT_FAL = {"per_image": {"fal": 0.5, "replicate": 0.5}, "per_model": {}}
ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "f"}


async def _imagine_cost(h: Harness, **options: Any) -> float:
    interaction = await h.imagine(prompt="a lighthouse", **options)
    await h.idle()
    job = await h.job_for(interaction)
    assert job is not None and job.state == "done", h.original(interaction).content
    assert job.cost is not None
    return job.cost


@pytest.mark.parametrize("aspect_ratio", ["1:1", "16:9", "21:9"])
async def test_each_aspect_ratio_of_flux_dev_is_billed_as_one_fal_megapixel(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, aspect_ratio: str
) -> None:
    # fal's megapixel is 1024x1024: square_hd (1024x1024) and 21:9 (1536x656, 0.96 of it) are
    # one each, at flux/dev's $0.025, whatever the provider's flat price says.
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path, costs=FLAT_FAL) as h:
        cost = await _imagine_cost(h, aspect_ratio=aspect_ratio, count=2)
        assert cost == pytest.approx(2 * 0.025)
        assert await h.bot.db.jobs.guild_spend(
            fake_discord.guild_id, month_start(time.time())
        ) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("size", "cost"),
    [((1024, 1024), 0.03), ((1025, 1024), 0.06), ((2048, 1024), 0.06), ((2048, 2048), 0.12)],
)
async def test_an_image_to_image_job_costs_each_started_megapixel_of_its_input(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    db_path: Path,
    size: tuple[int, int],
    cost: float,
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path, costs=FLAT_FAL) as h:
        attachment = fake_discord.make_attachment("in.png", make_png(*size), "image/png")
        image = [{"name": "image", "type": 11, "value": attachment}]
        interaction = await fake_discord.send_interaction("variations", image, user_id=4000)
        await h.idle()
        assert [s[0] for s in fake_fal.submits] == ["fal-ai/flux/dev/image-to-image"]
        job = await h.job_for(interaction)
        assert job is not None and job.state == "done"
        assert job.cost == pytest.approx(cost)  # $0.03 per megapixel


async def test_the_operators_price_for_a_model_wins_over_the_catalogue_price(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    costs = {**FLAT_FAL, "per_model": {"fal-ai/flux/dev": 0.1}}
    async with running_bot(fake_discord, db_path, costs=costs) as h:
        assert await _imagine_cost(h, aspect_ratio="21:9", count=2) == pytest.approx(0.2)


async def test_prices_kept_in_another_currency_ignore_the_catalogues_usd_prices(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    costs = {**FLAT_FAL, "currency": "EUR"}
    async with running_bot(fake_discord, db_path, costs=costs) as h:
        assert await _imagine_cost(h, count=2) == pytest.approx(1.0)


def _config(costs: dict[str, Any]) -> Config:
    return parse_config({"costs": costs}, ENV)


def test_a_model_billed_per_second_costs_its_providers_flat_price() -> None:
    config = _config(FLAT_FAL)  # fal-ai/esrgan: per second of compute in the catalogue
    upscale = GenerationRequest("upscale", "fal", "fal-ai/esrgan", mode="upscale", image_id=1)
    assert estimate_cost(config, upscale, (1024, 1024)) == pytest.approx(0.5)


def test_a_model_without_any_price_costs_nothing() -> None:
    config = _config({"per_image": {}, "per_model": {}})
    request = GenerationRequest("a fox", "fal", "fal-ai/esrgan", mode="upscale", image_id=1)
    assert estimate_cost(config, request, (512, 512)) == 0.0


def test_an_upscale_is_priced_at_its_output_size() -> None:
    config = _config(FLAT_FAL)
    catalogue = catalogue_for(config)
    esrgan = catalogue.entry("fal", "fal-ai/esrgan")
    assert esrgan is not None
    catalogue.install(replace(esrgan, price=Price("megapixel", 0.01)))
    request = GenerationRequest(
        "upscale", "fal", "fal-ai/esrgan", mode="upscale", image_id=1, upscale_factor=2
    )
    # 1024x768 doubled is 2048x1536: three megapixels of 1024x1024.
    assert estimate_cost(config, request, (1024, 768)) == pytest.approx(0.03)
    # Without the input's size, the request's ratio stands in for it: 1:1, four megapixels.
    assert estimate_cost(config, request) == pytest.approx(0.04)
