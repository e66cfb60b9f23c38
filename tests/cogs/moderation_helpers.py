"""Helpers for the /admin, report, gallery and /usage tests: nested command options with
their resolved users, roles and channels, private answers, store snapshots, and reading
messages and images back from the fake Discord."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from tests.fakes.discord import ALL_PERMISSIONS, FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import Script
from tests.harness import Harness

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
ADMIN = "2147483647"  # includes Manage Server and Manage Messages
MEMBER = "0"
MANAGE_MESSAGES_ONLY = str(1 << 13)
ALICE, BOB, CAROL, MOD = 4000, 5000, 5001, 4001
MOD_CHANNEL, GALLERY_CHANNEL = 3100, 3200

MODERATION_TABLES = (
    "guild_settings",
    "channel_settings",
    "prompt_filters",
    "quota_overrides",
    "role_quotas",
    "quota_bonus",
    "bans",
    "reports",
    "shares",
)


class User(int):
    """A user option (type 6)."""


class Role(int):
    """A role option (type 8)."""


class Channel(int):
    """A channel option (type 7)."""


def opt(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, User):
        return {"name": name, "type": 6, "value": str(int(value))}
    if isinstance(value, Role):
        return {"name": name, "type": 8, "value": str(int(value))}
    if isinstance(value, Channel):
        return {"name": name, "type": 7, "value": str(int(value))}
    if isinstance(value, bool):
        return {"name": name, "type": 5, "value": value}
    types = {str: 3, int: 4, float: 10}
    return {"name": name, "type": types[type(value)], "value": value}


def role_json(role_id: int, name: str | None = None) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name or f"role-{role_id}",
        "permissions": "0",
        "position": 1,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }


def resolved_for(fake: FakeDiscord, values: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for value in values.values():
        if isinstance(value, User):
            uid = str(int(value))
            resolved.setdefault("users", {})[uid] = fake.user_json(int(value))
            member = fake.member_json(int(value))
            member.pop("user")
            resolved.setdefault("members", {})[uid] = member
        elif isinstance(value, Role):
            resolved.setdefault("roles", {})[str(int(value))] = role_json(int(value))
        elif isinstance(value, Channel):
            channel = fake.channel_json(int(value))
            channel["permissions"] = str(ALL_PERMISSIONS)
            resolved.setdefault("channels", {})[str(int(value))] = channel
    return resolved


async def admin(
    fake: FakeDiscord,
    *path: str,
    permissions: str = ADMIN,
    user_id: int = MOD,
    **values: Any,
) -> Interaction:
    """`/admin <group> <sub>` or `/admin <sub>` with options (None values are left out)."""
    values = {k: v for k, v in values.items() if v is not None}
    sub = {"name": path[-1], "type": 1, "options": [opt(k, v) for k, v in values.items()]}
    top = [{"name": path[0], "type": 2, "options": [sub]}] if len(path) == 2 else [sub]
    return await fake.send_interaction(
        "admin",
        top,
        user_id=user_id,
        permissions=permissions,
        resolved=resolved_for(fake, values) or None,
    )


def texts(fake: FakeDiscord, interaction: Interaction) -> list[tuple[str, bool]]:
    """(content, ephemeral) of every answer: callbacks, follow-ups and edits of the response."""
    out: list[tuple[str, bool]] = []
    for callback in interaction.callbacks():
        data = callback.json.get("data") or {}
        if data.get("content"):
            out.append((str(data["content"]), bool(int(data.get("flags") or 0) & 64)))
    original = interaction.original()
    deferred_private = original is not None and original.ephemeral
    for rec in fake.requests:
        if interaction.token in rec.path and rec.method in ("POST", "PATCH") and rec.json:
            content = rec.json.get("content")
            if content:
                flags = int(rec.json.get("flags") or 0)
                out.append((str(content), bool(flags & 64) or deferred_private))
    return out


async def answer(h: Harness, interaction: Interaction) -> str:
    await h.idle()
    return "\n".join(text for text, _ in texts(h.discord, interaction))


async def private_answer(h: Harness, interaction: Interaction) -> str:
    """The answer, which must be private (and there must be one)."""
    await h.idle()
    found = texts(h.discord, interaction)
    assert found, "no answer"
    assert all(private for _, private in found), found
    return "\n".join(text for text, _ in found)


async def snapshot(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    conn = h.bot.db.connection
    for table in MODERATION_TABLES:
        async with conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2") as cur:
            out[table] = [tuple(r) for r in await cur.fetchall()]
    return out


async def download(url: str) -> tuple[int, bytes]:
    """GET an image URL as a Discord client would (no bot token): (status, body)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


async def fetched(h: Harness, message: FakeMessage) -> dict[str, Any]:
    """The message as the bot reads it from Discord now (URLs freshly signed)."""
    data: dict[str, Any] = await h.bot.http.get_message(message.channel_id, message.id)
    return data


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
