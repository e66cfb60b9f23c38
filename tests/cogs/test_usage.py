from __future__ import annotations

from pathlib import Path

from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
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
