"""`/admin` end to end: permission checks (also on forged payloads), prompt filters, bans,
quota tiers and overrides, server and channel settings."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bot.jobs.intake import quota_day
from tests.cogs.moderation_helpers import (
    ALICE,
    BOB,
    GALLERY_CHANNEL,
    MANAGE_MESSAGES_ONLY,
    MEMBER,
    MOD,
    MOD_CHANNEL,
    QUICK,
    Channel,
    Role,
    User,
    admin,
    answer,
    private_answer,
    role_json,
    snapshot,
)
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import Harness, running_bot

AUDIT = 3998
REFUSED = "Sorry, /admin is for members with the Manage Server permission."

EVERY_SUBCOMMAND: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("filter", "add"), {"kind": "word", "pattern": "forbidden"}),
    (("filter", "remove"), {"kind": "word", "pattern": "dragon"}),
    (("filter", "list"), {}),
    (("quota", "user"), {"member": User(BOB), "images": 99}),
    (("quota", "role"), {"role": Role(7001), "images": 99}),
    (("quota", "reset"), {"member": User(BOB)}),
    (("ban",), {"member": User(BOB), "reason": "x", "duration": "1h"}),
    (("unban",), {"member": User(ALICE)}),
    (("settings", "show"), {}),
    (("settings", "server"), {"mod_channel": Channel(3999), "monthly_budget": 1.0}),
    (("settings", "channel"), {"channel": Channel(3000), "generation": False}),
]


async def refused_imagine(h: Harness, user_id: int = ALICE, **values: Any) -> str:
    interaction = await h.imagine(user_id=user_id, **values)
    text = await private_answer(h, interaction)
    assert await h.job_for(interaction) is None
    original = interaction.original()
    assert original is None or original.deleted  # no public "thinking…" left behind
    return text


async def test_every_subcommand_is_refused_without_manage_server_even_when_forged(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        # Some state that a refused command could leak or change.
        assert "Added" in await answer(
            h, await admin(fake_discord, "filter", "add", kind="word", pattern="dragon")
        )
        await answer(h, await admin(fake_discord, "ban", member=User(ALICE)))
        registered = fake_discord.guild_commands[fake_discord.guild_id]["admin"]
        assert registered["default_member_permissions"] == str(1 << 5)  # Manage Server
        assert registered.get("contexts") in (None, [0])  # servers only
        before = await snapshot(h)

        for permissions in (MEMBER, MANAGE_MESSAGES_ONLY):
            for path, values in EVERY_SUBCOMMAND:
                interaction = await admin(
                    fake_discord, *path, permissions=permissions, user_id=BOB, **values
                )
                text = await private_answer(h, interaction)
                assert text == REFUSED, (path, text)
                assert "dragon" not in text
        assert await snapshot(h) == before


async def test_filters_block_disguised_prompts_before_the_provider(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        added = await private_answer(
            h, await admin(fake_discord, "filter", "add", kind="word", pattern="  NSFW ")
        )
        assert "Added the word filter `nsfw`" in added
        again = await private_answer(
            h, await admin(fake_discord, "filter", "add", kind="word", pattern="nsfw")
        )
        assert "already in place" in again
        bad = await private_answer(
            h, await admin(fake_discord, "filter", "add", kind="regex", pattern="gore(")
        )
        assert "That regex does not compile" in bad and "nothing was added" in bad
        everything = await private_answer(
            h, await admin(fake_discord, "filter", "add", kind="regex", pattern=".*")
        )
        assert "would block every prompt" in everything
        await private_answer(
            h, await admin(fake_discord, "filter", "add", kind="regex", pattern=r"gore\w*")
        )
        listed = await private_answer(h, await admin(fake_discord, "filter", "list"))
        assert "Prompt filters on this server (2)" in listed
        # In a code span a backslash is shown as is: the regex reads exactly as it was typed.
        assert "word: `nsfw`" in listed and "regex: `gore\\w*`" in listed
        store = h.bot.db.settings
        assert await store.filters(fake_discord.guild_id) == [
            ("regex", r"gore\w*"),
            ("word", "nsfw"),
        ]

        for prompt in ("N.S.F.W art", "ｎｓｆｗ art", "n5fw art", "n s f w art", "G0REfest"):
            text = await refused_imagine(h, prompt=prompt)
            assert text == "That prompt can't be used on this server.", prompt
        assert fake_fal.submits == []  # no provider call at all
        assert await h.bot.db.jobs.quota_used(ALICE, _today()) == 0

        removed = await private_answer(
            h, await admin(fake_discord, "filter", "remove", kind="word", pattern="NSFW")
        )
        assert "Removed the word filter `nsfw`" in removed
        missing = await private_answer(
            h, await admin(fake_discord, "filter", "remove", kind="word", pattern="nsfw")
        )
        assert "There is no word filter 'nsfw'" in missing
        allowed = await h.imagine(prompt="N.S.F.W art", user_id=ALICE)
        await h.idle()
        job = await h.job_for(allowed)
        assert job is not None and job.state == "done"
        assert len(fake_fal.submits) == 1


def _today() -> str:
    return quota_day()


async def test_a_banned_member_is_refused_before_any_charge_until_unbanned(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await private_answer(
            h, await admin(fake_discord, "settings", "server", audit_channel=Channel(AUDIT))
        )
        banned = await private_answer(
            h, await admin(fake_discord, "ban", member=User(ALICE), reason="spamming the channel")
        )
        assert f"<@{ALICE}> can't generate images on this server until you lift it" in banned
        text = await refused_imagine(h, prompt="a quiet lake", count=2)
        assert text == "You can't generate images on this server. Reason: spamming the channel"
        assert fake_fal.submits == []
        assert await h.bot.db.jobs.quota_used(ALICE, _today()) == 0
        # Others are not affected.
        other = await h.imagine(prompt="a quiet lake", user_id=BOB)
        await h.idle()
        assert (await h.job_for(other)) is not None

        lifted = await private_answer(h, await admin(fake_discord, "unban", member=User(ALICE)))
        assert f"<@{ALICE}> can generate images again." == lifted
        not_banned = await private_answer(h, await admin(fake_discord, "unban", member=User(ALICE)))
        assert "was not banned" in not_banned
        allowed = await h.imagine(prompt="a quiet lake", user_id=ALICE)
        await h.idle()
        job = await h.job_for(allowed)
        assert job is not None and job.state == "done"

        # Every change is a line in the audit channel.
        await h.bot.audit.flush()
        audit = "\n".join(m.content or "" for m in fake_discord.channel_messages(AUDIT))
        assert f"🛠️ <@{MOD}> changed the server settings: audit_channel" in audit
        assert (
            f"🛠️ <@{MOD}> banned <@{ALICE}> from generating until unbanned (spamming the channel)"
            in audit
        )
        assert f"🛠️ <@{MOD}> lifted the ban of <@{ALICE}>" in audit


@pytest.mark.parametrize("duration", ["30", "1y", "0m", "30 minutes", "-5m", "m", "1.5h"])
async def test_ban_durations_are_parsed_strictly(
    fake_discord: FakeDiscord, db_path: Path, duration: str
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        text = await private_answer(
            h, await admin(fake_discord, "ban", member=User(ALICE), duration=duration)
        )
        assert f"The duration {duration.strip()!r} is not valid" in text
        assert "like 30m, 12h or 7d" in text
        assert await h.bot.db.settings.active_ban(fake_discord.guild_id, ALICE, 0) is None


async def test_a_timed_ban_expires(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        started = time.time()
        text = await private_answer(
            h, await admin(fake_discord, "ban", member=User(ALICE), duration="30m")
        )
        assert "can't generate images on this server until <t:" in text
        store = h.bot.db.settings
        ban = await store.active_ban(fake_discord.guild_id, ALICE, time.time())
        assert ban is not None and ban.until is not None and ban.banned_by == MOD
        assert started + 1800 <= ban.until <= time.time() + 1800
        assert await store.active_ban(fake_discord.guild_id, ALICE, ban.until - 1) is not None
        assert await store.active_ban(fake_discord.guild_id, ALICE, ban.until + 1) is None

        refusal = await refused_imagine(h, prompt="a lighthouse")
        assert f"until <t:{int(ban.until)}:f>" in refusal
        # The ban's time runs out.
        await h.bot.db.connection.execute(
            "UPDATE bans SET until = ? WHERE user_id = ?", (time.time() - 1, ALICE)
        )
        allowed = await h.imagine(prompt="a lighthouse", user_id=ALICE)
        await h.idle()
        job = await h.job_for(allowed)
        assert job is not None and job.state == "done"


async def usage_text(h: Harness, roles: list[int] | None = None) -> str:
    interaction = await h.discord.send_interaction(
        "usage", [], user_id=ALICE, permissions=MEMBER, member_roles=roles
    )
    return await private_answer(h, interaction)


async def test_role_tiers_personal_override_and_reset(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    silver, gold = 7001, 7002
    async with running_bot(fake_discord, db_path, quotas={"images_per_user_per_day": 3}) as h:
        for role in (silver, gold):  # the server's roles, as the gateway announces them
            await fake_discord.dispatch(
                "GUILD_ROLE_CREATE",
                {"guild_id": str(fake_discord.guild_id), "role": role_json(role)},
            )
        await asyncio.sleep(0.2)
        text = await private_answer(
            h, await admin(fake_discord, "quota", "role", role=Role(silver), images=5)
        )
        assert f"Members with <@&{silver}> now get **5** images a day" in text
        await private_answer(
            h, await admin(fake_discord, "quota", "role", role=Role(gold), images=12)
        )

        assert "of your **3** images" in await usage_text(h)
        assert "of your **5** images" in await usage_text(h, [silver])
        assert "of your **12** images" in await usage_text(h, [silver, gold])  # the highest

        # A personal quota beats the roles, and 0 turns generation off.
        await private_answer(
            h, await admin(fake_discord, "quota", "user", member=User(ALICE), images=0)
        )
        interaction = await fake_discord.send_interaction(
            "imagine",
            [{"name": "prompt", "type": 3, "value": "a kite"}],
            user_id=ALICE,
            member_roles=[silver, gold],
        )
        refusal = await private_answer(h, interaction)
        assert "Image generation is turned off for you on this server." in refusal
        assert fake_fal.submits == []
        text = await private_answer(
            h, await admin(fake_discord, "quota", "user", member=User(ALICE), images=2)
        )
        assert f"<@{ALICE}> now has **2** images a day" in text
        assert "of your **2** images" in await usage_text(h, [silver, gold])

        interaction = await fake_discord.send_interaction(
            "imagine",
            [
                {"name": "prompt", "type": 3, "value": "a kite"},
                {"name": "count", "type": 4, "value": 2},
            ],
            user_id=ALICE,
            member_roles=[silver, gold],
        )
        await h.idle()
        assert (await h.job_for(interaction)) is not None
        assert "used **2** of your **2** images today; **0** left" in await usage_text(
            h, [silver, gold]
        )

        # Reset: the override goes, the roles apply again, and today's 2 images come back.
        reset = await private_answer(
            h, await admin(fake_discord, "quota", "reset", member=User(ALICE))
        )
        assert "personal quota was removed" in reset
        assert "gave back the 2 images they used today" in reset
        assert "used **2** of your **14** images today; **12** left" in await usage_text(
            h, [silver, gold]
        )
        # A second reset the same day gives back only what was used since.
        again = await private_answer(
            h, await admin(fake_discord, "quota", "reset", member=User(ALICE))
        )
        assert "They had no personal quota." in again
        assert "used no images today" in again
        assert "**12** left" in await usage_text(h, [silver, gold])


async def test_server_and_channel_settings_are_validated_and_applied(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        store = h.bot.db.settings
        guild = fake_discord.guild_id
        unknown = await private_answer(
            h, await admin(fake_discord, "settings", "server", providers="fal, dalle, midjourney")
        )
        assert "Unknown providers: dalle, midjourney. This bot offers fal, replicate" in unknown
        model = await private_answer(
            h, await admin(fake_discord, "settings", "server", models="fal-ai/flux/dev, sd-1.5")
        )
        assert "Unknown model: sd-1.5." in model
        default = await private_answer(
            h, await admin(fake_discord, "settings", "server", default_provider="openai")
        )
        assert "Unknown provider: openai" in default
        assert (await store.guild(guild)).updated_at == 0.0  # nothing was saved

        saved = await private_answer(
            h,
            await admin(
                fake_discord,
                "settings",
                "server",
                mod_channel=Channel(MOD_CHANNEL),
                gallery_channel=Channel(GALLERY_CHANNEL),
                providers="Replicate, fal",
                default_provider="replicate",
                nsfw_spoilers=False,
                monthly_budget=25.5,
            ),
        )
        assert saved.startswith("Saved.")
        settings = await store.guild(guild)
        assert (settings.mod_channel_id, settings.gallery_channel_id) == (
            MOD_CHANNEL,
            GALLERY_CHANNEL,
        )
        assert (settings.providers, settings.default_provider) == ("replicate,fal", "replicate")
        assert (settings.nsfw_spoilers, settings.monthly_budget) == (False, 25.5)
        conflict = await private_answer(
            h, await admin(fake_discord, "settings", "server", providers="fal")
        )
        assert "The default provider replicate would not be allowed" in conflict

        shown = await private_answer(h, await admin(fake_discord, "settings", "show"))
        for line in (
            f"Moderation channel: <#{MOD_CHANNEL}>",
            f"Gallery channel: <#{GALLERY_CHANNEL}>",
            "Providers: replicate, fal",
            "Default provider: replicate",
            "Spoilers for flagged images in age-restricted channels: off",
            "Monthly budget: 25.50 USD a month",
        ):
            assert line in shown, (line, shown)

        # /imagine without a provider uses the server's default.
        first = await h.imagine(prompt="a red fox", user_id=ALICE)
        await h.idle()
        job = await h.job_for(first)
        assert job is not None and job.provider == "replicate" and job.state == "done"
        assert fake_fal.submits == []

        # Channel rules: generation off, then only fal in this channel.
        off = await private_answer(
            h,
            await admin(
                fake_discord, "settings", "channel", channel=Channel(3000), generation=False
            ),
        )
        assert off == "<#3000>: generation off; providers as the server allows."
        refusal = await refused_imagine(h, prompt="a red fox")
        assert refusal == "Image generation is turned off in this channel."
        await private_answer(
            h,
            await admin(
                fake_discord,
                "settings",
                "channel",
                channel=Channel(3000),
                generation=True,
                providers="fal",
            ),
        )
        second = await h.imagine(prompt="a red fox", user_id=ALICE)
        await h.idle()
        job = await h.job_for(second)
        assert job is not None and job.provider == "fal"  # the one the channel allows
        shown = await private_answer(h, await admin(fake_discord, "settings", "show"))
        assert "<#3000>: generation on; providers fal" in shown

        cleared = await private_answer(
            h,
            await admin(fake_discord, "settings", "server", providers="all", monthly_budget=0.0),
        )
        assert cleared.startswith("Saved.")
        settings = await store.guild(guild)
        assert (settings.providers, settings.monthly_budget) == ("", None)
        nothing = await private_answer(h, await admin(fake_discord, "settings", "server"))
        assert "Give at least one setting" in nothing
