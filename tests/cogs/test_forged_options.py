"""Forged option payloads (Discord's client never sends these) get a private answer naming the
option, and nothing is written or charged. discord.py passes such values through unchecked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.jobs.intake import quota_day
from tests.cogs.moderation_helpers import ALICE, User, admin, private_answer, snapshot
from tests.fakes.discord import FakeDiscord, Interaction
from tests.fakes.fal import FakeFal
from tests.harness import Harness, running_bot

USER = 4000


def raw(name: str, type_: int, value: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "value": value}


async def forged_imagine(h: Harness, *extra: dict[str, Any]) -> Interaction:
    return await h.discord.send_interaction(
        "imagine", [raw("prompt", 3, "a red fox"), *extra], user_id=USER
    )


async def assert_refused_with_nothing_charged(h: Harness, interaction: Interaction) -> str:
    callbacks = interaction.callbacks()
    assert [c.json["type"] for c in callbacks] == [4], "answered once, without a placeholder"
    assert callbacks[0].json["data"]["flags"] & 64  # ephemeral
    assert await h.job_for(interaction) is None
    return str(callbacks[0].json["data"]["content"])


async def test_an_option_of_the_wrong_type_is_refused_naming_the_option(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        cases = [
            (await forged_imagine(h, raw("count", 3, "four")), "`count` must be a whole number"),
            (await forged_imagine(h, raw("seed", 10, 1.5)), "`seed` must be a whole number"),
            (await forged_imagine(h, raw("guidance", 3, "high")), "`guidance` must be a number"),
            (
                await forged_imagine(h, raw("guidance", 10, float("nan"))),
                "`guidance` must be a number",
            ),
            (
                await h.discord.send_interaction("imagine", [raw("prompt", 4, 5)], user_id=USER),
                "`prompt` must be text",
            ),
        ]
        await h.settled()
        for interaction, words in cases:
            answer = await assert_refused_with_nothing_charged(h, interaction)
            assert words in answer and "nothing was charged" in answer, answer
        assert await h.bot.db.jobs.quota_used(USER, quota_day()) == 0
        assert fake_fal.requests == []


async def test_a_choice_that_is_not_offered_is_refused_naming_the_option(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        period = await h.discord.send_interaction(
            "gallery", [{"name": "top", "type": 1, "options": [raw("period", 3, "year")]}]
        )
        provider = await forged_imagine(h, raw("provider", 3, "midjourney"))
        ratio = await forged_imagine(h, raw("aspect_ratio", 3, "5:4"))
        await h.settled()
        answer = await assert_refused_with_nothing_charged(h, period)
        assert "`period` must be one of day, week, month" in answer, answer
        answer = await assert_refused_with_nothing_charged(h, provider)
        assert "`provider` must be one of fal, replicate, civitai, openai" in answer, answer
        answer = await assert_refused_with_nothing_charged(h, ratio)
        assert "`aspect_ratio` must be one of 1:1, 16:9" in answer, answer
        assert await h.bot.db.jobs.quota_used(USER, quota_day()) == 0
        assert fake_fal.requests == []


async def test_a_forged_option_of_a_subcommand_is_refused_naming_the_option(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:  # the helper's caller has Manage Server
        before = await snapshot(h)
        answer = await private_answer(
            h, await admin(fake_discord, "quota", "user", member=User(ALICE), images="lots")
        )
        assert "`images` must be a whole number" in answer, answer
        assert await snapshot(h) == before
