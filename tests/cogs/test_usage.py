from __future__ import annotations

from pathlib import Path

from tests.cogs.moderation_helpers import ALICE, BOB, MEMBER, MOD, admin, answer, private_answer
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import running_bot


async def test_usage_shows_used_and_remaining_images_privately(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.1, steps=1))
    async with running_bot(fake_discord, db_path, quotas={"images_per_user_per_day": 10}) as h:
        await h.imagine(prompt="one", count=3)
        await h.idle()
        interaction = await fake_discord.send_interaction("usage", [])
        await h.idle()
        message = h.original(interaction)
        assert message.flags & 64
        assert "used **3** of your **10** images today; **7** left" in (message.content or "")
        assert "resets <t:" in (message.content or "")


async def test_moderators_also_see_the_servers_spend_top_users_and_providers(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.1, steps=1))
    fake_replicate.script(None, ReplicateScript(queue_s=0, run_s=0.1, steps=1))
    async with running_bot(fake_discord, db_path, quotas={"images_per_user_per_day": 10}) as h:
        saved = await answer(h, await admin(fake_discord, "settings", "server", monthly_budget=5.0))
        assert saved.startswith("Saved.")
        await h.imagine(prompt="one", count=3, user_id=ALICE)  # fal, 0.025 each
        await h.imagine(prompt="two", count=1, user_id=BOB, provider="replicate")
        await h.imagine(prompt="three", count=1, user_id=BOB, provider="fal")
        await h.idle()

        moderator = await fake_discord.send_interaction("usage", [], user_id=MOD)
        text = await private_answer(h, moderator)
        assert "You have used **0** of your **10** images today" in text
        assert "**This server this month** (since <t:" in text
        assert "0.125 USD of its 5.00 USD budget spent, 4.875 USD left." in text
        top = text.split("Top users:\n", 1)[1].split("\nBy provider:", 1)[0].splitlines()
        assert top == [
            f"1. <@{ALICE}> — 3 images, 0.075 USD",
            f"2. <@{BOB}> — 2 images, 0.05 USD",
        ]
        providers = text.split("By provider:\n", 1)[1].splitlines()
        assert providers == ["• fal — 4 images, 0.10 USD", "• replicate — 1 image, 0.025 USD"]

        member = await fake_discord.send_interaction("usage", [], user_id=ALICE, permissions=MEMBER)
        own = await private_answer(h, member)
        assert "used **3** of your **10** images today; **7** left" in own
        assert "This server" not in own and "USD" not in own and "Top users" not in own
