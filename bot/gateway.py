"""Keeps every gateway connection on the gateway that `GET {api_base}/gateway/bot` names.

discord.py 2.7 falls back to its built-in ``DiscordWebSocket.DEFAULT_GATEWAY``
(wss://gateway.discord.gg) whenever it has no URL of its own: at start when ``shard_count`` is
configured (``AutoShardedClient.launch_shards`` then skips ``/gateway/bot``), for the fresh
IDENTIFY after a non-resumable INVALID_SESSION (``Shard.reidentify`` passes ``gateway=None``)
and on a reconnect after a network error (``Shard.reconnect``). Behind a gateway proxy, or
against a test double, such a bot never comes back.

All of those paths open their socket through the client's ``HTTPClient.ws_connect``, so that one
call is wrapped (discord.py has no hook for the gateway URL, and copying ``launch_shards`` and
``Shard`` would tie the bot to far more of its private code; the socket it returns is made to
take turns with the rest of the loop, `take_turns`): a connection aimed at the default
gateway goes to the URL from ``/gateway/bot`` instead. The URL is asked for once and asked for
again after a failed connection, as Discord recommends. RESUMEs use the session's
``resume_gateway_url`` and pass through untouched.

``HTTPClient.get_bot_gateway`` is wrapped too, so that every answer of ``GET /gateway/bot`` (the
one ``launch_shards`` asks for when the shard count is Discord's, or the one asked for here) is
kept: the IDENTIFY pacing (bot/identify.py) reads its ``session_start_limit`` and a refused
shard count is explained with its ``shards`` (bot/refusals.py), without a request of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient

from bot.identify import StartLimit

if TYPE_CHECKING:  # importing discord.types on its own first is circular
    from discord.types.gateway import SessionStartLimit as SessionStartLimitPayload

log = logging.getLogger(__name__)


class GatewayPin:
    """Redirects a client's connections to the default gateway to the one Discord named."""

    def __init__(self, http: HTTPClient) -> None:
        self._http = http
        self._connect = http.ws_connect
        self._get_bot_gateway = http.get_bot_gateway
        self._gateway: yarl.URL | None = None
        self.shards: int | None = None  # the shard count Discord recommended last
        self.start_limit: StartLimit | None = None  # its session_start_limit

    def install(self) -> GatewayPin:
        self._http.ws_connect = self.ws_connect  # type: ignore[method-assign]
        self._http.get_bot_gateway = self.get_bot_gateway  # type: ignore[method-assign]
        return self

    async def get_bot_gateway(self) -> tuple[int, str, SessionStartLimitPayload]:
        """``HTTPClient.get_bot_gateway``, keeping the answer."""
        answer = await self._get_bot_gateway()
        self._keep(answer)
        return answer

    async def session_start_limit(self) -> StartLimit:
        """The last answer's ``session_start_limit`` (asked for if there was none yet)."""
        if self.start_limit is not None:
            return self.start_limit
        return self._keep(await self._get_bot_gateway())

    def _keep(self, answer: tuple[int, str, SessionStartLimitPayload]) -> StartLimit:
        shards, _, limit = answer
        self.shards = shards
        self.start_limit = StartLimit(
            total=limit["total"],
            remaining=limit["remaining"],
            reset_after_s=limit["reset_after"] / 1000,
            max_concurrency=limit["max_concurrency"],
            answered_at=time.monotonic(),
        )
        return self.start_limit

    async def ws_connect(self, url: str, *, compress: int = 0) -> aiohttp.ClientWebSocketResponse:
        """``HTTPClient.ws_connect`` with the default gateway swapped for the named one; the
        query (API version, encoding, compression) is kept."""
        target = yarl.URL(url)
        if target.with_query(None) != DiscordWebSocket.DEFAULT_GATEWAY:
            return take_turns(await self._connect(url, compress=compress))
        gateway = await self._named_gateway()
        log.debug("connecting to the gateway %s instead of the default", gateway)
        try:
            socket = await self._connect(str(gateway.with_query(target.query)), compress=compress)
        except (OSError, aiohttp.ClientError):
            self._gateway = None  # it may have moved: ask /gateway/bot again next time
            raise
        return take_turns(socket)

    async def _named_gateway(self) -> yarl.URL:
        if self._gateway is None:
            _, url, _ = await self.get_bot_gateway()
            self._gateway = yarl.URL(url)
        return self._gateway


def take_turns(socket: aiohttp.ClientWebSocketResponse) -> aiohttp.ClientWebSocketResponse:
    """Let the loop run between two gateway messages.

    aiohttp hands out a message already received without suspending, so discord.py parsed a
    whole burst of buffered events (1,500 ``INTERACTION_CREATE`` at once: one 650 ms stretch,
    issue 14) before any command handler it had started could send its acknowledgement, and
    heartbeats and every job waited as long. With a turn between messages each command's
    handler runs up to its acknowledgement right after its event is parsed. Events are still
    parsed one after another, in order, by the one reader."""
    receive = socket.receive

    async def receive_in_turn(*args: Any, **kwargs: Any) -> aiohttp.WSMessage:
        await asyncio.sleep(0)
        return await receive(*args, **kwargs)

    socket.receive = receive_in_turn  # type: ignore[method-assign]
    return socket
