"""`/lora` with the server's library and direct links; `/loras` management and autocomplete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.civitai import FakeCivitai
from tests.fakes.discord import FakeDiscord, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
ADMIN = "2147483647"  # includes Manage Server
MEMBER = "0"


def opt(name: str, value: Any) -> dict[str, Any]:
    types = {str: 3, int: 4, float: 10, bool: 5}
    return {"name": name, "type": types[type(value)], "value": value}


async def loras(
    fake: FakeDiscord, sub: str, *, permissions: str = ADMIN, **values: Any
) -> Interaction:
    options = [opt(k, v) for k, v in values.items()]
    return await fake.send_interaction(
        "loras", [{"name": sub, "type": 1, "options": options}], permissions=permissions
    )


async def answer(h: Harness, interaction: Interaction) -> str:
    await h.settled()
    await h.idle()
    texts = [str(c.json.get("data", {}).get("content") or "") for c in interaction.callbacks()]
    texts += [
        str((r.json or {}).get("content") or "")
        for r in h.discord.requests
        if interaction.token in r.path and r.method in ("POST", "PATCH") and r.json
    ]
    return "\n".join(texts)


async def test_library_lora_and_direct_link_reach_fal_with_scales_and_trigger_words(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        added = await loras(
            fake_discord,
            "add",
            name="inkwash",
            url="https://huggingface.co/someone/inkwash-flux",
            trigger_words="inkwash style, sumi-e",
            default_scale=0.8,
        )
        assert "Added **inkwash**" in await answer(h, added)
        interaction = await fake_discord.send_interaction(
            "lora",
            [
                opt("prompt", "a heron, sumi-e"),
                opt("lora", "inkwash"),
                opt("lora2", "https://example.org/weights/detail.safetensors"),
                opt("scale2", 0.5),
            ],
        )
        await h.idle()
        app_id, arguments, _ = fake_fal.submits[0]
        assert app_id == "fal-ai/flux-lora"
        assert arguments["loras"] == [
            {"path": "https://huggingface.co/someone/inkwash-flux", "scale": 0.8},
            {"path": "https://example.org/weights/detail.safetensors", "scale": 0.5},
        ]
        assert arguments["prompt"] == "a heron, sumi-e, inkwash style"  # missing trigger added
        content = h.original(interaction).content or ""
        assert "LoRA: inkwash (0.8)" in content
        job = await h.job_for(interaction)
        assert job is not None and (job.kind, job.state) == ("lora", "done")


async def test_replicate_takes_one_lora_and_refuses_two_naming_fal(
    fake_discord: FakeDiscord,
    fake_replicate: FakeReplicate,
    fake_fal: FakeFal,
    fake_civitai: FakeCivitai,
    db_path: Path,
) -> None:
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.2, steps=1))
    fake_replicate.civitai_origins.add(fake_civitai.base_url)  # it stands in for civitai.com
    fake_civitai.add_model(
        12345,
        "Cool Style",
        versions=[(777, "Flux.1 D")],
        trained_words=["coolstyle"],
        creator="alice",
    )
    async with running_bot(
        fake_discord, db_path, providers={"civitai": {"models_base_url": fake_civitai.base_url}}
    ) as h:
        one = await fake_discord.send_interaction(
            "lora",
            [
                opt("prompt", "p"),
                opt("lora", "https://civitai.com/models/12345/cool-style"),
                opt("scale", 1.2),
                opt("provider", "replicate"),
            ],
        )
        await h.idle()
        model, inputs, _ = fake_replicate.creates[0]
        assert model == "black-forest-labs/flux-dev-lora"
        # the version's download link: cog-flux can't load a page link with ?modelVersionId
        assert inputs["lora_weights"] == f"{fake_civitai.base_url}/api/download/models/777"
        assert inputs["lora_scale"] == 1.2
        assert inputs["prompt"] == "p, coolstyle"  # CivitAI's trigger words
        assert (await h.job_for(one)) is not None
        credit = h.original(one).content or ""
        assert (
            "LoRA: Cool Style by alice (CivitAI, Flux.1 D, commercial use allowed) (1.2)" in credit
        )

        two = await fake_discord.send_interaction(
            "lora",
            [
                opt("prompt", "p"),
                opt("lora", "https://huggingface.co/a/b"),
                opt("lora2", "https://huggingface.co/c/d"),
                opt("provider", "replicate"),
            ],
        )
        text = await answer(h, two)
        assert "replicate can't do 2 LoRAs on this bot; fal can: pick provider fal" in text
        assert len(fake_replicate.creates) == 1 and fake_fal.submits == []


async def test_bad_loras_are_refused_with_the_reason(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        cases = {
            "http://example.org/x.safetensors": "must start with https://",
            "https://example.org/model.ckpt": "not a LoRA I can use",
            "nosuchname": "no LoRA named 'nosuchname'",
        }
        for ref, words in cases.items():
            interaction = await fake_discord.send_interaction(
                "lora", [opt("prompt", "p"), opt("lora", ref)]
            )
            assert words in await answer(h, interaction), ref
        bad_add = await loras(fake_discord, "add", name="x", url="ftp://nope")
        assert "must start with https://" in await answer(h, bad_add)
        assert fake_fal.requests == []


async def test_managing_the_library_needs_manage_server(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        refused = await loras(
            fake_discord,
            "add",
            permissions=MEMBER,
            name="sneaky",
            url="https://huggingface.co/a/b",
        )
        assert "need the Manage Server permission" in await answer(h, refused)
        assert await h.bot.loras.loras(fake_discord.guild_id) == []
        await answer(
            h, await loras(fake_discord, "add", name="ok", url="https://huggingface.co/a/b")
        )
        removal = await loras(fake_discord, "remove", permissions=MEMBER, name="ok")
        assert "need the Manage Server permission" in await answer(h, removal)
        listing = await loras(fake_discord, "list", permissions=MEMBER)
        assert "**ok**" in await answer(h, listing)
        info = await loras(fake_discord, "info", permissions=MEMBER, name="ok")
        assert "https://huggingface.co/a/b" in await answer(h, info)
        gone = await loras(fake_discord, "remove", name="ok")
        assert "Removed **ok**" in await answer(h, gone)


async def test_autocomplete_answers_at_most_25_names(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        for i in range(30):
            await h.bot.loras.add_lora(
                fake_discord.guild_id,
                name=f"style{i:02d}",
                url="https://huggingface.co/a/b",
                trigger_words=None,
                default_scale=None,
                nsfw=False,
                added_by=1,
            )
        everything = await fake_discord.send_autocomplete(
            "lora", [opt("prompt", "p"), {**opt("lora", ""), "focused": True}]
        )
        some = await fake_discord.send_autocomplete(
            "lora", [opt("prompt", "p"), {**opt("lora", "style1"), "focused": True}]
        )
        await h.settled()
        assert everything.autocomplete_choices is not None
        assert len(everything.autocomplete_choices) == 25
        assert [c["value"] for c in some.autocomplete_choices or []] == [
            f"style1{i}" for i in range(10)
        ]
        callback = everything.callbacks()[0]
        assert callback.time - everything.sent_at < 3.0


async def test_civitai_loras_that_do_not_fit_are_refused_with_the_reason(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.add_model(500, "SDXL Thing", versions=[(501, "SDXL 1.0")])
    fake_civitai.add_model(600, "Spicy", versions=[(601, "Flux.1 D")], nsfw=True, nsfw_level=16)
    async with running_bot(
        fake_discord, db_path, providers={"civitai": {"models_base_url": fake_civitai.base_url}}
    ) as h:
        wrong_base = await fake_discord.send_interaction(
            "lora", [opt("prompt", "p"), opt("lora", "https://civitai.com/models/500")]
        )
        assert "SDXL Thing is a LoRA for SDXL 1.0, but the checkpoint is Flux.1 D" in (
            await answer(h, wrong_base)
        )
        nsfw = await fake_discord.send_interaction(
            "lora", [opt("prompt", "p"), opt("lora", "urn:air:flux1:lora:civitai:600@601")]
        )
        assert "Spicy is marked NSFW" in await answer(h, nsfw)
        assert fake_fal.requests == []


async def test_lora_follows_the_server_default_provider_unless_it_takes_too_few_loras(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        store = h.bot.db.settings
        await store.update_guild(fake_discord.guild_id, default_provider="replicate")
        one = await fake_discord.send_interaction(
            "lora", [opt("prompt", "p"), opt("lora", "https://huggingface.co/a/b")]
        )
        await h.idle()
        assert [c[0] for c in fake_replicate.creates] == ["black-forest-labs/flux-dev-lora"]
        job = await h.job_for(one)
        assert job is not None and (job.provider, job.state) == ("replicate", "done")

        # Replicate takes one LoRA: two go to the first provider that takes two.
        two = await fake_discord.send_interaction(
            "lora",
            [
                opt("prompt", "p"),
                opt("lora", "https://huggingface.co/a/b"),
                opt("lora2", "https://huggingface.co/c/d"),
            ],
        )
        await h.idle()
        assert [c[0] for c in fake_fal.submits] == ["fal-ai/flux-lora"]
        assert len(fake_fal.submits[0][1]["loras"]) == 2
        job = await h.job_for(two)
        assert job is not None and (job.provider, job.state) == ("fal", "done")
        assert len(fake_replicate.creates) == 1


LINK = "https://example.org/weights/detail.safetensors"


async def test_a_lora_scale_fal_does_not_take_is_refused_before_anything_is_charged(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        asked = await fake_discord.send_interaction(
            "lora", [opt("prompt", "p"), opt("lora", LINK), opt("scale", -3.0)]
        )
        text = await answer(h, asked)
        assert "LoRA scale must be between 0 and 4 on fal-ai/flux-lora (got -3 for" in text
        assert fake_fal.submits == []
        assert await h.job_for(asked) is None


async def test_a_lora_scale_replicate_does_not_take_is_refused_before_anything_is_charged(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        asked = await fake_discord.send_interaction(
            "lora",
            [
                opt("prompt", "p"),
                opt("lora", LINK),
                opt("scale", 3.5),
                opt("provider", "replicate"),
            ],
        )
        text = await answer(h, asked)
        assert "LoRA scale must be between -1 and 3 on black-forest-labs/flux-dev-lora" in text
        assert fake_replicate.creates == []
        assert await h.job_for(asked) is None
