"""Discord's limits on IDENTIFY, as its gateway docs state them (docs/events/gateway.mdx: "Rate
Limiting", "Sharding" → "Max Concurrency", "Session Start Limit Object"):

- Shards fall in rate-limit buckets, ``shard_id % max_concurrency``; each bucket may IDENTIFY
  once per window (Discord's is 5 s), different buckets at the same time. An IDENTIFY sooner in
  the same bucket starts no session and is answered with op 9 INVALID_SESSION, ``d: false``
  ("If you hit this limit, the Gateway will respond with an Opcode 9 Invalid Session"; close
  4008 is the other limit, 120 gateway commands per 60 s, which the fake does not count).
  ``rate_limited_identifies`` lists the shards answered so.
- ``session_start_limit.remaining`` IDENTIFYs are left until ``reset_after`` ms have passed, when
  ``remaining`` is ``total`` again. Going over ends every session and resets the bot's token; the
  fake closes the IDENTIFYing connection with 4004 (Authentication failed: what a reset token
  gets) and leaves the other sessions be. ``set_session_start_limit`` sets what is left.

The window is ``FakeDiscord(identify_window_s=...)``: 0 (the default) enforces no window, as
many tests start the bot again on the same fake within 5 s; tests of the pacing set one, short.
"""

from __future__ import annotations

import math
import time
from typing import Any

from .state import FakeState

DAY_S = 24 * 60 * 60.0


class IdentifyLimits(FakeState):
    """The IDENTIFY buckets and the session start budget."""

    def set_session_start_limit(self, *, remaining: int, reset_after_s: float) -> None:
        """Leave ``remaining`` session starts until ``reset_after_s`` seconds from now."""
        self._starts_left = remaining
        self._starts_reset_at = time.monotonic() + reset_after_s

    def _session_start_limit(self) -> dict[str, Any]:
        """``session_start_limit`` of ``GET /gateway/bot``, as of now."""
        self._refill_session_starts()
        reset_after_s = max(0.0, self._starts_reset_at - time.monotonic())
        return {
            "total": self.session_start_total,
            "remaining": self._starts_left,
            "reset_after": math.ceil(reset_after_s * 1000),  # ms; never early
            "max_concurrency": self.max_concurrency,
        }

    def _identify_too_soon(self, shard_id: int) -> bool:
        """Whether this IDENTIFY comes within its bucket's window; if not, it opens one."""
        bucket = shard_id % self.max_concurrency
        now = time.monotonic()
        last = self._bucket_identified_at.get(bucket)
        if last is not None and now - last < self.identify_window_s:
            return True
        self._bucket_identified_at[bucket] = now
        return False

    def _take_session_start(self) -> bool:
        """Spend one session start; False when none is left before the reset."""
        self._refill_session_starts()
        if self._starts_left <= 0:
            return False
        self._starts_left -= 1
        return True

    def _refill_session_starts(self) -> None:
        now = time.monotonic()
        if now >= self._starts_reset_at:
            self._starts_left = self.session_start_total
            self._starts_reset_at = now + DAY_S
