"""`/models`: every model members can use here, its modes and price, from the model catalogue;
`/providers` reads what the models take from the same catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal
from tests.fakes.replicate import FakeReplicate
from tests.harness import Harness, running_bot


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in embed["fields"]}


async def ask(h: Harness, command: str) -> dict[str, Any]:
    """The private embed answering `command`, once the catalogue refresh has run."""
    assert h.bot.catalogue_refresh is not None
    await h.bot.catalogue_refresh
    interaction = await h.discord.send_interaction(command, [])
    await h.settled()
    answer = h.original(interaction)
    assert answer.ephemeral
    (embed,) = answer.embeds
    return embed


async def test_models_lists_each_usable_model_with_its_modes_and_price_privately(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        shown = fields(await ask(h, "models"))
        assert list(shown) == ["fal ★ default", "replicate"]
        assert shown["fal ★ default"].splitlines() == [
            "`fal-ai/flux/dev` — text-to-image · ~$0.025/image (default)",
            "`fal-ai/flux/schnell` — text-to-image · ~$0.003/image",
            "`fal-ai/flux/dev/image-to-image` — image-to-image · ~$0.03/image",
            "`fal-ai/flux-lora` — text-to-image, LoRAs · ~$0.035/image",
            "`fal-ai/esrgan` — upscale · ~$0.002/image",
            "`fal-ai/flux-pro/v1/fill` — inpainting · ~$0.05/image",
            "`fal-ai/image-apps-v2/outpaint` — outpainting · ~$0.035/image",
            "`fal-ai/evf-sam` — segmentation · ~$0.005/image",
            "`fal-ai/florence-2-large/more-detailed-caption` — describing images · ~$0.025/image",
            "`fal-ai/flux-pro/kontext/multi` — blending images · ~$0.04/image",
            "`fal-ai/kling-video/v3/standard/image-to-video` — image-to-video · price unknown",
        ]
        assert shown["replicate"].splitlines() == [
            "`black-forest-labs/flux-dev` — text-to-image, image-to-image · ~$0.025/image"
            " (default)",
            "`black-forest-labs/flux-schnell` — text-to-image · ~$0.003/image",
            "`black-forest-labs/flux-dev-lora` — text-to-image, image-to-image, LoRAs"
            " · ~$0.032/image",
            "`nightmareai/real-esrgan` — upscale · ~$0.002/image",
            "`black-forest-labs/flux-fill-dev` — inpainting · ~$0.025/image",
            "`flux-kontext-apps/multi-image-kontext-pro` — blending images · ~$0.025/image",
            "`minimax/hailuo-02` — image-to-video · price unknown",
        ]
    assert fake_fal.submits == [] and fake_replicate.creates == []


async def test_a_model_whose_schema_was_never_read_is_listed_as_not_available(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fal = {"models": ["fal-ai/flux/dev", "fal-ai/never-published"]}
    async with running_bot(fake_discord, db_path, providers={"fal": fal}) as h:
        listed = fields(await ask(h, "models"))["fal ★ default"].splitlines()
        assert "`fal-ai/never-published` — not available: schema not read yet" in listed
        assert listed[0] == "`fal-ai/flux/dev` — text-to-image · ~$0.025/image (default)"


async def test_a_model_list_too_long_for_one_field_ends_with_how_many_more(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    many = [f"fal-ai/community/a-long-model-name-number-{n:03}" for n in range(60)]
    fal = {"models": ["fal-ai/flux/dev", *many]}
    async with running_bot(fake_discord, db_path, providers={"fal": fal}) as h:
        embed = await ask(h, "models")
        value = fields(embed)["fal ★ default"]
        assert len(value) <= 1024
        *kept, last = value.splitlines()
        assert last == f"…and {70 - len(kept)} more"  # 61 models and 9 for other jobs
        assert kept[0].startswith("`fal-ai/flux/dev`")
        parts = [embed["title"], embed["description"]]
        parts += [f["name"] + f["value"] for f in embed["fields"]]
        assert sum(len(p) for p in parts) <= 6000


async def test_providers_names_the_options_none_of_a_providers_models_takes(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    # No FLUX model on fal publishes a negative prompt; CivitAI's checkpoints all take one.
    civitai = {"enabled": True, "base_url": "http://127.0.0.1:9"}
    async with running_bot(fake_discord, db_path, providers={"civitai": civitai}) as h:
        shown = fields(await ask(h, "providers"))
        assert "\nno negative prompt\n" in shown["fal ★ default"]
        assert "\nno " not in shown["civitai"]


async def test_models_lists_only_what_this_server_allows(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.db.settings.update_guild(
            fake_discord.guild_id,
            providers="replicate",
            models="black-forest-labs/flux-schnell",
            default_provider="replicate",
        )
        shown = fields(await ask(h, "models"))
        assert list(shown) == ["replicate ★ default"]
        listed = [line.split("`")[1] for line in shown["replicate ★ default"].splitlines()]
        # The server narrows the pickable models; the image-to-image, LoRA, upscale and image
        # action models stay, as the admission gate lets them through.
        assert listed == [
            "black-forest-labs/flux-dev",  # as the image-to-image model
            "black-forest-labs/flux-schnell",
            "black-forest-labs/flux-dev-lora",
            "nightmareai/real-esrgan",
            "black-forest-labs/flux-fill-dev",
            "flux-kontext-apps/multi-image-kontext-pro",
            "minimax/hailuo-02",
        ]
