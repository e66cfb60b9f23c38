"""The web gallery's rules over plain HTTP (issue 17), through the real bot against the fake
Discord, fal and OAuth2: what is listed and served to whom, and how signing in is checked.
The same pages in a real Chromium: test_gallery_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from yarl import URL

from bot.config import parse_config
from bot.errors import ConfigError
from tests.bot.web.gallery_helpers import (
    browser,
    gallery_bot,
    imagine,
    share,
    web_config,
    web_gallery,
)
from tests.cogs.moderation_helpers import ALICE, BOB, QUICK
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_oauth import FakeDiscordOAuth
from tests.fakes.fal import FakeFal, Script
from tests.harness import ENV

NSFW_CHANNEL = 3777


async def test_a_public_gallery_lists_shared_images_and_serves_them_through_the_bot(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_oauth: FakeDiscordOAuth, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h, browser(h) as web:
        await web_gallery(h, "public")
        shared = await imagine(h, "a paper crane", count=2)
        post = await share(h, shared, 2)
        unshared = await imagine(h, "a paper boat")
        status, page, _url = await web.get(f"/g/{fake_discord.guild_id}")
        assert status == 200
        assert re.findall(r'src="/img/(\d+)/(\d+)"', page) == [(str(shared.job.id), "2")]
        assert f"/img/{unshared.job.id}/" not in page
        # A day later Discord's URLs have expired: the bot reads a fresh one for each request.
        fake_discord.clock_offset += 2 * 86_400
        assert await web.get_bytes(f"/img/{shared.job.id}/2") == (200, post.attachments[0].data)
        assert (await web.get_bytes(f"/img/{unshared.job.id}/1"))[0] == 404


async def test_a_gallery_that_is_off_is_not_found(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_oauth: FakeDiscordOAuth, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h, browser(h) as web:
        await web_gallery(h, "off")
        shared = await imagine(h, "a paper crane")
        await share(h, shared)
        assert (await web.get(f"/g/{fake_discord.guild_id}"))[0] == 404
        assert (await web.get_bytes(f"/img/{shared.job.id}/1"))[0] == 404


async def test_a_private_result_is_never_listed_nor_served_even_to_its_author(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_oauth: FakeDiscordOAuth, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h, browser(h) as web:
        await web_gallery(h, "public")
        public = await imagine(h, "a public square")
        secret = await imagine(h, "a secret garden", private=True)
        assert secret.job.private
        mine = await web.sign_in(fake_oauth, ALICE)
        assert f"/img/{public.job.id}/1" in mine
        assert f"#{secret.job.id}" not in mine and f"/img/{secret.job.id}/" not in mine
        assert (await web.get_bytes(f"/img/{secret.job.id}/1"))[0] == 404
        guild = fake_discord.guild_id
        assert (await web.get(f"/g/{guild}/image/{secret.job.id}/1"))[0] == 404


async def test_a_flagged_image_is_never_served_even_to_its_author(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_oauth: FakeDiscordOAuth, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1, nsfw=[True, False]))
    fake_discord.nsfw_channels.add(NSFW_CHANNEL)
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h, browser(h) as web:
        await web_gallery(h, "public")
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
        job = await h.job_for(interaction)
        assert job is not None
        assert h.original(interaction).attachments[0].filename.startswith("SPOILER_")
        mine = await web.sign_in(fake_oauth, ALICE)
        assert f"/img/{job.id}/2" in mine and f"/img/{job.id}/1" not in mine
        assert (await web.get_bytes(f"/img/{job.id}/1"))[0] == 404
        assert (await web.get_bytes(f"/img/{job.id}/2"))[0] == 200


async def test_a_sign_in_whose_state_is_not_this_browsers_is_refused(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_oauth: FakeDiscordOAuth, db_path: Path
) -> None:
    fake_oauth.signed_in = ALICE
    async with (
        gallery_bot(fake_discord, db_path, fake_oauth) as h,
        browser(h) as web,
        browser(h) as other,
    ):
        async with web.session.get(f"{web.base}/auth/login?next=/me", allow_redirects=False) as r:
            authorize = URL(r.headers["Location"])
            (cookie,) = r.headers.getall("Set-Cookie")
        assert cookie.startswith("af_oauth_state=")
        assert {"HttpOnly", "Secure", "SameSite=Lax"} <= {p.strip() for p in cookie.split(";")}
        assert authorize.query["scope"] == "identify guilds" and authorize.query["state"]
        state = authorize.query["state"]
        # Discord's consent screen hands back a real code (and the state, as given).
        async with web.session.get(authorize, allow_redirects=False) as r:
            back = URL(r.headers["Location"])
        code = back.query["code"]
        # Another browser handed this sign-in's callback (login CSRF): it never started it.
        status, page, _url = await other.get(f"/auth/callback?code={code}&state={state}")
        assert status == 400 and "did not work" in page
        # This browser, with the real code but a state that is not the one it started with.
        status, page, _url = await web.get(f"/auth/callback?code={code}&state=forged")
        assert status == 400 and "did not work" in page
        assert web.cookie("af_session") is None and other.cookie("af_session") is None


async def test_a_members_gallery_is_refused_to_a_signed_in_member_of_other_servers(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_oauth: FakeDiscordOAuth, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    guild = fake_discord.guild_id
    fake_oauth.guilds_of = {ALICE: [guild], BOB: [guild + 1]}
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h, browser(h) as web:
        await web_gallery(h, "members")
        shared = await imagine(h, "a paper crane")
        await share(h, shared)
        async with web.session.get(f"{web.base}/g/{guild}", allow_redirects=False) as r:
            assert r.status == 302
            to = URL(r.headers["Location"])
        assert (to.path, to.query["next"]) == ("/auth/login", f"/g/{guild}")
        await web.sign_in(fake_oauth, BOB, next_path="/me")
        status, page, _url = await web.get(f"/g/{guild}")
        assert status == 403 and "/img/" not in page
        assert (await web.get_bytes(f"/img/{shared.job.id}/1"))[0] == 404


async def test_delete_needs_the_sessions_token_and_then_deletes_as_the_bin_button_does(
    fake_discord: FakeDiscord, fake_fal: FakeFal, fake_oauth: FakeDiscordOAuth, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h, browser(h) as web:
        await web_gallery(h, "public")
        shared = await imagine(h, "a paper crane")
        post = await share(h, shared)
        page = await web.sign_in(fake_oauth, ALICE)
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        status, _text = await web.post(f"/me/delete/{shared.job.id}", {"csrf": "forged"})
        assert status == 403
        assert (await h.bot.db.jobs.get(shared.job.id)).deleted_at is None  # type: ignore[union-attr]
        status, page = await web.post(f"/me/delete/{shared.job.id}", {"csrf": token.group(1)})
        assert status == 200 and f"/img/{shared.job.id}/" not in page
        assert (await h.bot.db.jobs.get(shared.job.id)).deleted_at is not None  # type: ignore[union-attr]
        assert fake_discord.messages[shared.message.id].deleted
        assert fake_discord.messages[post.id].deleted
        assert (await web.get_bytes(f"/img/{shared.job.id}/1"))[0] == 404


def test_the_gallery_without_a_client_secret_fails_at_start_naming_it() -> None:
    raw = web_config_for_check()
    env = {k: v for k, v in ENV.items() if k != "DISCORD_CLIENT_SECRET"}
    with pytest.raises(ConfigError) as refused:
        parse_config(raw, env)
    assert str(refused.value).startswith("DISCORD_CLIENT_SECRET is not set")
    assert "\n" not in str(refused.value)


def web_config_for_check() -> dict[str, object]:
    class Oauth:
        base_url = "https://discord.com"

    return {"discord": {}, **web_config(Oauth())}  # type: ignore[arg-type]
