"""A member's studio (issue 16): `/settings` defaults, styles and permutations, through the real
bot against the loopback fakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
ADMIN = "2147483647"  # includes Manage Server
USER = 4000
SELECT = 3  # component type of a string select


def opt(name: str, value: Any) -> dict[str, Any]:
    types = {str: 3, int: 4, float: 10, bool: 5}
    return {"name": name, "type": types[type(value)], "value": value}


async def command(
    h: Harness, command_name: str, /, *, sub: str | None = None, **values: Any
) -> Interaction:
    options = [opt(k, v) for k, v in values.items()]
    if sub is not None:
        options = [{"name": sub, "type": 1, "options": options}]
    interaction = await h.discord.send_interaction(command_name, options, permissions=ADMIN)
    await h.settled()
    return interaction


async def used(h: Harness) -> int:
    """The member's images today in the test server."""
    return (await h.bot.jobs.usage(USER, h.discord.guild_id)).used


async def panel(h: Harness) -> FakeMessage:
    interaction = await command(h, "settings")
    message = h.original(interaction)
    assert message.ephemeral
    return message


async def choose(h: Harness, message: FakeMessage, field: str, value: str) -> FakeMessage:
    await h.discord.send_component(
        message, f"af:set:{field}", component_type=SELECT, values=[value]
    )
    await h.settled()
    updated = h.discord.message(message.id)
    assert updated is not None
    return updated


async def test_a_saved_default_aspect_ratio_reaches_the_provider(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        shown = await choose(h, await panel(h), "ar", "16:9")
        assert "Aspect ratio: 16:9" in (shown.content or "")
        await h.imagine(prompt="a lighthouse")
        await h.idle()
        assert fake_fal.submits[-1][1]["image_size"] == "landscape_16_9"


async def test_an_explicit_option_beats_the_saved_default(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.studio.defaults.save(USER, aspect_ratio="16:9", image_count=3)
        await h.imagine(prompt="a lighthouse --ar 9:16", count=1)
        await h.idle()
        sent = fake_fal.submits[-1][1]
        assert sent["image_size"] == "portrait_16_9" and sent["num_images"] == 1


async def test_a_default_the_server_forbids_is_reported_and_not_used(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.db.settings.update_guild(fake_discord.guild_id, providers="fal")
        shown = await choose(h, await panel(h), "model", "p:replicate")
        assert "⚠️ replicate is not allowed here" in (shown.content or "")
        interaction = await h.imagine(prompt="a lighthouse")
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None and job.provider == "fal" and job.state == "done"


async def test_reset_puts_every_default_back_to_the_servers(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.studio.defaults.save(USER, aspect_ratio="16:9", private=True)
        message = await panel(h)
        await h.discord.send_component(message, "af:set:reset")
        await h.settled()
        shown = h.discord.message(message.id)
        assert shown is not None and "Aspect ratio: server default" in (shown.content or "")
        assert (await h.bot.db.studio.member(USER)).aspect_ratio is None
        assert not h.bot.studio.defaults.private_default(USER)


async def test_a_style_wraps_the_prompt_and_the_result_credits_it(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        added = await command(
            h, "styles", sub="add", name="Ink", prompt_template="{prompt}, ink wash, rice paper"
        )
        assert added.private_answers() == ["Added the style **Ink** to this server."]
        interaction = await h.imagine(prompt="a heron", style="ink")
        await h.idle()
        assert fake_fal.submits[-1][1]["prompt"] == "a heron, ink wash, rice paper"
        assert "-# style: Ink" in (h.original(interaction).content or "")


async def test_an_unknown_style_is_refused_and_nothing_is_charged(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="a heron --style Nope")
        await h.settled()
        assert interaction.private_answers() == [
            "There is no style named “Nope”: see /styles list."
        ]
        assert fake_fal.submits == [] and await used(h) == 0


async def test_a_template_without_its_placeholder_is_refused(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        added = await command(h, "styles", sub="add", name="Ink", prompt_template="ink wash")
        (answer,) = added.private_answers()
        assert answer.startswith("A style's template needs {prompt}")
        assert await h.bot.db.studio.styles(fake_discord.guild_id, USER) == []


async def test_a_result_saved_as_my_style_is_used_by_its_name(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        first = await h.imagine(prompt="moody film still, teal and orange")
        await h.idle()
        job = await h.job_for(first)
        assert job is not None
        saved = await command(h, "styles", sub="save", name="Film", result=str(job.id))
        (answer,) = saved.private_answers()
        assert answer.startswith("Saved **Film** as your style")
        await h.imagine(prompt="a cat on a roof --style film")
        await h.idle()
        assert fake_fal.submits[-1][1]["prompt"] == (
            "a cat on a roof, moody film still, teal and orange"
        )


async def test_a_permutation_shows_its_cost_then_runs_one_job_per_combination(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        asked = await h.imagine(prompt="a {red, blue} {car, bike}")
        await h.settled()
        preview = h.original(asked)
        assert preview.ephemeral
        assert (preview.content or "").startswith("This permutation makes 4 jobs and 4 images")
        assert fake_fal.submits == [] and await used(h) == 0
        run = preview.components[0]["components"][0]["custom_id"]
        await h.discord.send_component(preview, run)
        await h.idle()
        prompts = sorted(submit[1]["prompt"] for submit in fake_fal.submits)
        assert prompts == ["a blue bike", "a blue car", "a red bike", "a red car"]
        assert await used(h) == 4


async def test_a_permutation_over_the_quota_left_is_refused_whole(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path, quotas={"images_per_user_per_day": 4}) as h:
        await h.imagine(prompt="a warm-up")
        await h.idle()
        asked = await h.imagine(prompt="a {red, blue} {car, bike}")
        await h.settled()
        (answer,) = asked.private_answers()
        assert answer.startswith("That permutation makes 4 jobs and 4 images, and you have 3 left")
        assert len(fake_fal.submits) == 1 and await used(h) == 1


async def test_a_permutation_whose_quota_went_meanwhile_runs_nothing(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path, quotas={"images_per_user_per_day": 4}) as h:
        asked = await h.imagine(prompt="a {red, blue} car")
        await h.settled()
        preview = h.original(asked)
        for _ in range(3):  # spent before the member clicks Run
            await h.imagine(prompt="something else")
        await h.idle()
        run = preview.components[0]["components"][0]["custom_id"]
        clicked = await h.discord.send_component(preview, run)
        await h.idle()
        (answer,) = clicked.private_answers()
        assert answer.startswith("You asked for 2 images but only 1 of your 4 daily images"), answer
        assert len(fake_fal.submits) == 3 and await used(h) == 3
        left = [m for m in clicked.followups() if not m.deleted and not m.ephemeral]
        assert left == [] and h.original(clicked).deleted  # no placeholder stays behind


async def test_in_a_burst_a_permutations_preview_is_still_private(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a burst /imagine is acknowledged publicly from the gateway event (issue 14); the
    preview still reaches the member alone, and no public placeholder stays."""
    from bot.jobs import journal

    monkeypatch.setattr(journal, "BURST_ACKS", 0)  # every command counts as part of a burst
    async with running_bot(fake_discord, db_path) as h:
        asked = await h.imagine(prompt="a {red, blue} car")
        await h.settled()
        assert [c.json["type"] for c in asked.callbacks()] == [5]  # the early, public one
        original = asked.original()
        assert original is None or original.deleted
        (preview,) = [m for m in asked.followups() if not m.deleted]
        assert preview.ephemeral
        assert (preview.content or "").startswith("This permutation makes 2 jobs and 2 images")
        assert fake_fal.submits == [] and await used(h) == 0
