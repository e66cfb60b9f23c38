"""The fake's state: configuration, what it recorded, and its bookkeeping, with the addresses,
clocks and look-ups every part of it uses. The other modules add behaviour as mixins on top."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from .constants import DISCORD_EPOCH_MS, OWNER_ID
from .openapi import DEFAULT_SPEC_PATH, load_spec
from .records import FakeMessage, Interaction, RecordedFile, RecordedRequest

if TYPE_CHECKING:
    from .gateway import Dispatched, GatewayConn, Session
    from .injections import Injection
    from .ratelimits import Bucket


class FakeState:
    """Attributes shared by the mixins that make up ``FakeDiscord``."""

    def __init__(
        self,
        *,
        spec_path: Path | Literal["auto"] | None = "auto",
        guild_ready_timeout_hint: float = 0.1,
        app_id: int = 1000,
        bot_user_id: int = 1000,
        guild_id: int = 2000,
        channel_id: int = 3000,
        attachment_size_limit: int = 10 * 1024 * 1024,
        shard_count: int = 1,
        max_concurrency: int = 1,
        identify_window_s: float = 0.0,
    ) -> None:
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.guild_id = guild_id  # the first guild (on shard 0 for any shard count)
        self.channel_id = channel_id  # its text channel
        # every guild the bot is in -> its text channel; `add_guild` adds one on a chosen shard
        self.guild_channels: dict[int, int] = {guild_id: channel_id}
        # the shards `GET /gateway/bot` recommends, and the fewest IDENTIFY accepts (4011)
        self.shard_count = shard_count
        # IDENTIFY buckets (shard_id % max_concurrency) and the window each waits between two
        # IDENTIFYs: Discord's is 5 s; 0 enforces none (identify.py)
        self.max_concurrency = max_concurrency
        self.identify_window_s = identify_window_s
        self.session_start_total = 1000  # `session_start_limit.total`
        self.owner_id = OWNER_ID
        self.attachment_size_limit = attachment_size_limit
        self.max_request_size = 25 * 1024 * 1024
        # what the bot under test should use as guild_ready_timeout
        self.guild_ready_timeout_hint = guild_ready_timeout_hint
        self.ack_deadline: float | None = 3.0  # callbacks later than this -> 10062; None: off
        self.expected_token: str | None = None  # when set, other bot tokens get 401
        self.clock_offset = 0.0  # seconds added to the clocks (tokens, acks, attachment URLs)

        if spec_path == "auto":
            spec_path = DEFAULT_SPEC_PATH if DEFAULT_SPEC_PATH.is_file() else None
        self.spec_path: Path | None = spec_path
        self._spec = load_spec(spec_path) if spec_path is not None else None

        self.requests: list[RecordedRequest] = []
        self.commands: dict[str, dict[str, Any]] = {}
        self.global_commands: dict[str, dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[str, dict[str, Any]]] = {}
        self.spec_violations: list[str] = []
        self.identified = asyncio.Event()
        self.identify_payloads: list[dict[str, Any]] = []
        self.identify_times: list[float] = []  # time.monotonic() of each of identify_payloads
        self.rate_limited_identifies: list[list[int]] = []  # shards answered op 9: too soon
        self.dispatches: list[Dispatched] = []  # every DISPATCH sent, with its session's shard
        self.gateway_closes: list[int] = []  # close codes the fake ended connections with
        self.gateway_down = False  # True: the gateway refuses connections (HTTP 503) until False
        self.resume_count = 0
        self.failed_resumes = 0  # RESUMEs of unknown sessions, answered with op 9
        self.interactions: list[Interaction] = []
        self.messages: dict[int, FakeMessage] = {}
        self.deleted_channels: set[int] = set()
        self.nsfw_channels: set[int] = set()  # age-restricted channels
        self.rate_limits: dict[str, tuple[int, float]] = {}
        self.rate_limited_count = 0
        # Attachment paths (``/attachments/{mid}/{name}``) answered with a 302 to the given
        # Location, and the paths that were asked for (a CDN that redirects, for the bot's
        # redirect checks).
        self.attachment_redirects: dict[str, str] = {}
        self.attachment_redirect_hits: list[str] = []
        self._init_bookkeeping()

    def _init_bookkeeping(self) -> None:
        """The fake's private state: server, waits, look-up tables, gateway sessions."""
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._inflight: set[asyncio.Task[Any]] = set()  # API handlers being answered
        self._injections: list[Injection] = []
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._waiters: list[tuple[Callable[[RecordedRequest], bool], asyncio.Future[Any]]] = []
        self._by_id: dict[int, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self._dm_channels: dict[int, int] = {}  # channel id -> recipient user id
        self._uploads: dict[int, RecordedFile] = {}  # make_attachment(), served by its own id
        self._nonces: dict[tuple[int, str], int] = {}  # (channel, enforced nonce) -> message
        self._conns: set[GatewayConn] = set()
        self._sessions: dict[str, Session] = {}
        self._live: list[GatewayConn] = []  # identified or resumed, oldest first
        self._gateway_ready = asyncio.Event()  # set whenever a connection joins `_live`
        self._bucket_identified_at: dict[int, float] = {}  # IDENTIFY bucket -> its last one
        self._starts_left = self.session_start_total  # session starts left before the reset
        self._starts_reset_at = time.monotonic() + 24 * 60 * 60.0
        self._last_snowflake = 0
        self._component_id = 0
        self._url_key = secrets.token_bytes(32)  # signs attachment URLs

    # ---------------------------------------------------------------- addresses and clocks

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    def clock(self) -> float:
        """The (shiftable) clock used for token lifetime and the 3 s acknowledgement window."""
        return time.monotonic() + self.clock_offset

    def _snowflake(self) -> int:
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        value = max(value, self._last_snowflake + 1)
        self._last_snowflake = value
        return value

    def _now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset)

    # ---------------------------------------------------------------- test-facing look-ups

    def message(self, message_id_or_token: int | str) -> FakeMessage | None:
        """A message by id, or the @original message of an interaction token."""
        if isinstance(message_id_or_token, str):
            inter = self._by_token.get(message_id_or_token)
            if inter is None or inter.original_message_id is None:
                return None
            return self.messages.get(inter.original_message_id)
        return self.messages.get(message_id_or_token)

    def interaction(self, id_or_token: int | str) -> Interaction | None:
        if isinstance(id_or_token, str):
            return self._by_token.get(id_or_token)
        return self._by_id.get(id_or_token)

    def channel_messages(self, channel_id: int | None = None) -> list[FakeMessage]:
        """Non-deleted messages of a channel (default: the guild's text channel), oldest first."""
        cid = self.channel_id if channel_id is None else channel_id
        return [m for m in self.messages.values() if m.channel_id == cid and not m.deleted]

    def shard_of(self, guild_id: int, shard_count: int | None = None) -> int:
        """The shard that gets a guild's events: ``(guild_id >> 22) % num_shards``."""
        return (guild_id >> 22) % (shard_count or self.shard_count)

    def _guild_of(self, channel_id: int) -> int | None:
        if channel_id in self._dm_channels:
            return None
        for guild, channel in self.guild_channels.items():
            if channel == channel_id:
                return guild
        return self.guild_id  # any other channel id a test names belongs to the first guild
