"""`/lineage`: the chain back to the root and the direct children, paginated with buttons."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.discord import FakeDiscord, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)


async def click(h: Harness, parent: Interaction, custom_id: str, user_id: int) -> Interaction:
    message = h.original(parent)
    child = await h.discord.send_component(message, custom_id, user_id=user_id)
    await h.idle()
    return child


def embed_of(h: Harness, interaction: Interaction) -> dict[str, object]:
    message = h.original(interaction)
    assert message.embeds, message.history
    return message.embeds[0]


async def test_lineage_shows_the_chain_and_children_and_pages_through_them(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        root = await h.imagine(prompt="an owl", user_id=4000)
        await h.idle()
        root_job = await h.job_for(root)
        assert root_job is not None
        child = await click(h, root, f"af:rr:{root_job.id}", 5000)
        child_job = await h.job_for(child)
        assert child_job is not None
        grandchild = await click(h, child, f"af:v:{child_job.id}:1", 6000)
        grand_job = await h.job_for(grandchild)
        assert grand_job is not None
        sibling = await click(h, root, f"af:v:{root_job.id}:1", 6000)
        sibling_job = await h.job_for(sibling)
        assert sibling_job is not None

        by_link = f"https://discord.com/channels/{fake_discord.guild_id}/{fake_discord.channel_id}/{h.original(child).id}"
        asked = await fake_discord.send_interaction(
            "lineage", [{"name": "job", "type": 3, "value": by_link}]
        )
        await h.settled()
        embed = embed_of(h, asked)
        fields = {f["name"]: f["value"] for f in embed["fields"]}  # type: ignore[index]
        assert embed["title"] == f"#{child_job.id} · reroll"
        assert fields["Chain"] == f"#{root_job.id} → #{child_job.id}"
        assert fields[f"Children of #{child_job.id}"] == f"#{grand_job.id}"
        assert fields["By"] == "<@5000>"
        assert embed["thumbnail"]["url"].startswith("http")  # type: ignore[index]
        assert "page 2/3" in embed["footer"]["text"]  # type: ignore[index]

        message = h.original(asked)
        buttons = [c for row in message.components for c in row["components"]]
        back = await fake_discord.send_component(message, buttons[0]["custom_id"])
        await h.settled()
        assert [c.json["type"] for c in back.callbacks()] == [7]
        assert embed_of(h, asked)["title"] == f"#{root_job.id} · original"

        by_number = await fake_discord.send_interaction(
            "lineage", [{"name": "job", "type": 3, "value": f"#{root_job.id}"}]
        )
        await h.settled()
        fields = {f["name"]: f["value"] for f in embed_of(h, by_number)["fields"]}  # type: ignore[index]
        assert fields[f"Children of #{root_job.id}"] == f"#{child_job.id}, #{sibling_job.id}"

        unknown = await fake_discord.send_interaction(
            "lineage", [{"name": "job", "type": 3, "value": "424242"}]
        )
        await h.settled()
        texts = [
            str((r.json or {}).get("content"))
            for r in fake_discord.requests
            if unknown.token in r.path and r.json
        ]
        assert any("can't find that job in this server" in t for t in texts)
