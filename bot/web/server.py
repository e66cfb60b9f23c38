"""One aiohttp web application for every route the bot serves, started once the bot's
resources exist and stopped with it. Features add their routes before `start` (the composition
root, bot/app.py), so this module knows none of them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiohttp import web

from bot.config.models import WebConfig

log = logging.getLogger(__name__)


class WebServer:
    def __init__(self, config: WebConfig) -> None:
        address = config.address
        assert address is not None, "the web server runs only with [web] listen set"
        self._host, self._port = address
        self.app = web.Application(client_max_size=1024**2)  # webhooks are small
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the port bound (`listen` may ask for 0: any free one)

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        self.app.add_routes(routes)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or ()
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("web server listening on %s:%s", self._host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
