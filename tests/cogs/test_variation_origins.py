"""Input images are fetched only from Discord's CDN origins (scheme, host and port), and the
bot follows their redirects by hand: only to those origins, at most three hops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.cdn import FakeCDN, make_png
from tests.fakes.discord import FakeDiscord, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
MEMBER = 4000


async def variations(h: Harness, attachment: dict[str, Any]) -> Interaction:
    values = [{"name": "image", "type": 11, "value": attachment}]
    return await h.discord.send_interaction("variations", values, user_id=MEMBER)


def attachment_at(fake: FakeDiscord, url: str) -> dict[str, Any]:
    """An attachment object whose URL is `url` (what a forged or odd payload would carry)."""
    attachment = fake.make_attachment("in.png", make_png(16, 16), "image/png")
    attachment["url"] = attachment["proxy_url"] = url
    return attachment


async def refusal(h: Harness, fake_fal: FakeFal, interaction: Interaction) -> str:
    """The member's private answer; no job, no provider request, nothing charged."""
    await h.settled()
    await h.idle()
    texts = [
        str(r.json.get("content") or "")
        for r in h.discord.requests
        if r.method == "POST" and r.path.endswith(interaction.token) and r.json
    ]
    assert len(texts) == 1, texts
    assert await h.job_for(interaction) is None
    assert fake_fal.requests == []
    assert (await h.bot.jobs.usage(MEMBER)).used == 0
    return texts[0]


def chain(fake: FakeDiscord, hops: int, final: str) -> str:
    """`hops` redirects on the fake Discord's own origin, the last one to `final`; returns
    the first URL."""
    paths = [f"/attachments/9/hop{i}.png" for i in range(hops)]
    targets = [fake.base_url + p for p in paths[1:]] + [final]
    for path, target in zip(paths, targets, strict=True):
        fake.attachment_redirects[path] = target
    return fake.base_url + paths[0]


async def test_variation_input_on_the_cdn_host_at_another_port_is_refused(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    other_port = cdn.put("in.png", make_png(16, 16))  # 127.0.0.1, but not Discord's port
    async with running_bot(fake_discord, db_path) as h:
        interaction = await variations(h, attachment_at(fake_discord, other_port))
        assert "Only images attached on Discord can be used" in await refusal(
            h, fake_fal, interaction
        )
        assert cdn.requests == []


async def test_redirect_from_the_cdn_to_an_internal_address_is_not_followed(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    internal = cdn.put("secret.png", make_png(16, 16))
    async with running_bot(fake_discord, db_path) as h:
        first = chain(fake_discord, 1, internal)
        interaction = await variations(h, attachment_at(fake_discord, first))
        text = await refusal(h, fake_fal, interaction)
        assert "redirected to" in text and "not Discord's CDN" in text, text
        assert fake_discord.attachment_redirect_hits == ["/attachments/9/hop0.png"]
        assert cdn.requests == []


async def test_redirect_chain_longer_than_three_hops_is_refused(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        end = fake_discord.make_attachment("end.png", make_png(16, 16), "image/png")["url"]
        first = chain(fake_discord, 4, end)
        interaction = await variations(h, attachment_at(fake_discord, first))
        assert "redirected more than 3 times" in await refusal(h, fake_fal, interaction)
        assert len(fake_discord.attachment_redirect_hits) == 4  # the 4th redirect not followed


async def test_redirects_within_discords_cdn_are_followed_up_to_three_hops(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        end = fake_discord.make_attachment("end.png", make_png(16, 16), "image/png")["url"]
        first = chain(fake_discord, 3, end)
        interaction = await variations(h, attachment_at(fake_discord, first))
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None and (job.kind, job.state) == ("variation", "done")
        assert len(fake_discord.attachment_redirect_hits) == 3
