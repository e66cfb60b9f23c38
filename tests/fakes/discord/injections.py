"""Fault injection: canned answers (errors, 429s, delays, answers lost after the request took
effect) for the next requests matching a method and a path."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .constants import ErrorCode
from .ratelimits import RateLimits
from .records import RecordedRequest
from .responses import json_response


@dataclass
class Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    body: Any
    headers: dict[str, str]
    delay: float
    applied: bool = False  # handle the request for real, then answer with `status`
    when: Callable[[RecordedRequest], bool] | None = None  # only requests it accepts
    hold_s: float = 0.0  # handle the request for real, then hold its answer this long


class Injections(RateLimits):
    """``inject()`` and how an injected answer is written (429s get rate-limit headers)."""

    def inject(
        self,
        method: str,
        path_regex: str,
        *,
        status: int,
        times: int = 1,
        json: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        applied: bool = False,
        when: Callable[[RecordedRequest], bool] | None = None,
        hold_s: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests matching (method, re.search on the path, and
        ``when`` if given: e.g. ``lambda r: bool(r.files)`` for requests that upload files).

        The injected answer replaces the real handling (no state changes), unless ``applied``:
        then the request is handled for real first and its answer is replaced by the injected
        one, as when Discord applied a request but its answer was lost (a 502 from its edge,
        a dropped connection). Defaults when
        ``json`` is None: 429 -> rate-limit body with ``retry_after`` 0.1 (plus ``Via``,
        ``Retry-After`` and ``X-RateLimit-Scope`` headers; pass ``{"Via": ""}`` to simulate a
        Cloudflare ban), 404 -> Unknown Message, other errors -> a generic Discord error body, 2xx
        -> the request is handled normally after ``delay`` (useful to simulate a slow Discord).
        ``method`` "*" matches any method. ``hold_s`` (with a 2xx ``status``) handles the
        request for real at once and holds its answer back that long: the bot's request has
        taken effect but the bot does not know it yet (e.g. to kill it at that moment).
        """
        self._injections.append(
            Injection(
                method=method.upper(),
                pattern=re.compile(path_regex),
                status=status,
                times=times,
                body=json,
                headers=dict(headers or {}),
                delay=delay,
                applied=applied,
                when=when,
                hold_s=hold_s,
            )
        )

    def clear_injections(self) -> None:
        """Drop every injected answer not yet used (e.g. one meant for a process now gone)."""
        self._injections.clear()

    def _take_injection(self, rec: RecordedRequest) -> Injection | None:
        for injection in self._injections:
            if injection.when is not None and not injection.when(rec):
                continue
            if injection.method in ("*", rec.method) and injection.pattern.search(rec.path):
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
                return injection
        return None

    def _injected_response(self, injection: Injection, rl_headers: dict[str, str]) -> web.Response:
        status, body = injection.status, injection.body
        headers = dict(rl_headers)
        if status == 429:
            if body is None:
                body = {"message": "You are being rate limited.", "retry_after": 0.1}
                body["global"] = False
            retry = float(body.get("retry_after", 0.1)) if isinstance(body, dict) else 0.1
            headers.update(self._429_headers(retry, rl_headers))
            self.rate_limited_count += 1
        elif body is None:
            defaults = {
                400: {
                    "code": ErrorCode.INVALID_FORM_BODY,
                    "message": "Invalid Form Body",
                    "errors": {},
                },
                401: {"code": ErrorCode.GENERAL, "message": "401: Unauthorized"},
                403: {"code": ErrorCode.MISSING_PERMISSIONS, "message": "Missing Permissions"},
                404: {"code": ErrorCode.UNKNOWN_MESSAGE, "message": "Unknown Message"},
            }
            generic = {"code": ErrorCode.GENERAL, "message": f"{status}: Injected error"}
            body = defaults.get(status, generic)
        headers.update(injection.headers)
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return json_response(status, body, headers)
