"""🚩 Report end to end: the mod channel post, repeat reports, and the moderators' buttons."""

from __future__ import annotations

import time
from pathlib import Path

from tests.cogs.moderation_helpers import (
    ALICE,
    BOB,
    CAROL,
    GALLERY_CHANNEL,
    MEMBER,
    MOD,
    MOD_CHANNEL,
    QUICK,
    Channel,
    admin,
    answer,
    download,
    fetched,
    private_answer,
)
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

NSFW_CHANNEL = 3001


def custom_ids(message: FakeMessage) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row.get("components", [])]


async def result(h: Harness, prompt: str, count: int = 2) -> tuple[Interaction, FakeMessage]:
    interaction = await h.imagine(prompt=prompt, count=count, user_id=ALICE)
    await h.idle()
    message = h.original(interaction)
    assert len(message.attachments) == count
    return interaction, message


async def set_channels(h: Harness, *, mod: bool = True, gallery: bool = False) -> None:
    text = await answer(
        h,
        await admin(
            h.discord,
            "settings",
            "server",
            mod_channel=Channel(MOD_CHANNEL) if mod else None,
            gallery_channel=Channel(GALLERY_CHANNEL) if gallery else None,
        ),
    )
    assert text.startswith("Saved."), text


async def test_report_reaches_the_mod_channel_and_moderators_delete_and_ban(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await set_channels(h)
        interaction, message = await result(h, "a suspicious teapot")
        job = await h.job_for(interaction)
        assert job is not None

        report = await fake_discord.send_component(
            message, f"af:rep:{job.id}", user_id=BOB, permissions=MEMBER
        )
        thanks = await private_answer(h, report)
        assert thanks == "Thank you for the report: the moderators will take a look."
        (posted,) = fake_discord.channel_messages(MOD_CHANNEL)
        assert posted.content == f"🚩 <@{BOB}> reported job #{job.id} by <@{ALICE}>"
        embed = posted.embeds[0]
        link = f"https://discord.com/channels/{fake_discord.guild_id}/{job.channel_id}/{message.id}"
        assert embed["url"] == link
        assert "a suspicious teapot" in embed["description"]
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Author"] == f"<@{ALICE}>"
        assert fields["Reported by"] == f"<@{BOB}>"
        assert link in fields["Result"]
        # The report uploads its own copies of the images and shows those.
        assert [(a.filename, a.data) for a in posted.attachments] == [
            (a.filename, a.data) for a in message.attachments
        ]
        image_urls = [e["image"]["url"] for e in posted.embeds]
        assert image_urls == [
            f"{fake_discord.base_url}/attachments/{posted.id}/{a.filename}"
            for a in posted.attachments
        ]
        assert custom_ids(posted) == [f"af:mdel:{job.id}", f"af:mban:{job.id}"]

        # The same member again: acknowledged, not posted twice. Another member: posted.
        again = await fake_discord.send_component(
            message, f"af:rep:{job.id}", user_id=BOB, permissions=MEMBER
        )
        assert "already reported this image" in await private_answer(h, again)
        assert len(fake_discord.channel_messages(MOD_CHANNEL)) == 1
        second = await fake_discord.send_component(
            message, f"af:rep:{job.id}", user_id=CAROL, permissions=MEMBER
        )
        assert "Thank you" in await private_answer(h, second)
        assert len(fake_discord.channel_messages(MOD_CHANNEL)) == 2

        # Members without Manage Messages can't use the moderators' buttons.
        for custom_id in (f"af:mdel:{job.id}", f"af:mban:{job.id}"):
            click = await fake_discord.send_component(
                posted, custom_id, user_id=BOB, permissions=MEMBER
            )
            refusal = await private_answer(h, click)
            assert "Only moderators with the Manage Messages permission" in refusal
        assert not message.deleted
        store = h.bot.db.settings
        assert await store.active_ban(fake_discord.guild_id, ALICE, time.time()) is None

        delete = await fake_discord.send_component(posted, f"af:mdel:{job.id}", user_id=MOD)
        await h.settled()
        assert [c.json["type"] for c in delete.callbacks()] == [6]
        assert message.deleted
        deleted = await h.job_for(interaction)
        assert deleted is not None and deleted.deleted_at is not None
        assert f"🗑️ Image deleted by <@{MOD}>" in (posted.content or "")
        assert custom_ids(posted) == [f"af:mban:{job.id}"]

        ban = await fake_discord.send_component(posted, f"af:mban:{job.id}", user_id=MOD)
        await h.settled()
        assert [c.json["type"] for c in ban.callbacks()] == [6]
        active = await store.active_ban(fake_discord.guild_id, ALICE, time.time())
        assert active is not None and active.banned_by == MOD and active.until is None
        assert active.reason == f"reported image #{job.id}"
        assert f"⛔ <@{ALICE}> banned from generating by <@{MOD}>" in (posted.content or "")
        assert f"🗑️ Image deleted by <@{MOD}>" in (posted.content or "")
        assert custom_ids(posted) == []

        submits = len(fake_fal.submits)
        refused = await h.imagine(prompt="another teapot", user_id=ALICE)
        text = await private_answer(h, refused)
        assert text.startswith("You can't generate images on this server.")
        assert len(fake_fal.submits) == submits and await h.job_for(refused) is None


async def test_a_report_without_a_mod_channel_gets_a_clear_answer(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await result(h, "an odd cloud", count=1)
        job = await h.job_for(interaction)
        assert job is not None
        click = await fake_discord.send_component(
            message, f"af:rep:{job.id}", user_id=BOB, permissions=MEMBER
        )
        text = await private_answer(h, click)
        assert "This server has no moderation channel set up" in text
        assert "tell a moderator directly" in text
        assert fake_discord.channel_messages(MOD_CHANNEL) == []

        own = await fake_discord.send_component(message, f"af:rep:{job.id}", user_id=ALICE)
        assert "This is your own image" in await private_answer(h, own)

        # Once the channel is set, the same member's report goes through (nothing was kept).
        await set_channels(h)
        retry = await fake_discord.send_component(
            message, f"af:rep:{job.id}", user_id=BOB, permissions=MEMBER
        )
        assert "Thank you" in await private_answer(h, retry)
        (posted,) = fake_discord.channel_messages(MOD_CHANNEL)
        assert len(posted.embeds) == 1  # one image


async def test_a_moderator_delete_also_removes_the_gallery_post(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await set_channels(h, gallery=True)
        interaction, message = await result(h, "a shared painting", count=1)
        job = await h.job_for(interaction)
        assert job is not None
        share = await fake_discord.send_component(message, f"af:share:{job.id}:1", user_id=ALICE)
        assert "Shared to the gallery" in await private_answer(h, share)
        (gallery_post,) = fake_discord.channel_messages(GALLERY_CHANNEL)

        report = await fake_discord.send_component(
            message, f"af:rep:{job.id}", user_id=BOB, permissions=MEMBER
        )
        await private_answer(h, report)
        (posted,) = fake_discord.channel_messages(MOD_CHANNEL)
        await fake_discord.send_component(posted, f"af:mdel:{job.id}", user_id=MOD)
        await h.settled()
        assert message.deleted and gallery_post.deleted
        top = await fake_discord.send_interaction(
            "gallery", [{"name": "top", "type": 1, "options": []}]
        )
        assert "Nothing has been shared" in await private_answer(h, top)


async def test_a_report_keeps_showing_its_images_after_the_urls_expire_and_the_result_is_gone(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    # In an age-restricted channel the flagged first image is posted spoilered.
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1, nsfw=[True, False]))
    fake_discord.nsfw_channels.add(NSFW_CHANNEL)
    async with running_bot(fake_discord, db_path) as h:
        await set_channels(h, gallery=True)
        interaction = await fake_discord.send_interaction(
            "imagine",
            [
                {"name": "prompt", "type": 3, "value": "a storm over the harbour"},
                {"name": "count", "type": 4, "value": 2},
            ],
            user_id=ALICE,
            channel_id=NSFW_CHANNEL,
        )
        await h.idle()
        message = h.original(interaction)
        job = await h.job_for(interaction)
        assert job is not None
        assert message.attachments[0].filename.startswith("SPOILER_")

        # A flagged image still can't go to the gallery.
        share = await fake_discord.send_component(message, f"af:share:{job.id}:1", user_id=ALICE)
        assert "flagged by the provider's safety checker" in await private_answer(h, share)
        # Nor does /lineage show it unspoilered as a thumbnail.
        asked = await fake_discord.send_interaction(
            "lineage", [{"name": "job", "type": 3, "value": f"#{job.id}"}]
        )
        await h.settled()
        (embed,) = h.original(asked).embeds
        assert embed["title"] == f"#{job.id} · original" and "thumbnail" not in embed

        report = await fake_discord.send_component(
            message, f"af:rep:{job.id}", user_id=BOB, permissions=MEMBER
        )
        assert "Thank you" in await private_answer(h, report)
        (posted,) = fake_discord.channel_messages(MOD_CHANNEL)
        # The copies keep the flag: the spoilered image stays spoilered.
        assert [a.filename for a in posted.attachments] == [a.filename for a in message.attachments]

        fake_discord.clock_offset += 2 * 86_400
        await fake_discord.send_component(posted, f"af:mdel:{job.id}", user_id=MOD)
        await h.settled()
        assert message.deleted
        for stored in (job.result_json or {})["attachments"]:
            assert (await download(stored))[0] == 404

        data = await fetched(h, posted)
        own = [a["url"] for a in data["attachments"]]
        shown = [e["image"]["url"] for e in data["embeds"]]
        assert [fake_discord.unsigned(u) for u in shown] == [fake_discord.unsigned(u) for u in own]
        assert all(f"/attachments/{posted.id}/" in url for url in shown)
        for url, original in zip(shown, message.attachments, strict=True):
            assert await download(url) == (200, original.data)
