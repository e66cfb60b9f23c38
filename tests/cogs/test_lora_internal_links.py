"""LoRA links that would make a provider (or the bot) fetch from a private or internal address
are refused before anything is sent or charged: `/lora`, `/loras add`, library rows as they are
used, names that resolve inward, and CivitAI lookups that redirect or answer inward."""

from __future__ import annotations

import time
from pathlib import Path

from bot.jobs.intake import quota_day
from bot.moderation.netguard import Resolver
from db.loras import LoraRow
from tests.cogs.test_lora import answer, loras, opt
from tests.fakes.cdn import FakeCDN
from tests.fakes.civitai import FakeCivitai
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
REFUSED = "points to a private/internal address"
MEMBER = 4000

# Every way of writing an internal host that a URL parser, a resolver or a provider's HTTP
# client may turn into one.
INTERNAL_LINKS = [
    "https://127.0.0.1/x.safetensors",
    "https://169.254.169.254/latest/meta-data/x.safetensors",
    "https://10.0.0.5/x.safetensors",
    "https://192.168.1.20/x.safetensors",
    "https://172.16.0.1/x.safetensors",
    "https://localhost/x.safetensors",
    "https://api.localhost/x.safetensors",
    "https://metadata.google.internal/x.safetensors",
    "https://nas.local/x.safetensors",
    "https://fileserver/x.safetensors",
    "https://[::1]/x.safetensors",
    "https://0.0.0.0/x.safetensors",
    "https://2130706433/x.safetensors",
    "https://0x7f.0.0.1/x.safetensors",
    "https://0177.0.0.1/x.safetensors",
    "https://127.1/x.safetensors",
    "https://[::ffff:127.0.0.1]/x.safetensors",
    "https://[::ffff:a9fe:a9fe]/x.safetensors",
    "https://huggingface.co@127.0.0.1/x.safetensors",
]


def resolving(table: dict[str, list[str]]) -> Resolver:
    """A resolver that answers from `table` and fails like getaddrinfo for anything else."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return table[host]

    return resolve


async def nothing_charged(h: Harness, fake_fal: FakeFal) -> None:
    """No provider request, and no quota used by the member in any server."""
    assert fake_fal.requests == []
    assert await h.bot.db.jobs.quota_used(MEMBER, quota_day(time.time())) == 0


async def test_lora_links_to_internal_addresses_are_refused(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        for link in INTERNAL_LINKS:
            interaction = await fake_discord.send_interaction(
                "lora", [opt("prompt", "p"), opt("lora", link)], user_id=MEMBER
            )
            assert REFUSED in await answer(h, interaction), link
            assert await h.job_for(interaction) is None, link
        await nothing_charged(h, fake_fal)


async def test_lora_link_whose_name_resolves_to_a_private_address_is_refused(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        h.bot.loras.resolver = resolving(
            {"evil.example.com": ["10.0.0.5"], "mixed.example.com": ["93.184.215.14", "::1"]}
        )
        for link in (
            "https://evil.example.com/x.safetensors",
            "https://mixed.example.com/x.safetensors",
        ):
            interaction = await fake_discord.send_interaction(
                "lora", [opt("prompt", "p"), opt("lora", link)], user_id=MEMBER
            )
            text = await answer(h, interaction)
            assert REFUSED in text and "resolves to" in text, (link, text)
        await nothing_charged(h, fake_fal)


async def test_adding_an_internal_lora_link_to_the_library_is_refused(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        added = await loras(
            fake_discord, "add", name="meta", url="https://169.254.169.254/x.safetensors"
        )
        assert REFUSED in await answer(h, added)
        assert await h.bot.db.loras.get(fake_discord.guild_id, "meta") is None


async def test_a_library_lora_with_an_internal_link_is_refused_when_used(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        # A row stored before links were checked.
        await h.bot.db.loras.add(
            LoraRow(
                guild_id=fake_discord.guild_id,
                name="old",
                url="https://10.1.2.3/old.safetensors",
                trigger_words="",
                default_scale=1.0,
                nsfw=False,
                added_by=1,
                created_at=time.time(),
            )
        )
        interaction = await fake_discord.send_interaction(
            "lora", [opt("prompt", "p"), opt("lora", "old")], user_id=MEMBER
        )
        assert REFUSED in await answer(h, interaction)
        await nothing_charged(h, fake_fal)


async def test_civitai_lookup_does_not_follow_a_redirect_to_an_internal_address(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_civitai: FakeCivitai,
    cdn: FakeCDN,
    db_path: Path,
) -> None:
    fake_civitai.add_model(12345, "Cool Style", versions=[(777, "Flux.1 D")])
    inside = cdn.put("internal/models/12345", b"{}", "application/json")
    fake_civitai.inject(
        "GET", r"^/api/v1/models/12345$", status=302, json={}, headers={"Location": inside}
    )
    async with running_bot(
        fake_discord, db_path, providers={"civitai": {"models_base_url": fake_civitai.base_url}}
    ) as h:
        interaction = await fake_discord.send_interaction(
            "lora",
            [opt("prompt", "p"), opt("lora", "https://civitai.com/models/12345")],
            user_id=MEMBER,
        )
        text = await answer(h, interaction)
        assert "I couldn't look that LoRA up on CivitAI" in text and REFUSED in text, text
        assert cdn.requests == []
        await nothing_charged(h, fake_fal)


async def test_civitai_download_link_to_an_internal_address_is_refused(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    model = fake_civitai.add_model(12345, "Cool Style", versions=[(777, "Flux.1 D")])
    model["modelVersions"][0]["downloadUrl"] = "http://169.254.169.254/latest/x.safetensors"
    async with running_bot(
        fake_discord, db_path, providers={"civitai": {"models_base_url": fake_civitai.base_url}}
    ) as h:
        interaction = await fake_discord.send_interaction(
            "lora",
            [opt("prompt", "p"), opt("lora", "https://civitai.com/models/12345")],
            user_id=MEMBER,
        )
        assert REFUSED in await answer(h, interaction)
        await nothing_charged(h, fake_fal)


async def test_a_reroll_checks_the_inherited_lora_links_again(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        link = "https://weights.example.com/x.safetensors"
        first = await fake_discord.send_interaction(
            "lora", [opt("prompt", "p"), opt("lora", link)], user_id=MEMBER
        )
        await h.idle()
        parent = await h.job_for(first)
        assert parent is not None and parent.state == "done"
        used = (await h.bot.jobs.usage(MEMBER)).used
        h.bot.loras.resolver = resolving({"weights.example.com": ["192.168.7.7"]})  # moved inward
        click = await fake_discord.send_component(
            h.original(first), f"af:rr:{parent.id}", user_id=MEMBER
        )
        await h.settled()
        (text,) = click.private_answers()
        assert REFUSED in text and "192.168.7.7" in text, text
        assert await h.job_for(click) is None
        assert len(fake_fal.submits) == 1
        assert (await h.bot.jobs.usage(MEMBER)).used == used


async def test_a_remix_checks_the_inherited_lora_links_again(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        link = "https://weights.example.com/x.safetensors"
        first = await fake_discord.send_interaction(
            "lora", [opt("prompt", "p"), opt("lora", link)], user_id=MEMBER
        )
        await h.idle()
        parent = await h.job_for(first)
        assert parent is not None and parent.state == "done"
        used = (await h.bot.jobs.usage(MEMBER)).used
        click = await fake_discord.send_component(
            h.original(first), f"af:rx:{parent.id}", user_id=MEMBER
        )
        await h.settled()
        modal = click.callbacks()[0].json["data"]
        prompt_input = modal["components"][0]["components"][0]["custom_id"]
        h.bot.loras.resolver = resolving({"weights.example.com": ["::1"]})  # moved inward
        submit = await fake_discord.send_modal_submit(
            f"af:rxm:{parent.id}", {prompt_input: "p, at dawn"}, user_id=MEMBER
        )
        await h.settled()
        (text,) = submit.private_answers()
        assert REFUSED in text and "::1" in text, text
        assert await h.job_for(submit) is None
        assert len(fake_fal.submits) == 1
        assert (await h.bot.jobs.usage(MEMBER)).used == used
