"""⭐ Share, gallery votes through gateway reaction events, and `/gallery top`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from db.jobs import JobRow
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


@dataclass
class Result:
    """ALICE's result of two images ("a lantern festival"), in a running bot."""

    h: Harness
    message: FakeMessage
    job: JobRow


@dataclass
class Shared(Result):
    """The same result with its second image shared to the gallery."""

    post: FakeMessage


@pytest.fixture
async def lanterns(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> AsyncIterator[Result]:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await result(h, "a lantern festival")
        job = await h.job_for(interaction)
        assert job is not None
        yield Result(h, message, job)


@pytest.fixture
async def shared(lanterns: Result) -> Shared:
    await set_gallery(lanterns.h)
    post = await share(lanterns.h, lanterns.message, lanterns.job.id, 2)
    return Shared(lanterns.h, lanterns.message, lanterns.job, post)


async def star(
    s: Shared, user_id: int, emoji: str = STAR, *, on: FakeMessage | None = None
) -> None:
    """`user_id` adds `emoji` to the gallery post (or to `on`)."""
    fake = s.h.discord
    await fake.dispatch("MESSAGE_REACTION_ADD", reaction(fake, on or s.post, user_id, emoji))


async def test_sharing_without_a_gallery_channel_says_there_is_none(lanterns: Result) -> None:
    r, fake = lanterns, lanterns.h.discord
    no_channel = await fake.send_component(r.message, f"af:share:{r.job.id}:1", user_id=ALICE)
    assert "This server has no gallery channel yet" in await private_answer(r.h, no_channel)
    assert await r.h.bot.db.community.share_of(r.job.id, 0) is None


async def test_only_the_author_can_share_an_image(lanterns: Result) -> None:
    r, fake = lanterns, lanterns.h.discord
    await set_gallery(r.h)
    stranger = await fake.send_component(
        r.message, f"af:share:{r.job.id}:1", user_id=BOB, permissions=MEMBER
    )
    refusal = await private_answer(r.h, stranger)
    assert refusal == f"Only <@{ALICE}>, who made this image, can share it to the gallery."
    assert fake.channel_messages(GALLERY_CHANNEL) == []


async def test_a_share_posts_its_own_copy_of_the_image_crediting_and_linking_the_result(
    shared: Shared,
) -> None:
    s, fake = shared, shared.h.discord
    (embed,) = s.post.embeds
    (own,) = s.post.attachments
    assert (own.filename, own.data) == (
        s.message.attachments[1].filename,
        s.message.attachments[1].data,
    )
    assert embed["image"]["url"] == f"{fake.base_url}/attachments/{s.post.id}/{own.filename}"
    assert embed["description"].startswith(f"by <@{ALICE}>\na lantern festival")
    assert embed["title"] == f"#{s.job.id} · image 2"
    link = f"https://discord.com/channels/{fake.guild_id}/{s.job.channel_id}/{s.message.id}"
    assert embed["url"] == link and link in embed["fields"][0]["value"]


async def test_a_share_is_recorded_and_its_post_carries_a_star_to_vote_with(
    shared: Shared,
) -> None:
    s = shared
    assert s.post.reactions == [STAR]
    record = await s.h.bot.db.community.share_of(s.job.id, 1)
    assert record is not None and (record.message_id, record.user_id) == (s.post.id, ALICE)


async def test_an_image_is_shared_only_once(shared: Shared) -> None:
    s, fake = shared, shared.h.discord
    twice = await fake.send_component(s.message, f"af:share:{s.job.id}:2", user_id=ALICE)
    assert "This image is already in the gallery" in await private_answer(s.h, twice)
    assert len(fake.channel_messages(GALLERY_CHANNEL)) == 1


async def test_members_stars_are_votes_but_the_bots_own_star_and_other_emoji_are_not(
    shared: Shared,
) -> None:
    await star(shared, shared.h.discord.bot_user_id)
    for user in (BOB, CAROL):
        await star(shared, user)
    await star(shared, ALICE, "🔥")
    await settled(shared.h, shared.post, 2)


async def test_taking_a_star_back_takes_its_vote_back(shared: Shared) -> None:
    fake = shared.h.discord
    for user in (BOB, CAROL):
        await star(shared, user)
    await settled(shared.h, shared.post, 2)
    await fake.dispatch("MESSAGE_REACTION_REMOVE", reaction(fake, shared.post, CAROL, add=False))
    await settled(shared.h, shared.post, 1)


async def test_a_star_on_any_other_message_is_not_a_vote(shared: Shared) -> None:
    await star(shared, BOB)
    await settled(shared.h, shared.post, 1)
    await star(shared, CAROL, on=shared.message)  # the result itself, not its gallery post
    await star(shared, CAROL)
    await settled(shared.h, shared.post, 2)


async def settled(h: Harness, post: FakeMessage, expected: int) -> None:
    """The votes reach `expected` and stay there (events are handled in order)."""
    await eventually(lambda: _votes_are(h, post, expected))
    await asyncio.sleep(0.3)
    assert await votes(h, post) == expected


async def _votes_are(h: Harness, post: FakeMessage, expected: int) -> bool:
    return await votes(h, post) == expected


VOTERS = 6000  # the first of the members who vote in /gallery top tests


@dataclass
class Voted:
    """Three gallery posts with 1, 3 and 2 votes (two images of one result, one of another)."""

    h: Harness
    posts: list[FakeMessage]

    @property
    def by_votes(self) -> list[FakeMessage]:
        return [self.posts[1], self.posts[2], self.posts[0]]


@pytest.fixture
async def voted(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> AsyncIterator[Voted]:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
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
                    "MESSAGE_REACTION_ADD", reaction(fake_discord, post, VOTERS + voter)
                )
        await eventually(lambda: _all_votes(h, posts, wanted))
        yield Voted(h, posts)


async def test_gallery_top_with_nothing_shared_says_so(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        empty = await fake_discord.send_interaction(
            "gallery", [{"name": "top", "type": 1, "options": []}]
        )
        assert "Nothing has been shared to the gallery in the last week" in await private_answer(
            h, empty
        )


async def test_gallery_top_is_a_public_message_naming_its_period(voted: Voted) -> None:
    listing = await gallery_top(voted.h)
    assert not listing.ephemeral
    assert listing.content == f"{STAR} Top of the gallery, last day:"


async def test_gallery_top_ranks_the_shares_by_votes(voted: Voted) -> None:
    listing = await gallery_top(voted.h)
    assert [e["title"] for e in listing.embeds] == [
        f"1. {STAR} 3 votes",
        f"2. {STAR} 2 votes",
        f"3. {STAR} 1 vote",
    ]


async def test_gallery_top_links_each_post_credits_its_author_and_shows_its_thumbnail(
    voted: Voted,
) -> None:
    fake = voted.h.discord
    listing = await gallery_top(voted.h)
    for embed, post in zip(listing.embeds, voted.by_votes, strict=True):
        link = f"https://discord.com/channels/{fake.guild_id}/{GALLERY_CHANNEL}/{post.id}"
        assert embed["url"] == link and link in embed["description"]
        assert embed["description"].startswith(f"by <@{ALICE}> · ")
        assert fake.unsigned(embed["thumbnail"]["url"]) == post.embeds[0]["image"]["url"]


async def test_gallery_top_leaves_out_shares_older_than_its_period(voted: Voted) -> None:
    most_voted = voted.posts[1]
    await voted.h.bot.db.connection.execute(
        "UPDATE shares SET created_at = ? WHERE message_id = ?",
        (time.time() - 2 * 86_400, most_voted.id),
    )
    listing = await gallery_top(voted.h)
    assert [e["title"] for e in listing.embeds] == [
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
