"""Prompt filters, NSFW gating, budgets and the audit channel, through the real bot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.jobs.intake import quota_day
from bot.moderation.gate import blocked_by, normalize
from db.reservation import month_start
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
FILTERS = [("word", "nsfw"), ("regex", r"gore\w*")]


@pytest.mark.parametrize(
    "prompt",
    [
        "nsfw art",
        "N.S.F.W art",
        "ｎｓｆｗ art",
        "n5fw art",
        "n s f w",
        "an NSFW, please",
        "nѕfw (cyrillic s)",
        "n\u200bsfw",
        "gorefest",
        "G0RE",
    ],
)
def test_obfuscated_variants_are_caught(prompt: str) -> None:
    assert blocked_by(FILTERS, prompt) is not None, normalize(prompt)


@pytest.mark.parametrize("prompt", ["a safe forest", "transfwarp", "class photo", "gorgeous"])
def test_innocent_prompts_pass(prompt: str) -> None:
    assert blocked_by(FILTERS, prompt) is None


async def test_blocked_prompts_never_reach_the_provider_and_are_audited(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        store = h.bot.db.settings
        await store.add_filter(fake_discord.guild_id, "word", "nsfw", 1)
        await store.update_guild(fake_discord.guild_id, audit_channel_id=3999)
        attempts = [await h.imagine(prompt=p) for p in ("N.S.F.W cat", "ｎｓｆｗ cat", "n5fw cat")]
        await h.idle()
        for interaction in attempts:
            followups = [
                r
                for r in fake_discord.requests
                if r.method == "POST" and r.path.endswith(interaction.token) and r.json
            ]
            assert [f.json["content"] for f in followups] == [
                "That prompt can't be used on this server."
            ]
            assert followups[0].json["flags"] & 64
            assert await h.job_for(interaction) is None
        assert fake_fal.requests == []
        await h.bot.audit.flush()
        (entry,) = fake_discord.channel_messages(3999)
        assert entry.content is not None and entry.content.count("🚫 blocked prompt") == 3


async def test_flagged_images_are_withheld_in_normal_channels(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1, nsfw=[True, False]))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(prompt="beach", count=2)
        await h.idle()
        message = h.original(interaction)
        assert len(message.attachments) == 1
        assert not message.attachments[0].filename.startswith("SPOILER_")
        assert "1 image was flagged by the provider's safety checker" in (message.content or "")
        job = await h.job_for(interaction)
        assert job is not None
        assert (job.state, job.withheld_images, job.refunded_images) == ("done", 1, 0)
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 2  # default: charged


async def test_flagged_images_are_spoilered_in_age_restricted_channels(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1, nsfw=[True, False]))
    fake_discord.nsfw_channels.add(3001)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await fake_discord.send_interaction(
            "imagine",
            [
                {"name": "prompt", "type": 3, "value": "beach"},
                {"name": "count", "type": 4, "value": 2},
            ],
            channel_id=3001,
        )
        await h.idle()
        names = [a.filename for a in h.original(interaction).attachments]
        assert len(names) == 2
        assert names[0].startswith("SPOILER_") and not names[1].startswith("SPOILER_")


async def test_servers_can_refund_withheld_images_instead(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1, nsfw=True))
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.db.settings.update_guild(fake_discord.guild_id, charge_flagged=False)
        interaction = await h.imagine(prompt="beach", count=2)
        await h.idle()
        message = h.original(interaction)
        assert message.attachments == []
        assert "2 images were flagged" in (message.content or "")
        assert "refunded to your quota" in (message.content or "")
        job = await h.job_for(interaction)
        assert job is not None and job.refunded_images == 2
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0


async def test_budget_cap_stops_jobs_at_the_exact_threshold_under_concurrency(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(
        fake_discord,
        db_path,
        costs={"per_model": {"fal-ai/flux/dev": 0.25}},
        generation={"max_jobs_per_user": 50, "max_concurrent_jobs": 50},
    ) as h:
        await h.bot.db.settings.update_guild(
            fake_discord.guild_id, monthly_budget=2.0
        )  # exactly 8 images
        burst = await asyncio.gather(
            *(h.imagine(prompt=f"p{i}", user_id=4000 + i) for i in range(20))
        )
        await h.idle(timeout=60)
        accepted = [j for i in burst if (j := await h.job_for(i)) is not None]
        assert len(accepted) == 8
        assert len(fake_fal.submits) == 8
        spent = await h.bot.db.jobs.guild_spend(fake_discord.guild_id, month_start(time.time()))
        assert spent == pytest.approx(2.0)
        refused = [i for i in burst if await h.job_for(i) is None]
        texts = [
            str(r.json.get("content"))
            for i in refused
            for r in fake_discord.requests
            if r.method == "POST" and r.path.endswith(i.token) and r.json
        ]
        assert len(texts) == 12
        assert all("used its $2.00 image budget for this month" in t for t in texts)
        assert all("resets <t:" in t for t in texts)


async def test_the_audit_channel_gets_one_entry_per_job_without_429s(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    fake_discord.rate_limits["POST /channels/{cid}/messages"] = (5, 5.0)
    async with running_bot(
        fake_discord, db_path, generation={"max_jobs_per_user": 30, "max_concurrent_jobs": 30}
    ) as h:
        await h.bot.db.settings.update_guild(fake_discord.guild_id, audit_channel_id=3999)
        burst = await asyncio.gather(*(h.imagine(prompt=f"audit {i}") for i in range(30)))
        await h.idle(timeout=60)
        await h.bot.audit.flush()
        lines = [
            line
            for m in fake_discord.channel_messages(3999)
            for line in (m.content or "").splitlines()
        ]
        jobs = [await h.job_for(i) for i in burst]
        assert sorted(int(line.split("#")[1].split()[0]) for line in lines) == sorted(
            j.id for j in jobs if j is not None
        )
        assert len(fake_discord.channel_messages(3999)) <= 3
        assert fake_discord.rate_limited_count == 0


# Characters that show nothing (format characters, variation selectors, Hangul fillers).
INVISIBLE = [
    "\u2063",  # invisible separator
    "\u2064",  # invisible plus
    "\u2066",  # left-to-right isolate
    "\u2067",  # right-to-left isolate
    "\u2068",  # first strong isolate
    "\u2069",  # pop directional isolate
    "\u180e",  # Mongolian vowel separator
    "\u202a",  # left-to-right embedding
    "\u202b",  # right-to-left embedding
    "\u202c",  # pop directional formatting
    "\u202d",  # left-to-right override
    "\u202e",  # right-to-left override
    "\U000e0001",  # language tag
    "\U000e0020",  # tag space
    "\U000e0073",  # tag latin small letter s
    "\U000e007f",  # cancel tag
    "\ufe00",  # variation selector-1
    "\ufe0f",  # variation selector-16
    "\U000e0100",  # variation selector-17
    "\U000e01ef",  # variation selector-256
    "\u3164",  # Hangul filler
]


async def refused(h: Harness, fake_fal: FakeFal, prompt: str) -> None:
    """The member gets the filter's refusal, privately; no job, provider call or quota used."""
    interaction = await h.imagine(prompt=prompt)
    await h.idle()
    answers = [
        r.json
        for r in h.discord.requests
        if r.method == "POST" and r.path.endswith(interaction.token) and r.json
    ]
    assert [a["content"] for a in answers] == ["That prompt can't be used on this server."]
    assert answers[0]["flags"] & 64
    assert await h.job_for(interaction) is None
    assert fake_fal.requests == []
    assert await h.bot.db.jobs.quota_used(4000, quota_day()) == 0


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
async def test_an_invisible_character_inside_a_blocked_word_is_caught(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, char: str
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.db.settings.add_filter(fake_discord.guild_id, "word", "nsfw", 1)
        await refused(h, fake_fal, f"a n{char}s{char}fw cat")


@pytest.mark.parametrize(
    "word",
    [
        "\u0578sf\u0561",  # Armenian small letters vo, ayb: n, w
        "\u0548\u054fF\u0531",  # Armenian capitals: their small letters look like n, w
        "N\u13daF\u13d4",  # Cherokee letters du, ta: S, W
        "n\uabaaf\uab83",  # Cherokee small letters du, la: s, w
        "\ua4e0\ua4e2\ua4dd\ua4ea",  # Lisu letters na, sa, tsa, wa: N, S, F, W
        "\u2c9bsfw",  # Coptic small letter ni: n
        "ns\u15b4w",  # Canadian syllabics Blackfoot we: F
        "n\ua731f\u1d21",  # Latin letters small capital s, w
        "\U0001d427\U0001d42c\U0001d41f\U0001d430",  # mathematical bold
        "\U0001d4f7\U0001d4fc\U0001d4ef\U0001d500",  # mathematical bold script
    ],
)
async def test_look_alike_letters_from_any_script_are_caught(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path, word: str
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.db.settings.add_filter(fake_discord.guild_id, "word", "nsfw", 1)
        await refused(h, fake_fal, f"a {word} cat")
