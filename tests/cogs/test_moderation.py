"""🚩 Report end to end: the mod channel post, repeat reports, and the moderators' buttons."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from db.jobs import JobRow
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


@dataclass
class Reported:
    """ALICE's result of two images, reported once by BOB, and the post in the mod channel."""

    h: Harness
    interaction: Interaction
    message: FakeMessage
    job: JobRow
    thanks: str
    posted: FakeMessage


@pytest.fixture
async def reported(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> AsyncIterator[Reported]:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await set_channels(h)
        interaction, message = await result(h, "a suspicious teapot")
        job = await h.job_for(interaction)
        assert job is not None
        thanks = await private_answer(h, await report(h, message, job.id, BOB))
        (posted,) = fake_discord.channel_messages(MOD_CHANNEL)
        yield Reported(h, interaction, message, job, thanks, posted)


async def report(h: Harness, message: FakeMessage, job_id: int, user_id: int) -> Interaction:
    """A member (without Manage Messages) clicks 🚩 on the result."""
    return await h.discord.send_component(
        message, f"af:rep:{job_id}", user_id=user_id, permissions=MEMBER
    )


async def moderator_clicks(r: Reported, action: str) -> Interaction:
    """MOD clicks 🗑 (`mdel`) or ⛔ (`mban`) on the report, and the bot finishes with it."""
    click = await r.h.discord.send_component(r.posted, f"af:{action}:{r.job.id}", user_id=MOD)
    await r.h.settled()
    return click


async def test_a_report_thanks_the_reporter_privately(reported: Reported) -> None:
    assert reported.thanks == "Thank you for the report: the moderators will take a look."


async def test_a_report_posts_who_reported_what_by_whom_in_the_mod_channel(
    reported: Reported,
) -> None:
    r, fake = reported, reported.h.discord
    assert r.posted.content == f"🚩 <@{BOB}> reported job #{r.job.id} by <@{ALICE}>"
    embed = r.posted.embeds[0]
    link = f"https://discord.com/channels/{fake.guild_id}/{r.job.channel_id}/{r.message.id}"
    assert embed["url"] == link
    assert "a suspicious teapot" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Author"] == f"<@{ALICE}>"
    assert fields["Reported by"] == f"<@{BOB}>"
    assert link in fields["Result"]


async def test_a_report_uploads_and_shows_its_own_copies_of_the_images(
    reported: Reported,
) -> None:
    r, fake = reported, reported.h.discord
    assert [(a.filename, a.data) for a in r.posted.attachments] == [
        (a.filename, a.data) for a in r.message.attachments
    ]
    image_urls = [e["image"]["url"] for e in r.posted.embeds]
    assert image_urls == [
        f"{fake.base_url}/attachments/{r.posted.id}/{a.filename}" for a in r.posted.attachments
    ]


async def test_a_report_offers_the_moderators_delete_and_ban_buttons(reported: Reported) -> None:
    assert custom_ids(reported.posted) == [
        f"af:mdel:{reported.job.id}",
        f"af:mban:{reported.job.id}",
    ]


async def test_the_same_member_reporting_again_is_acknowledged_but_not_posted_twice(
    reported: Reported,
) -> None:
    r = reported
    again = await report(r.h, r.message, r.job.id, BOB)
    assert "already reported this image" in await private_answer(r.h, again)
    assert len(r.h.discord.channel_messages(MOD_CHANNEL)) == 1


async def test_another_members_report_of_the_same_image_is_posted(reported: Reported) -> None:
    r = reported
    second = await report(r.h, r.message, r.job.id, CAROL)
    assert "Thank you" in await private_answer(r.h, second)
    assert len(r.h.discord.channel_messages(MOD_CHANNEL)) == 2


async def test_members_without_manage_messages_cannot_use_the_moderators_buttons(
    reported: Reported,
) -> None:
    r, fake = reported, reported.h.discord
    for custom_id in (f"af:mdel:{r.job.id}", f"af:mban:{r.job.id}"):
        click = await fake.send_component(r.posted, custom_id, user_id=BOB, permissions=MEMBER)
        refusal = await private_answer(r.h, click)
        assert "Only moderators with the Manage Messages permission" in refusal
    assert not r.message.deleted
    store = r.h.bot.db.settings
    assert await store.active_ban(fake.guild_id, ALICE, time.time()) is None
    assert custom_ids(r.posted) == [f"af:mdel:{r.job.id}", f"af:mban:{r.job.id}"]


async def test_a_moderators_delete_removes_the_result_and_notes_it_on_the_report(
    reported: Reported,
) -> None:
    r = reported
    delete = await moderator_clicks(r, "mdel")
    assert [c.json["type"] for c in delete.callbacks()] == [6]
    assert r.message.deleted
    deleted = await r.h.job_for(r.interaction)
    assert deleted is not None and deleted.deleted_at is not None
    assert f"🗑️ Image deleted by <@{MOD}>" in (r.posted.content or "")
    assert custom_ids(r.posted) == [f"af:mban:{r.job.id}"]


async def test_a_moderators_ban_bans_the_author_for_good_and_notes_it_on_the_report(
    reported: Reported,
) -> None:
    r, fake = reported, reported.h.discord
    await moderator_clicks(r, "mdel")
    ban = await moderator_clicks(r, "mban")
    assert [c.json["type"] for c in ban.callbacks()] == [6]
    active = await r.h.bot.db.settings.active_ban(fake.guild_id, ALICE, time.time())
    assert active is not None and active.banned_by == MOD and active.until is None
    assert active.reason == f"reported image #{r.job.id}"
    assert f"⛔ <@{ALICE}> banned from generating by <@{MOD}>" in (r.posted.content or "")
    assert f"🗑️ Image deleted by <@{MOD}>" in (r.posted.content or "")
    assert custom_ids(r.posted) == []


async def test_an_author_banned_from_a_report_is_refused_before_any_provider_call(
    reported: Reported, fake_fal: FakeFal
) -> None:
    r = reported
    await moderator_clicks(r, "mdel")
    await moderator_clicks(r, "mban")
    submits = len(fake_fal.submits)
    refused = await r.h.imagine(prompt="another teapot", user_id=ALICE)
    text = await private_answer(r.h, refused)
    assert text.startswith("You can't generate images on this server.")
    assert len(fake_fal.submits) == submits and await r.h.job_for(refused) is None


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
