"""`POST /webhooks/fal` and `POST /webhooks/replicate`: the providers telling the bot a
request has ended, so its job moves on at once instead of at its next status poll (issue 17).

On only with `[web] listen` and `public_url` (the address the providers are given). A webhook
is believed only once its provider's signature checks out (bot/providers/fal_webhook.py,
replicate_webhook.py) and it is not a replay of one already taken (same signed id within the
signature's 5-minute window, kept twice that to cover clocks on either side). A verified one is
answered 200 at once and handed to the waiting job (bot/providers/webhook_inbox.py); any other
changes nothing, is answered 4xx (503 when the keys could not be fetched, so the provider sends
it again), and is logged once per provider and kind a minute, with how many more came: anyone
can POST here, and a flood must not flood the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from bot.config import Config
from bot.providers.base import Provider
from bot.providers.fal_webhook import FAL_JWKS_URL, FalWebhookVerifier
from bot.providers.replicate import ReplicateProvider
from bot.providers.replicate_webhook import ReplicateWebhookVerifier
from bot.providers.webhook_inbox import Verified, WebhookInbox, WebhookRefused
from bot.providers.webhook_relay import WebhookRelay

log = logging.getLogger(__name__)

REPLAY_WINDOW_S = 600.0
LOG_EVERY_S = 60.0
SECRET_TIMEOUT_S = 10.0


class Verifier(Protocol):
    async def verify(self, headers: Mapping[str, str], body: bytes) -> Verified: ...


class ReplayGuard:
    """The signed ids taken in the last `REPLAY_WINDOW_S`, in the order they came."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seen: dict[str, float] = {}

    def first_time(self, key: str) -> bool:
        now = self._clock()
        for old, at in list(self._seen.items()):
            if now - at < REPLAY_WINDOW_S:
                break
            del self._seen[old]
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


class RefusalLog:
    """One warning per provider and kind of refusal a minute, naming how many came since."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._since: dict[tuple[str, str], int] = {}

    def note(self, provider: str, refused: WebhookRefused, peer: str | None) -> None:
        key = (provider, refused.kind)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < LOG_EVERY_S:
            self._since[key] = self._since.get(key, 0) + 1
            return
        more = self._since.pop(key, 0)
        self._last[key] = now
        log.warning(
            "refused a %s webhook from %s (%s: %s)%s",
            provider,
            peer or "?",
            refused.kind,
            refused.detail,
            f"; {more} more refused as {refused.kind} in the last minute" if more else "",
        )


class Webhooks:
    def __init__(
        self,
        inbox: WebhookInbox,
        verifiers: dict[str, Verifier],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inbox = inbox
        self._verifiers = verifiers
        self.relay: WebhookRelay | None = None  # set when the ledger relays between processes
        self._replays = ReplayGuard(clock)
        self.refusals = RefusalLog(clock)

    def routes(self) -> list[web.RouteDef]:
        return [web.post(f"/webhooks/{name}", self._route(name)) for name in self._verifiers]

    def _route(self, provider: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def receive(request: web.Request) -> web.Response:
            return await self.receive(provider, request)

        return receive

    async def receive(self, provider: str, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verified = await self._verifiers[provider].verify(request.headers, body)
            if not self._replays.first_time(f"{provider}:{verified.replay_key}"):
                raise WebhookRefused("replayed", f"{verified.replay_key} was taken already")
        except WebhookRefused as refused:
            self.refusals.note(provider, refused, request.remote)
            return web.json_response({"error": refused.kind}, status=refused.status)
        if not self._inbox.deliver(provider, verified.request_id, verified.body):
            log.debug("%s webhook for %s: no job here waits for it", provider, verified.request_id)
            if self.relay is not None:  # for the process that holds the job (PostgreSQL)
                await self.relay.publish(provider, verified.request_id, verified.body)
        return web.json_response({"ok": True})


async def provider_webhooks(
    config: Config,
    inbox: WebhookInbox,
    providers: Mapping[str, Provider],
    session: aiohttp.ClientSession,
) -> Webhooks:
    """The routes of the enabled providers that send webhooks, Replicate's secret fetched."""
    verifiers: dict[str, Verifier] = {}
    if "fal" in providers:
        fal_jwks_url = getattr(config.providers["fal"], "webhook_jwks_url", FAL_JWKS_URL)

        async def fetch_jwks() -> Any:
            async with session.get(fal_jwks_url, raise_for_status=True) as response:
                return await response.json(content_type=None)

        verifiers["fal"] = FalWebhookVerifier(fetch_jwks)
    replicate = providers.get("replicate")
    if isinstance(replicate, ReplicateProvider):
        verifier = ReplicateWebhookVerifier(replicate.webhook_secret)
        try:
            async with asyncio.timeout(SECRET_TIMEOUT_S):
                await verifier.prefetch()
        except TimeoutError:
            log.warning("replicate webhooks: the secret did not come in time; asked again later")
        verifiers["replicate"] = verifier
    return Webhooks(inbox, verifiers)
