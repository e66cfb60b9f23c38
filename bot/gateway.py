"""Keeps every gateway connection on the gateway that `GET {api_base}/gateway/bot` names.

discord.py 2.7 falls back to its built-in ``DiscordWebSocket.DEFAULT_GATEWAY``
(wss://gateway.discord.gg) whenever it has no URL of its own: at start when ``shard_count`` is
configured (``AutoShardedClient.launch_shards`` then skips ``/gateway/bot``), for the fresh
IDENTIFY after a non-resumable INVALID_SESSION (``Shard.reidentify`` passes ``gateway=None``)
and on a reconnect after a network error (``Shard.reconnect``). Behind a gateway proxy, or
against a test double, such a bot never comes back.

All of those paths open their socket through the client's ``HTTPClient.ws_connect``, so that one
call is wrapped (discord.py has no hook for the gateway URL, and copying ``launch_shards`` and
``Shard`` would tie the bot to far more of its private code): a connection aimed at the default
gateway goes to the URL from ``/gateway/bot`` instead. The URL is asked for once and asked for
again after a failed connection, as Discord recommends. RESUMEs use the session's
``resume_gateway_url`` and pass through untouched.
"""

from __future__ import annotations

import logging

import aiohttp
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient

log = logging.getLogger(__name__)


class GatewayPin:
    """Redirects a client's connections to the default gateway to the one Discord named."""

    def __init__(self, http: HTTPClient) -> None:
        self._http = http
        self._connect = http.ws_connect
        self._gateway: yarl.URL | None = None

    def install(self) -> GatewayPin:
        self._http.ws_connect = self.ws_connect  # type: ignore[method-assign]
        return self

    async def ws_connect(self, url: str, *, compress: int = 0) -> aiohttp.ClientWebSocketResponse:
        """``HTTPClient.ws_connect`` with the default gateway swapped for the named one; the
        query (API version, encoding, compression) is kept."""
        target = yarl.URL(url)
        if target.with_query(None) != DiscordWebSocket.DEFAULT_GATEWAY:
            return await self._connect(url, compress=compress)
        gateway = await self._named_gateway()
        log.debug("connecting to the gateway %s instead of the default", gateway)
        try:
            return await self._connect(str(gateway.with_query(target.query)), compress=compress)
        except (OSError, aiohttp.ClientError):
            self._gateway = None  # it may have moved: ask /gateway/bot again next time
            raise

    async def _named_gateway(self) -> yarl.URL:
        if self._gateway is None:
            _, url, _ = await self._http.get_bot_gateway()
            self._gateway = yarl.URL(url)
        return self._gateway
