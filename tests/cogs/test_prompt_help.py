"""Prompt help (issue 16): a short prompt rewritten by an OpenAI-compatible chat model before it
is checked and charged; the server's filters see the rewrite, the result shows both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import parse_config
from bot.errors import ConfigError
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.fakes.openai_images import FakeOpenAIImages
from tests.harness import running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
REWRITE = "A red fox curled in fresh snow at dawn, soft golden light, wildlife photography"


def helped(fake: FakeOpenAIImages, **extra: Any) -> dict[str, Any]:
    return {"prompt_help": {"enabled": True, "base_url": f"{fake.base_url}/v1", **extra}}


async def test_a_short_prompt_is_rewritten_sent_shown_beside_the_original_and_priced(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_openai: FakeOpenAIImages,
    db_path: Path,
) -> None:
    fake_fal.script(None, QUICK)
    fake_openai.chat_answer = f'"{REWRITE}"'
    async with running_bot(
        fake_discord, db_path, **helped(fake_openai, cost_per_rewrite=0.01)
    ) as h:
        interaction = await h.imagine(prompt="a fox")
        await h.idle()
        (chat,) = fake_openai.chats
        assert chat["messages"][-1]["content"] == "a fox"
        assert fake_fal.submits[-1][1]["prompt"] == REWRITE
        content = h.original(interaction).content or ""
        assert f"**{REWRITE}**" in content and "prompt help, from: a fox" in content
        job = await h.job_for(interaction)
        assert job is not None and job.cost == pytest.approx(0.025 + 0.01)


async def test_a_banned_word_the_rewrite_brings_in_is_caught_and_nothing_is_charged(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_openai: FakeOpenAIImages,
    db_path: Path,
) -> None:
    fake_openai.chat_answer = "a fox in a gory battlefield"
    async with running_bot(fake_discord, db_path, **helped(fake_openai)) as h:
        await h.bot.db.settings.add_filter(fake_discord.guild_id, "word", "gory", 1)
        interaction = await h.imagine(prompt="a fox")
        await h.settled()
        assert interaction.private_answers() == ["That prompt can't be used on this server."]
        assert fake_fal.submits == []
        assert (await h.bot.jobs.usage(4000)).used == 0


async def test_a_long_prompt_or_a_failed_rewrite_keeps_the_members_words(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_openai: FakeOpenAIImages,
    db_path: Path,
) -> None:
    fake_fal.script(None, QUICK)
    fake_openai.chat_answer = REWRITE
    async with running_bot(fake_discord, db_path, **helped(fake_openai, max_words=3)) as h:
        await h.imagine(prompt="a fox asleep in the snow")  # 6 words: left alone
        await h.idle()
        assert fake_openai.chats == [] and fake_fal.submits[-1][1]["prompt"] == (
            "a fox asleep in the snow"
        )
        fake_openai.inject("POST", r"/chat/completions", status=500)
        await h.imagine(prompt="a fox")
        await h.idle()
        assert fake_fal.submits[-1][1]["prompt"] == "a fox"


def test_prompt_help_without_its_key_fails_at_start_naming_the_variable() -> None:
    raw = {"prompt_help": {"enabled": True, "api_key_env": "HELP_KEY"}}
    with pytest.raises(ConfigError, match="HELP_KEY is not set: export HELP_KEY="):
        parse_config(raw, {"DISCORD_TOKEN": "t", "FAL_KEY": "f"})
