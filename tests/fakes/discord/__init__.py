"""Loopback fake of Discord (REST API + gateway websocket) for end-to-end tests.

One aiohttp server on 127.0.0.1 serves the REST API under ``/api/v10`` (and ``/api/v9``), the
gateway websocket at ``/gateway`` and attachment bytes at ``/attachments/{mid}/{filename}``.
Attachment URLs are signed like Discord's CDN URLs (``?ex=<hex expiry>&is=<hex issued>&hm=<hex
hmac>&``), valid for 24 hours of the fake's clock (``clock_offset``); an expired or badly signed
URL gets 404 "This content is no longer available.". Every message JSON the fake hands out (REST
answers, interaction payloads) carries freshly signed URLs, as do embed images that reference the
message's own attachments (``attachment://``); ``FakeMessage`` keeps the unsigned URLs.
Point discord.py at it with ``discord.http.Route.BASE = fake.api_base``; an
``AutoShardedClient``/``AutoShardedBot`` then finds the gateway through ``GET /gateway/bot``
(a plain ``Client`` needs ``DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)``).
``FakeDiscord(shard_count=n)`` serves ``n`` shards: each guild's events go only to the sessions of
its shard, ``(guild_id >> 22) % n``; ``add_guild(shard=i)`` makes a guild on shard ``i``.

Request bodies are validated against Discord's OpenAPI description when it is available
(``spec_violations``). The wire facts the fake reproduces, and the discord.py quirks it honours,
are listed in README.md next to this file (sources: /work/shared/reference/protocols.md).

``FakeDiscord`` is made of one mixin per concern (``fake.py`` lists them; each module's docstring
says what it covers); the names below are the package's public API.
"""

from __future__ import annotations

from .constants import (
    ALL_PERMISSIONS,
    ATTACHMENT_URL_LIFETIME,
    DISCORD_EPOCH_MS,
    EVERYONE_PERMISSIONS,
    EXPIRED_CONTENT,
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    TOKEN_LIFETIME,
)
from .fake import FakeDiscord
from .gateway import Dispatched
from .openapi import DEFAULT_SPEC_PATH
from .records import FakeMessage, Interaction, RecordedFile, RecordedRequest

__all__ = [
    "ALL_PERMISSIONS",
    "ATTACHMENT_URL_LIFETIME",
    "DEFAULT_SPEC_PATH",
    "DISCORD_EPOCH_MS",
    "EVERYONE_PERMISSIONS",
    "EXPIRED_CONTENT",
    "FLAG_COMPONENTS_V2",
    "FLAG_EPHEMERAL",
    "FLAG_LOADING",
    "FLAG_SUPPRESS_EMBEDS",
    "FLAG_SUPPRESS_NOTIFICATIONS",
    "TOKEN_LIFETIME",
    "Dispatched",
    "FakeDiscord",
    "FakeMessage",
    "Interaction",
    "RecordedFile",
    "RecordedRequest",
]
