"""Rate limits: ``X-RateLimit-*`` headers on every answer, and fixed windows per route and major
parameters (``FakeDiscord.rate_limits``) answered with 429.

discord.py takes a 429 for a rate limit only when it carries a ``Via`` header; without one it is a
Cloudflare ban (raised, never retried). Every 429 of the fake therefore has ``Via``, plus
``Retry-After``, ``X-RateLimit-Scope`` and the body ``{message, retry_after, global}``.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from aiohttp import web

from .records import RecordedRequest
from .responses import json_response
from .state import FakeState


@dataclass
class Bucket:
    reset_at: float
    count: int = 0


class RateLimits(FakeState):
    """``rate_limits`` (``{route: (limit, per seconds)}``) and the headers of every answer."""

    @staticmethod
    def _bucket_hash(route: str) -> str:
        return hashlib.sha1(route.encode()).hexdigest()[:32]

    def _default_ratelimit_headers(self, route: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1.0:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": self._bucket_hash(route),
        }

    @staticmethod
    def _429_headers(retry_after: float, base: dict[str, str]) -> dict[str, str]:
        return {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Scope": "user",
            "X-RateLimit-Global": "false",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "Via": "1.1 google",
            "X-RateLimit-Bucket": base.get("X-RateLimit-Bucket", ""),
            "X-RateLimit-Limit": base.get("X-RateLimit-Limit", "50"),
        }

    def _rate_limit(self, rec: RecordedRequest) -> tuple[web.Response | None, dict[str, str]]:
        """Apply ``rate_limits`` (fixed windows per route and major parameters)."""
        headers = self._default_ratelimit_headers(rec.route)
        conf = self.rate_limits.get(rec.route)
        if conf is None:
            return None, headers
        limit, per = conf
        major = "/".join(rec.params.get(k, "") for k in ("cid", "gid", "id", "token"))
        now = time.monotonic()
        bucket = self._buckets.get((rec.route, major))
        if bucket is None or now >= bucket.reset_at:
            bucket = self._buckets[(rec.route, major)] = Bucket(reset_at=now + per)
        reset_after = max(bucket.reset_at - now, 0.0)
        headers["X-RateLimit-Limit"] = str(limit)
        headers["X-RateLimit-Reset-After"] = f"{reset_after:.3f}"
        headers["X-RateLimit-Reset"] = f"{time.time() + reset_after:.3f}"
        if bucket.count >= limit:
            self.rate_limited_count += 1
            retry = round(reset_after, 3)
            body = {"message": "You are being rate limited.", "retry_after": retry, "global": False}
            headers.update(self._429_headers(retry, headers))
            return json_response(429, body, headers), headers
        bucket.count += 1
        headers["X-RateLimit-Remaining"] = str(limit - bucket.count)
        return None, headers
