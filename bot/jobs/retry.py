"""One explicit, bounded retry policy for every provider call and every final Discord message
(arq's `Retry`, in spirit).

The provider clients' own hidden retry loops are switched off (see the provider modules), and
so is discord.py's for final messages (bot/delivery/posting.py), so this is the policy in force:
exponential backoff with full jitter, a server's `Retry-After` honoured (capped), and both the
number of attempts and the total time bounded.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.errors import DeliveryError, ProviderError

log = logging.getLogger(__name__)
T = TypeVar("T")
# What the policy retries: both carry `retryable` and `retry_after`.
E = TypeVar("E", ProviderError, DeliveryError)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    total_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s * 4)
        ceiling = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        return random.uniform(ceiling / 2, ceiling)


async def with_retries(
    policy: RetryPolicy,
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    should_retry: Callable[[ProviderError], bool] | None = None,
    on_retry: Callable[[ProviderError, int, float], Awaitable[None]] | None = None,
) -> T:
    """Run `call` until it succeeds, raises a non-retryable error, or the policy runs out."""
    return await retry_on(
        ProviderError, policy, call, what=what, should_retry=should_retry, on_retry=on_retry
    )


async def retry_on(
    errors: type[E],
    policy: RetryPolicy,
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    should_retry: Callable[[E], bool] | None = None,
    on_retry: Callable[[E, int, float], Awaitable[None]] | None = None,
) -> T:
    """`with_retries` for another kind of retryable error (`errors`); others pass through."""
    started = time.monotonic()
    attempt = 1
    while True:
        try:
            return await call()
        except errors as exc:
            if not exc.retryable or attempt >= policy.max_attempts:
                raise
            if should_retry is not None and not should_retry(exc):
                raise
            wait = policy.delay(attempt, exc.retry_after)
            if time.monotonic() - started + wait > policy.total_s:
                raise
            log.info("%s failed (%s); retry %d in %.1f s", what, exc, attempt, wait)
            if on_retry is not None:
                await on_retry(exc, attempt, wait)
            await asyncio.sleep(wait)
            attempt += 1
