"""⭐ Share, gallery votes through gateway reaction events, and `/gallery top`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.cogs.moderation_helpers import (
    ALICE,
    BOB,
    CAROL,
    GALLERY_CHANNEL,
    MEMBER,
    QUICK,
    Channel,
    admin,
    answer,
    download,
    eventually,
    fetched,
    private_answer,
)
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal
from tests.harness import Harness, running_bot

STAR = "⭐"


async def result(
    h: Harness, prompt: str, count: int = 2, user_id: int = ALICE
) -> tuple[Interaction, FakeMessage]:
    interaction = await h.imagine(prompt=prompt, count=count, user_id=user_id)
    await h.idle()
    message = h.original(interaction)
    assert len(message.attachments) == count
    return interaction, message


async def set_gallery(h: Harness) -> None:
    saved = await answer(
        h, await admin(h.discord, "settings", "server", gallery_channel=Channel(GALLERY_CHANNEL))
    )
    assert saved.startswith("Saved.")


def reaction(
    fake: FakeDiscord, message: FakeMessage, user_id: int, emoji: str = STAR, *, add: bool = True
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "user_id": str(user_id),
        "channel_id": str(message.channel_id),
        "message_id": str(message.id),
        "guild_id": str(fake.guild_id),
        "emoji": {"id": None, "name": emoji},
        "burst": False,
        "type": 0,
    }
    if add:
        payload["member"] = fake.member_json(user_id)
        payload["message_author_id"] = str(fake.bot_user_id)
    return payload


async def share(h: Harness, message: FakeMessage, job_id: int, n: int) -> FakeMessage:
    click = await h.discord.send_component(message, f"af:share:{job_id}:{n}", user_id=ALICE)
    text = await private_answer(h, click)
    assert text.startswith("Shared to the gallery: https://discord.com/channels/"), text
    return h.discord.channel_messages(GALLERY_CHANNEL)[-1]


async def votes(h: Harness, post: FakeMessage) -> int:
    async with h.bot.db.connection.execute(
        "SELECT votes FROM shares WHERE message_id = ?", (post.id,)
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_share_posts_to_the_gallery_and_reactions_count_as_votes(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await result(h, "a lantern festival")
        job = await h.job_for(interaction)
        assert job is not None
        no_channel = await fake_discord.send_component(
            message, f"af:share:{job.id}:1", user_id=ALICE
        )
        assert "This server has no gallery channel yet" in await private_answer(h, no_channel)
        await set_gallery(h)

        stranger = await fake_discord.send_component(
            message, f"af:share:{job.id}:1", user_id=BOB, permissions=MEMBER
        )
        refusal = await private_answer(h, stranger)
        assert refusal == f"Only <@{ALICE}>, who made this image, can share it to the gallery."
        assert fake_discord.channel_messages(GALLERY_CHANNEL) == []

        post = await share(h, message, job.id, 2)
        (embed,) = post.embeds
        # The post uploads its own copy of the image and shows that one.
        (own,) = post.attachments
        assert (own.filename, own.data) == (
            message.attachments[1].filename,
            message.attachments[1].data,
        )
        assert embed["image"]["url"] == (
            f"{fake_discord.base_url}/attachments/{post.id}/{own.filename}"
        )
        assert embed["description"].startswith(f"by <@{ALICE}>\na lantern festival")
        assert embed["title"] == f"#{job.id} · image 2"
        link = f"https://discord.com/channels/{fake_discord.guild_id}/{job.channel_id}/{message.id}"
        assert embed["url"] == link and link in embed["fields"][0]["value"]
        assert post.reactions == [STAR]
        shared = await h.bot.db.community.share_of(job.id, 1)
        assert shared is not None and (shared.message_id, shared.user_id) == (post.id, ALICE)

        twice = await fake_discord.send_component(message, f"af:share:{job.id}:2", user_id=ALICE)
        assert "This image is already in the gallery" in await private_answer(h, twice)
        assert len(fake_discord.channel_messages(GALLERY_CHANNEL)) == 1

        # Votes: ⭐ from members count, the bot's own ⭐ and other emoji don't.
        await fake_discord.dispatch(
            "MESSAGE_REACTION_ADD", reaction(fake_discord, post, fake_discord.bot_user_id)
        )
        for user in (BOB, CAROL):
            await fake_discord.dispatch("MESSAGE_REACTION_ADD", reaction(fake_discord, post, user))
        await fake_discord.dispatch(
            "MESSAGE_REACTION_ADD", reaction(fake_discord, post, ALICE, "🔥")
        )
        await settled(h, post, 2)
        await fake_discord.dispatch(
            "MESSAGE_REACTION_REMOVE", reaction(fake_discord, post, CAROL, add=False)
        )
        await settled(h, post, 1)
        # A ⭐ on any other message is ignored.
        await fake_discord.dispatch("MESSAGE_REACTION_ADD", reaction(fake_discord, message, BOB))
        await fake_discord.dispatch("MESSAGE_REACTION_ADD", reaction(fake_discord, post, CAROL))
        await settled(h, post, 2)


async def settled(h: Harness, post: FakeMessage, expected: int) -> None:
    """The votes reach `expected` and stay there (events are handled in order)."""
    await eventually(lambda: _votes_are(h, post, expected))
    await asyncio.sleep(0.3)
    assert await votes(h, post) == expected


async def _votes_are(h: Harness, post: FakeMessage, expected: int) -> bool:
    return await votes(h, post) == expected


async def test_gallery_top_lists_the_most_voted_shares_with_thumbnails(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        empty = await fake_discord.send_interaction(
            "gallery", [{"name": "top", "type": 1, "options": []}]
        )
        assert "Nothing has been shared to the gallery in the last week" in await private_answer(
            h, empty
        )
        await set_gallery(h)
        interaction, message = await result(h, "three moons")
        job = await h.job_for(interaction)
        assert job is not None
        posts = [await share(h, message, job.id, 1), await share(h, message, job.id, 2)]
        interaction2, message2 = await result(h, "a single comet", count=1)
        job2 = await h.job_for(interaction2)
        assert job2 is not None
        posts.append(await share(h, message2, job2.id, 1))
        wanted = {posts[0].id: 1, posts[1].id: 3, posts[2].id: 2}
        for post in posts:
            for voter in range(wanted[post.id]):
                await fake_discord.dispatch(
                    "MESSAGE_REACTION_ADD", reaction(fake_discord, post, 6000 + voter)
                )
        await eventually(lambda: _all_votes(h, posts, wanted))

        top = await fake_discord.send_interaction(
            "gallery",
            [
                {
                    "name": "top",
                    "type": 1,
                    "options": [{"name": "period", "type": 3, "value": "day"}],
                }
            ],
            permissions=MEMBER,
        )
        await answer(h, top)
        listing = h.original(top)
        assert not listing.ephemeral
        assert listing.content == f"{STAR} Top of the gallery, last day:"
        order = [posts[1], posts[2], posts[0]]
        assert [e["title"] for e in listing.embeds] == [
            f"1. {STAR} 3 votes",
            f"2. {STAR} 2 votes",
            f"3. {STAR} 1 vote",
        ]
        for embed, post in zip(listing.embeds, order, strict=True):
            link = (
                f"https://discord.com/channels/{fake_discord.guild_id}/{GALLERY_CHANNEL}/{post.id}"
            )
            assert embed["url"] == link and link in embed["description"]
            assert embed["description"].startswith(f"by <@{ALICE}> · ")
            assert (
                fake_discord.unsigned(embed["thumbnail"]["url"]) == post.embeds[0]["image"]["url"]
            )
        # Shares older than the period are left out.
        await h.bot.db.connection.execute(
            "UPDATE shares SET created_at = ? WHERE message_id = ?",
            (time.time() - 2 * 86_400, posts[1].id),
        )
        later = await fake_discord.send_interaction(
            "gallery",
            [
                {
                    "name": "top",
                    "type": 1,
                    "options": [{"name": "period", "type": 3, "value": "day"}],
                }
            ],
        )
        await answer(h, later)
        assert [e["title"] for e in h.original(later).embeds] == [
            f"1. {STAR} 2 votes",
            f"2. {STAR} 1 vote",
        ]


async def _all_votes(h: Harness, posts: list[FakeMessage], wanted: dict[int, int]) -> bool:
    return all([await votes(h, p) == wanted[p.id] for p in posts])


async def gallery_top(h: Harness) -> FakeMessage:
    top = await h.discord.send_interaction(
        "gallery",
        [{"name": "top", "type": 1, "options": [{"name": "period", "type": 3, "value": "day"}]}],
        permissions=MEMBER,
    )
    await answer(h, top)
    return h.original(top)


async def test_gallery_posts_and_top_thumbnails_still_show_after_attachment_urls_expire(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await set_gallery(h)
        interaction, message = await result(h, "a tide pool at dusk")
        job = await h.job_for(interaction)
        assert job is not None
        posts = [await share(h, message, job.id, 1), await share(h, message, job.id, 2)]

        # Discord's attachment URLs expire about a day after they were signed.
        fake_discord.clock_offset += 2 * 86_400
        for stored in (job.result_json or {})["attachments"]:
            assert (await download(stored))[0] == 404

        for post, original in zip(posts, message.attachments, strict=True):
            data = await fetched(h, post)
            (own,) = data["attachments"]
            image_url = data["embeds"][0]["image"]["url"]
            assert fake_discord.unsigned(image_url) == fake_discord.unsigned(own["url"])
            assert f"/attachments/{post.id}/" in image_url
            assert await download(image_url) == (200, original.data)

        listing = await gallery_top(h)
        assert len(listing.embeds) == 2
        for embed in listing.embeds:
            thumbnail = embed["thumbnail"]["url"]
            post = next(p for p in posts if embed["url"].endswith(f"/{p.id}"))
            assert fake_discord.unsigned(thumbnail) == post.embeds[0]["image"]["url"]
            assert (await download(thumbnail))[0] == 200


async def test_gallery_top_leaves_out_the_thumbnail_of_a_gone_post(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await set_gallery(h)
        interaction, message = await result(h, "paper cranes", count=3)
        job = await h.job_for(interaction)
        assert job is not None
        gone, kept, legacy = [await share(h, message, job.id, n) for n in (1, 2, 3)]
        gone.deleted = True  # removed by hand in the gallery channel
        # A post shared before posts carried their own image: the result's image stands in.
        legacy.attachments = []
        fake_discord.clock_offset += 2 * 86_400
        requests = len(fake_discord.requests)

        listing = await gallery_top(h)
        thumbnails = {
            int(embed["url"].rsplit("/", 1)[1]): (embed.get("thumbnail") or {}).get("url")
            for embed in listing.embeds
        }
        assert set(thumbnails) == {gone.id, kept.id, legacy.id}
        assert thumbnails[gone.id] is None
        assert fake_discord.unsigned(thumbnails[kept.id]) == kept.embeds[0]["image"]["url"]
        assert fake_discord.unsigned(thumbnails[legacy.id]) == (
            f"{fake_discord.base_url}/attachments/{message.id}/{message.attachments[2].filename}"
        )
        for url in (thumbnails[kept.id], thumbnails[legacy.id]):
            assert (await download(url))[0] == 200
        # One read per post, and the legacy post's result once more.
        reads = [
            r.params["mid"]
            for r in fake_discord.requests[requests:]
            if r.route == "GET /channels/{cid}/messages/{mid}"
        ]
        assert sorted(reads) == sorted(str(m) for m in (gone.id, kept.id, legacy.id, message.id))
