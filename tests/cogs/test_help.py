"""`/help`: a private overview that lists only the commands the member may run."""

from __future__ import annotations

from pathlib import Path

from tests.cogs.moderation_helpers import MEMBER, MOD
from tests.fakes.discord import FakeDiscord
from tests.harness import running_bot


async def test_help_lists_what_the_member_may_run_privately(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path, quotas={"images_per_user_per_day": 12}) as h:
        member = await fake_discord.send_interaction("help", [], permissions=MEMBER)
        moderator = await fake_discord.send_interaction("help", [], user_id=MOD)
        await h.settled()
        embeds = {}
        for who, interaction in (("member", member), ("moderator", moderator)):
            (callback,) = interaction.callbacks()
            assert callback.json["type"] == 4 and callback.json["data"]["flags"] & 64
            (embed,) = callback.json["data"]["embeds"]
            fields = embed["fields"]
            embeds[who] = {f["name"]: f["value"] for f in fields}
            # The command list goes on in unnamed fields (1,024 characters each).
            listed = [f["value"] for f in fields if f["name"] in ("Commands", "\u200b")]
            embeds[who]["Commands"] = "\n".join(listed)
        commands = embeds["member"]["Commands"]
        for line in (
            "**/imagine** — Generate images from a text prompt",
            "**/variations** —",
            "**/lora** —",
            "**/loras list|info|add|remove** —",
            "**/gallery top** —",
            "**/usage** —",
            "**Apps → Make variations** on a message with an image",
            "**/settings** — Your own defaults for generating images",
            "**/styles list|info|add|save|remove** —",
        ):
            assert line in commands, (line, commands)
        assert "/admin" not in commands and "/help" not in commands
        assert commands.count("**Apps → Describe**") == 1
        assert "**/admin " in embeds["moderator"]["Commands"]
        assert "🎨 **Remix**" in embeds["member"]["Buttons on results"]
        assert "Up to 12 images a day" in embeds["member"]["Limits"]
