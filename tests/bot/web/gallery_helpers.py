"""The web gallery's test setup: a real bot with `[web] gallery = true` against the fake
Discord, fal and Discord OAuth2, results made and shared through the bot's own buttons, and a
browser-like HTTP client that keeps cookies (Secure ones too, on loopback, as Chromium does)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from db.jobs import JobRow
from tests.cogs.moderation_helpers import (
    ALICE,
    GALLERY_CHANNEL,
    Channel,
    admin,
    answer,
    private_answer,
)
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.discord_oauth import CLIENT_ID, FakeDiscordOAuth
from tests.harness import Harness, running_bot


def web_config(oauth: FakeDiscordOAuth) -> dict[str, Any]:
    return {
        "web": {
            "listen": "127.0.0.1:0",
            "gallery": True,
            "discord_client_id": CLIENT_ID,
            "oauth_base": oauth.base_url,
        }
    }


@asynccontextmanager
async def gallery_bot(
    fake_discord: FakeDiscord, db_path: Path, oauth: FakeDiscordOAuth
) -> AsyncIterator[Harness]:
    async with running_bot(fake_discord, db_path, **web_config(oauth)) as h:
        yield h


def base_url(h: Harness) -> str:
    assert h.bot.web is not None and h.bot.web.port
    return f"http://127.0.0.1:{h.bot.web.port}"


async def web_gallery(h: Harness, mode: str) -> None:
    """A moderator turns the web gallery on (and names the gallery channel)."""
    text = await answer(
        h,
        await admin(
            h.discord,
            "settings",
            "server",
            gallery_channel=Channel(GALLERY_CHANNEL),
            web_gallery=mode,
        ),
    )
    assert text.startswith("Saved."), text


@dataclass
class Made:
    interaction: Interaction
    message: FakeMessage
    job: JobRow


async def made(h: Harness, interaction: Interaction) -> Made:
    await h.idle()
    job = await h.job_for(interaction)
    assert job is not None and job.state == "done", job
    return Made(interaction, h.original(interaction), job)


async def imagine(h: Harness, prompt: str, user_id: int = ALICE, **values: Any) -> Made:
    types = {str: 3, int: 4, bool: 5}
    options = [
        {"name": k, "type": types[type(v)], "value": v}
        for k, v in {"prompt": prompt, **values}.items()
    ]
    return await made(h, await h.discord.send_interaction("imagine", options, user_id=user_id))


async def reroll(h: Harness, parent: Made, user_id: int) -> Made:
    """A derived result (its parent in the lineage), by `user_id` clicking 🔁."""
    click = await h.discord.send_component(
        parent.message, f"af:rr:{parent.job.id}", user_id=user_id
    )
    return await made(h, click)


async def share(h: Harness, result: Made, n: int = 1) -> FakeMessage:
    """The author shares image `n` with ⭐; the gallery post."""
    click = await h.discord.send_component(
        result.message, f"af:share:{result.job.id}:{n}", user_id=result.job.user_id
    )
    text = await private_answer(h, click)
    assert text.startswith("Shared to the gallery"), text
    return h.discord.channel_messages(GALLERY_CHANNEL)[-1]


class Browser:
    """An HTTP client that keeps cookies like a browser on http://127.0.0.1."""

    def __init__(self, h: Harness) -> None:
        self.base = base_url(h)
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[URL(self.base)])
        self.session = aiohttp.ClientSession(cookie_jar=jar)

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str, URL]:
        async with self.session.get(self.base + path, **kwargs) as response:
            return response.status, await response.text(errors="replace"), response.url

    async def get_bytes(self, path: str) -> tuple[int, bytes]:
        async with self.session.get(self.base + path) as response:
            return response.status, await response.read()

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        async with self.session.post(self.base + path, data=data) as response:
            return response.status, await response.text()

    async def sign_in(self, oauth: FakeDiscordOAuth, user_id: int, next_path: str = "/me") -> str:
        oauth.signed_in = user_id
        status, text, url = await self.get(f"/auth/login?next={next_path}")
        assert status == 200 and url.path == next_path, (status, url, text[:300])
        return text

    def cookie(self, name: str) -> str | None:
        for cookie in self.session.cookie_jar:
            if cookie.key == name:
                return cookie.value
        return None

    async def close(self) -> None:
        await self.session.close()


@asynccontextmanager
async def browser(h: Harness) -> AsyncIterator[Browser]:
    client = Browser(h)
    try:
        yield client
    finally:
        await client.close()
