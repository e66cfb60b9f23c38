"""Paces the gateway IDENTIFYs of the bot's shards the way Discord allows them, no slower.

Discord's rules (https://discord.com/developers/docs/events/gateway: "Sharding" → "Max
Concurrency", "Rate Limiting", "Session Start Limit Object", "Resuming"):

- Shards fall in rate-limit buckets, ``shard_id % max_concurrency``. Each bucket may IDENTIFY
  once per 5 seconds; shards of different buckets may IDENTIFY at the same time. Too soon is
  answered with op 9 INVALID_SESSION.
- ``session_start_limit.remaining`` IDENTIFYs are left until ``reset_after`` milliseconds from
  the answer; going over ends every session of the bot and resets its token.
- After an INVALID_SESSION a client waits a random 1 to 5 seconds before a fresh IDENTIFY.

``max_concurrency``, ``remaining`` and ``reset_after`` come from the ``GET /gateway/bot`` answer
discord.py fetches anyway (bot/gateway.py records it), not from a request of their own.

discord.py's own ``before_identify_hook`` sleeps 5 s before every IDENTIFY but the process's
first, as if ``max_concurrency`` were 1: 16 shards take 75 s to come up where Discord allows
all 16 at once. ``AutoShardedClient.launch_shards`` (discord.py 2.7) launches the shards one after
another, but awaits each only until its IDENTIFY is sent, not until its READY: so pacing here is
enough for start-up to follow the buckets. A round of ``max_concurrency`` shards then costs one
connection and HELLO per shard instead of 5 s each.

The window is Discord's constant, not a setting: an operator has nothing to choose there, only
ways to get refused. Tests shorten it by patching ``IDENTIFY_WINDOW_S`` (and the fake's own).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

IDENTIFY_WINDOW_S = 5.0  # Discord: one IDENTIFY per bucket per 5 seconds
# The window is timed here from just before each IDENTIFY is sent, Discord times it from their
# arrival, and the next one may travel faster than the last: the slack keeps them a full window
# apart at Discord too.
IDENTIFY_SLACK_S = 0.25
REIDENTIFY_DELAY_S = (1.0, 5.0)  # Discord: a random 1-5 s before IDENTIFYing anew
DAY_S = 24 * 60 * 60.0


@dataclass(frozen=True)
class StartLimit:
    """``GET /gateway/bot``'s ``session_start_limit`` and when it was answered."""

    total: int
    remaining: int
    reset_after_s: float
    max_concurrency: int
    answered_at: float  # time.monotonic()


class IdentifyPacer:
    """Waits before each IDENTIFY until Discord accepts it: its bucket's window has passed and a
    session start is left. One per client: discord.py calls the hook once per IDENTIFY."""

    def __init__(self, limits: Callable[[], Awaitable[StartLimit]]) -> None:
        self._limits = limits
        self._bucket_last: dict[int, float] = {}  # bucket -> when its last IDENTIFY went out
        self._bucket_locks: dict[int, asyncio.Lock] = {}
        self._identified: set[int] = set()  # shards that IDENTIFYed once already
        self._read: StartLimit | None = None  # the answer the budget below was taken from
        self._starts_left = 0
        self._starts_usable_at = 0.0  # the starts left may be spent from then on
        self._starts_reset_at = 0.0
        # With several processes on one ledger (PostgreSQL), the bucket's turn among all of
        # them (db/postgres.py `identify_turn`): set by the bot once its database is open.
        self.shared_turn: Callable[[int, float], Awaitable[None]] | None = None

    async def wait(self, shard_id: int | None) -> None:
        """Return when ``shard_id`` may IDENTIFY; the IDENTIFY is counted as sent then."""
        shard = shard_id or 0
        limits = await self._limits()
        if limits is not self._read:  # a fresh answer: Discord's count wins over ours
            self._read = limits
            self._starts_left = limits.remaining
            self._starts_usable_at = 0.0
            self._starts_reset_at = limits.answered_at + limits.reset_after_s
        bucket = shard % max(1, limits.max_concurrency)
        async with self._bucket_locks.setdefault(bucket, asyncio.Lock()):
            last = self._bucket_last.get(bucket)
            now = time.monotonic()
            delay = 0.0 if last is None else last + IDENTIFY_WINDOW_S + IDENTIFY_SLACK_S - now
            if shard in self._identified:  # a session ended: Discord asks for a random pause
                delay = max(delay, random.uniform(*REIDENTIFY_DELAY_S))
            delay = max(delay, self._spend_session_start(limits.total, now))
            if delay > 0:
                await asyncio.sleep(delay)
            if self.shared_turn is not None:
                await self.shared_turn(bucket, IDENTIFY_WINDOW_S + IDENTIFY_SLACK_S)
            self._bucket_last[bucket] = time.monotonic()
            self._identified.add(shard)

    def _spend_session_start(self, total: int, now: float) -> float:
        """Take one session start; the seconds until it may be used (0 unless none was left)."""
        if self._starts_left <= 0:
            self._starts_usable_at = max(now, self._starts_reset_at)
            self._starts_reset_at = self._starts_usable_at + DAY_S  # Discord's is a daily limit
            self._starts_left = total
            log.warning(
                "Discord allows no more gateway sessions until its limit resets "
                "(session_start_limit: 0 of %d left): waiting %.0f s before identifying",
                total,
                self._starts_usable_at - now,
            )
        self._starts_left -= 1
        return max(0.0, self._starts_usable_at - now)
