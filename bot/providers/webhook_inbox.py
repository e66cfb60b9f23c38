"""Provider webhooks on the providers' side: the per-request waiter a verified webhook fills,
and how a job's updates end the moment it does.

A request submitted with a webhook URL is expected here (`expect`) by the provider that sent it,
in the same breath as its id comes back, so a webhook can never find nobody waiting for a job of
this process. The web route (bot/web/webhooks.py) verifies a webhook and `deliver`s its body;
the provider's `watch` ends with it (`until_webhook`) instead of its next status poll.

Polling stays the fallback, only much slower while a webhook is expected
(`fallback_delays`): a webhook that is lost or late still ends its job, at worst one fallback
interval later. A webhook for a request nobody here expects (another process's job, a job from
before a restart) is kept a minute in case its `expect` is a moment late, then dropped: the
job's own polling finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from bot.providers.base import ProviderUpdate

# With a webhook expected, the first fallback status poll comes this late, and the next ones
# double up to FALLBACK_MAX_S: a 5 s generation then costs its submit alone.
FALLBACK_FIRST_S = 30.0
FALLBACK_MAX_S = 120.0
# When polling (or fal's status stream) sees the end first, how long the webhook, which carries
# the result, is awaited before the result is fetched instead. Both leave the provider at about
# the same moment, so this costs nothing unless the webhook is lost.
GRACE_S = 1.0
EARLY_KEEP_S = 60.0  # how long a webhook nobody expects yet is kept
EARLY_MAX = 1024  # at most this many of them

Refusal = Literal["unsigned", "forged", "stale", "replayed", "malformed", "unverifiable"]


class WebhookRefused(Exception):
    """A webhook that changes nothing: unsigned, forged or tampered, too old or too new, a
    replay, unreadable, or (`unverifiable`) one that can't be checked now (the keys or secret
    could not be fetched: the provider is asked to send it again)."""

    def __init__(self, kind: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.kind: Refusal = kind
        self.detail = detail

    @property
    def status(self) -> int:
        if self.kind == "unverifiable":
            return 503
        return 400 if self.kind == "malformed" else 401


@dataclass(frozen=True)
class Verified:
    """A webhook whose signature checked out: which request it ends, the key its replays are
    recognised by, and its parsed body."""

    request_id: str
    replay_key: str
    body: dict[str, Any]


class WebhookInbox:
    def __init__(self, public_url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.public_url = public_url.rstrip("/")
        self.fallback_first_s = FALLBACK_FIRST_S
        self.fallback_max_s = FALLBACK_MAX_S
        self.grace_s = GRACE_S
        self._clock = clock
        self._waiting: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._early: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        # Called with (provider, request id) when a waiter is registered (webhook_relay.py).
        self.on_expect: list[Callable[[str, str], None]] = []

    def url(self, provider: str) -> str:
        return f"{self.public_url}/webhooks/{provider}"

    def expect(self, provider: str, request_id: str) -> None:
        key = (provider, request_id)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        early = self._early.pop(key, None)
        if early is not None:
            future.set_result(early[1])
        self._waiting[key] = future
        if early is None:
            for listener in self.on_expect:
                listener(provider, request_id)

    def arrival(self, provider: str, request_id: str) -> asyncio.Future[dict[str, Any]] | None:
        """The webhook's body once it arrives; None when none is expected in this process."""
        return self._waiting.get((provider, request_id))

    def deliver(self, provider: str, request_id: str, body: dict[str, Any]) -> bool:
        """Hands a verified webhook to its waiting job; False when no job here waits for it."""
        key = (provider, request_id)
        future = self._waiting.get(key)
        if future is None:
            self._keep_early(key, body)
            return False
        if future.done():
            return False
        future.set_result(body)
        return True

    def forget(self, provider: str, request_id: str) -> None:
        self._waiting.pop((provider, request_id), None)

    def fallback_delays(self) -> Iterator[float]:
        delay = self.fallback_first_s
        while True:
            yield delay
            delay = min(delay * 2, max(self.fallback_max_s, self.fallback_first_s))

    def _keep_early(self, key: tuple[str, str], body: dict[str, Any]) -> None:
        now = self._clock()
        for old, (at, _body) in list(self._early.items()):
            if now - at < EARLY_KEEP_S and len(self._early) < EARLY_MAX:
                break
            del self._early[old]
        self._early[key] = (now, body)


async def until_webhook(
    updates: AsyncGenerator[ProviderUpdate, None],
    arrival: asyncio.Future[dict[str, Any]],
    finish: Callable[[dict[str, Any]], ProviderUpdate | None],
    grace_s: float,
) -> AsyncGenerator[ProviderUpdate, None]:
    """`updates` (the provider's stream or polls) until the webhook arrives: its `completed`
    update (`finish` reads the body, None when it does not end the request) ends them at once,
    without waiting for the next poll."""
    async with contextlib.aclosing(updates):
        while True:
            step = asyncio.ensure_future(anext(updates))
            try:
                await asyncio.wait((step, arrival), return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not step.done():
                    step.cancel()
                    await asyncio.gather(step, return_exceptions=True)
            if arrival.done():
                ending = finish(arrival.result())
                if ending is not None:
                    yield ending
                    return
                arrival = asyncio.get_running_loop().create_future()  # never: poll on
            if not step.done() or step.cancelled():
                continue
            try:
                update = step.result()
            except StopAsyncIteration:
                return
            if update.phase == "completed":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(arrival), grace_s)
                ending = finish(arrival.result()) if arrival.done() else None
                yield ending or update
                return
            yield update
