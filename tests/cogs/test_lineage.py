"""`/lineage`: the chain back to the root and the direct children, paginated with buttons."""

from __future__ import annotations

from pathlib import Path

from tests.cogs.moderation_helpers import download
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
        grandchild = await click(h, child, f"af:ia:vs:{child_job.id}:1", 6000)
        grand_job = await h.job_for(grandchild)
        assert grand_job is not None
        sibling = await click(h, root, f"af:ia:vs:{root_job.id}:1", 6000)
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
        assert [c.json["type"] for c in back.callbacks()] == [6]
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


async def lineage_of(h: Harness, job_id: int) -> Interaction:
    asked = await h.discord.send_interaction(
        "lineage", [{"name": "job", "type": 3, "value": f"#{job_id}"}]
    )
    await h.settled()
    return asked


async def test_lineage_thumbnails_are_read_fresh_from_the_result_message(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        root = await h.imagine(prompt="a lighthouse", user_id=4000)
        await h.idle()
        root_job = await h.job_for(root)
        assert root_job is not None
        child = await click(h, root, f"af:rr:{root_job.id}", 5000)
        child_job = await h.job_for(child)
        assert child_job is not None

        # A day later the URLs stored at delivery no longer work; the thumbnails still do.
        fake_discord.clock_offset += 2 * 86_400
        stored = (child_job.result_json or {})["attachments"][0]
        assert (await download(stored))[0] == 404
        asked = await lineage_of(h, child_job.id)
        thumbnail = embed_of(h, asked)["thumbnail"]["url"]  # type: ignore[index]
        assert fake_discord.unsigned(thumbnail) == fake_discord.unsigned(stored)
        assert await download(thumbnail) == (200, h.original(child).attachments[0].data)

        # Paging reads the other job's result message the same way.
        message = h.original(asked)
        back = next(
            c["custom_id"]
            for row in message.components
            for c in row["components"]
            if c["custom_id"].endswith(":p")
        )
        page = await fake_discord.send_component(message, back)
        await h.settled()
        assert [c.json["type"] for c in page.callbacks()] == [6]
        embed = embed_of(h, asked)
        assert embed["title"] == f"#{root_job.id} · original"
        thumbnail = embed["thumbnail"]["url"]  # type: ignore[index]
        assert f"/attachments/{h.original(root).id}/" in thumbnail
        assert await download(thumbnail) == (200, h.original(root).attachments[0].data)


async def test_lineage_shows_no_thumbnail_when_the_result_message_is_gone(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        root = await h.imagine(prompt="a kite", user_id=4000)
        await h.idle()
        job = await h.job_for(root)
        assert job is not None
        h.original(root).deleted = True  # deleted in Discord, not through the bot

        asked = await lineage_of(h, job.id)
        embed = embed_of(h, asked)
        assert embed["title"] == f"#{job.id} · original"
        assert "thumbnail" not in embed
