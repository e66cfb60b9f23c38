"""`/admin` end to end: permission checks (also on forged payloads), prompt filters, bans,
quota tiers and overrides, server and channel settings."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
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
    eventually,
    private_answer,
    role_json,
    snapshot,
)
from tests.fakes.discord import FakeDiscord, Interaction
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


SILVER, GOLD = 7001, 7002  # the server's roles with quota tiers
DEFAULT_IMAGES, SILVER_IMAGES, GOLD_IMAGES = 3, 5, 12
BOTH_ROLES = [SILVER, GOLD]


@pytest.fixture
async def tiers(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> AsyncIterator[Harness]:
    """A running bot with 3 images a day by default, and the silver (5) and gold (12) tiers."""
    fake_fal.script(None, QUICK)
    quotas = {"images_per_user_per_day": DEFAULT_IMAGES}
    async with running_bot(fake_discord, db_path, quotas=quotas) as h:
        for role in (SILVER, GOLD):  # the server's roles, as the gateway announces them
            await fake_discord.dispatch(
                "GUILD_ROLE_CREATE",
                {"guild_id": str(fake_discord.guild_id), "role": role_json(role)},
            )
        await eventually(lambda: _roles_known(h, SILVER, GOLD))
        text = await set_tier(h, SILVER, SILVER_IMAGES)
        assert f"Members with <@&{SILVER}> now get **{SILVER_IMAGES}** images a day" in text
        await set_tier(h, GOLD, GOLD_IMAGES)
        yield h


async def _roles_known(h: Harness, *roles: int) -> bool:
    guild = h.bot.get_guild(h.discord.guild_id)
    return guild is not None and all(guild.get_role(role) is not None for role in roles)


async def set_tier(h: Harness, role: int, images: int) -> str:
    return await private_answer(
        h, await admin(h.discord, "quota", "role", role=Role(role), images=images)
    )


async def set_personal_quota(h: Harness, images: int) -> str:
    return await private_answer(
        h, await admin(h.discord, "quota", "user", member=User(ALICE), images=images)
    )


async def imagine_with_both_roles(h: Harness, count: int = 1) -> Interaction:
    return await h.discord.send_interaction(
        "imagine",
        [
            {"name": "prompt", "type": 3, "value": "a kite"},
            {"name": "count", "type": 4, "value": count},
        ],
        user_id=ALICE,
        member_roles=BOTH_ROLES,
    )


async def use_the_whole_personal_quota(h: Harness) -> None:
    """ALICE gets a personal quota of 2 and makes 2 images."""
    await set_personal_quota(h, 2)
    interaction = await imagine_with_both_roles(h, count=2)
    await h.idle()
    assert (await h.job_for(interaction)) is not None


async def reset_alice(h: Harness) -> str:
    return await private_answer(h, await admin(h.discord, "quota", "reset", member=User(ALICE)))


async def test_role_tiers_set_their_members_daily_images_and_the_highest_wins(
    tiers: Harness,
) -> None:
    assert f"of your **{DEFAULT_IMAGES}** images" in await usage_text(tiers)
    assert f"of your **{SILVER_IMAGES}** images" in await usage_text(tiers, [SILVER])
    assert f"of your **{GOLD_IMAGES}** images" in await usage_text(tiers, BOTH_ROLES)


async def test_a_personal_quota_of_zero_turns_generation_off_whatever_the_roles(
    tiers: Harness, fake_fal: FakeFal
) -> None:
    await set_personal_quota(tiers, 0)
    interaction = await imagine_with_both_roles(tiers)
    refusal = await private_answer(tiers, interaction)
    assert "Image generation is turned off for you on this server." in refusal
    assert fake_fal.submits == []
    assert await tiers.job_for(interaction) is None


async def test_a_personal_quota_beats_the_role_tiers(tiers: Harness) -> None:
    text = await set_personal_quota(tiers, 2)
    assert f"<@{ALICE}> now has **2** images a day" in text
    assert "of your **2** images" in await usage_text(tiers, BOTH_ROLES)


async def test_images_made_count_against_the_personal_quota(
    tiers: Harness, fake_fal: FakeFal
) -> None:
    await use_the_whole_personal_quota(tiers)
    assert "used **2** of your **2** images today; **0** left" in await usage_text(
        tiers, BOTH_ROLES
    )
    assert len(fake_fal.submits) == 1


async def test_reset_removes_the_personal_quota_and_gives_back_todays_images(
    tiers: Harness,
) -> None:
    await use_the_whole_personal_quota(tiers)
    reset = await reset_alice(tiers)
    assert "personal quota was removed" in reset
    assert "gave back the 2 images they used today" in reset
    # The roles apply again (12), plus the 2 given back.
    assert "used **2** of your **14** images today; **12** left" in await usage_text(
        tiers, BOTH_ROLES
    )


async def test_a_second_reset_the_same_day_gives_back_only_what_was_used_since(
    tiers: Harness,
) -> None:
    await use_the_whole_personal_quota(tiers)
    await reset_alice(tiers)
    again = await reset_alice(tiers)
    assert "They had no personal quota." in again
    assert "used no images today" in again
    assert "**12** left" in await usage_text(tiers, BOTH_ROLES)


HERE = 3000  # the fake Discord's channel, where the commands in these tests are sent
BUDGET = 25.5


async def save_server_settings(h: Harness) -> str:
    """Every server setting at once: channels, fal and Replicate allowed with Replicate the
    default, no spoilers, a budget. Returns the answer."""
    return await private_answer(
        h,
        await admin(
            h.discord,
            "settings",
            "server",
            mod_channel=Channel(MOD_CHANNEL),
            gallery_channel=Channel(GALLERY_CHANNEL),
            providers="Replicate, fal",
            default_provider="replicate",
            nsfw_spoilers=False,
            monthly_budget=BUDGET,
        ),
    )


async def test_unknown_providers_models_and_default_provider_are_refused_and_nothing_saved(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        store = h.bot.db.settings
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
        assert (await store.guild(fake_discord.guild_id)).updated_at == 0.0  # nothing was saved


async def test_server_settings_are_saved_as_given(fake_discord: FakeDiscord, db_path: Path) -> None:
    async with running_bot(fake_discord, db_path) as h:
        saved = await save_server_settings(h)
        assert saved.startswith("Saved.")
        settings = await h.bot.db.settings.guild(fake_discord.guild_id)
        assert (settings.mod_channel_id, settings.gallery_channel_id) == (
            MOD_CHANNEL,
            GALLERY_CHANNEL,
        )
        assert (settings.providers, settings.default_provider) == ("replicate,fal", "replicate")
        assert (settings.nsfw_spoilers, settings.monthly_budget) == (False, BUDGET)


async def test_the_allowed_providers_must_include_the_default_provider(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        await save_server_settings(h)
        conflict = await private_answer(
            h, await admin(fake_discord, "settings", "server", providers="fal")
        )
        assert "The default provider replicate would not be allowed" in conflict
        settings = await h.bot.db.settings.guild(fake_discord.guild_id)
        assert settings.providers == "replicate,fal"  # unchanged


async def test_settings_show_lists_the_server_settings(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        await save_server_settings(h)
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


async def test_imagine_without_a_provider_uses_the_servers_default(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        await save_server_settings(h)
        first = await h.imagine(prompt="a red fox", user_id=ALICE)
        await h.idle()
        job = await h.job_for(first)
        assert job is not None and job.provider == "replicate" and job.state == "done"
        assert fake_fal.submits == []


async def test_a_channel_with_generation_off_refuses_imagine(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        off = await private_answer(
            h,
            await admin(
                fake_discord, "settings", "channel", channel=Channel(HERE), generation=False
            ),
        )
        assert off == f"<#{HERE}>: generation off; providers as the server allows."
        refusal = await refused_imagine(h, prompt="a red fox")
        assert refusal == "Image generation is turned off in this channel."
        assert fake_fal.submits == []


async def test_a_channels_providers_beat_the_servers_default(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await save_server_settings(h)  # the server's default is Replicate
        await private_answer(
            h,
            await admin(
                fake_discord,
                "settings",
                "channel",
                channel=Channel(HERE),
                generation=True,
                providers="fal",
            ),
        )
        second = await h.imagine(prompt="a red fox", user_id=ALICE)
        await h.idle()
        job = await h.job_for(second)
        assert job is not None and job.provider == "fal"  # the one the channel allows
        assert fake_replicate.predictions == {}
        shown = await private_answer(h, await admin(fake_discord, "settings", "show"))
        assert f"<#{HERE}>: generation on; providers fal" in shown


async def test_providers_all_and_a_zero_budget_clear_the_servers_limits(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        await save_server_settings(h)
        cleared = await private_answer(
            h,
            await admin(fake_discord, "settings", "server", providers="all", monthly_budget=0.0),
        )
        assert cleared.startswith("Saved.")
        settings = await h.bot.db.settings.guild(fake_discord.guild_id)
        assert (settings.providers, settings.monthly_budget) == ("", None)


async def test_settings_server_without_a_setting_asks_for_one(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        nothing = await private_answer(h, await admin(fake_discord, "settings", "server"))
        assert "Give at least one setting" in nothing
        assert (await h.bot.db.settings.guild(fake_discord.guild_id)).updated_at == 0.0
