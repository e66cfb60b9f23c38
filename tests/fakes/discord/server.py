"""The aiohttp server: the routing table, request recording, the order in which a request is
checked and answered (auth, body, OpenAPI, injections, rate limits, size, handler), and
``wait_for_request``.

One server on 127.0.0.1 serves the REST API under ``/api/v10`` (and ``/api/v9``), the gateway
websocket at ``/gateway`` and attachment bytes at ``/attachments/{mid}/{filename}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import socket
import time
from collections.abc import Callable
from typing import Any, Self

from aiohttp import MultipartReader, hdrs, web

from .cdn import CDN
from .constants import ErrorCode
from .gateway import Gateway
from .injections import Injections
from .records import RecordedFile, RecordedRequest
from .responses import ApiError, Reply, json_response
from .validation import SpecChecks

_log = logging.getLogger(__package__)  # "tests.fakes.discord", as before the split

_API_PREFIX = re.compile(r"^/api/v(9|10)(?=/)")

_ROUTES: list[tuple[str, str, str, bool]] = [
    # method, template, handler, needs "Authorization: Bot ..."
    ("GET", "/users/@me", "_h_me", True),
    ("POST", "/users/@me/channels", "_h_create_dm", True),
    ("GET", "/users/{uid}", "_h_user", True),
    ("GET", "/oauth2/applications/@me", "_h_application", True),
    ("GET", "/gateway", "_h_gateway", False),
    ("GET", "/gateway/bot", "_h_gateway_bot", True),
    ("GET", "/applications/{id}/commands", "_h_list_commands", True),
    ("PUT", "/applications/{id}/commands", "_h_put_commands", True),
    ("POST", "/applications/{id}/commands", "_h_post_command", True),
    ("GET", "/applications/{id}/guilds/{gid}/commands", "_h_list_commands", True),
    ("PUT", "/applications/{id}/guilds/{gid}/commands", "_h_put_commands", True),
    ("POST", "/applications/{id}/guilds/{gid}/commands", "_h_post_command", True),
    ("POST", "/interactions/{id}/{token}/callback", "_h_callback", False),
    ("POST", "/webhooks/{id}/{token}", "_h_followup", False),
    ("GET", "/webhooks/{id}/{token}/messages/{mid}", "_h_webhook_get", False),
    ("PATCH", "/webhooks/{id}/{token}/messages/{mid}", "_h_webhook_edit", False),
    ("DELETE", "/webhooks/{id}/{token}/messages/{mid}", "_h_webhook_delete", False),
    ("GET", "/channels/{cid}", "_h_channel", True),
    ("POST", "/channels/{cid}/typing", "_h_typing", True),
    ("POST", "/channels/{cid}/messages", "_h_channel_post", True),
    ("GET", "/channels/{cid}/messages/{mid}", "_h_channel_get", True),
    ("PATCH", "/channels/{cid}/messages/{mid}", "_h_channel_edit", True),
    ("DELETE", "/channels/{cid}/messages/{mid}", "_h_channel_delete", True),
    ("PUT", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", "_h_reaction", True),
    ("DELETE", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", "_h_reaction", True),
]


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    regex = "".join(
        f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") and p.endswith("}") else re.escape(p)
        for p in parts
    )
    return re.compile(f"^{regex}$")


_COMPILED_ROUTES = [(m, _template_regex(t), t, h, auth) for m, t, h, auth in _ROUTES]


class Server(Gateway, Injections, CDN, SpecChecks):
    """Serving, recording and answering requests; route handlers are the ``_h_*`` methods."""

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", r"/api/{version:v9|v10}/{tail:.*}", self._handle_api)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/attachments/{mid}/{filename}", self._handle_attachment)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        """Close websockets and the server; pending waits and delayed answers end at once."""
        self._closing.set()
        for conn in list(self._conns):
            with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
                await conn.ws.close(code=1001, message=b"fake shutting down")
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(RuntimeError("the fake Discord was closed"))
        if self._inflight:  # delayed answers wake up on _closing; let them be written
            await asyncio.wait(list(self._inflight), timeout=1.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool],
        timeout: float = 10,
    ) -> RecordedRequest:
        """The first recorded or future request matching ``predicate``.

        The predicate sees each request when it arrives (status 0) and again once answered;
        exceptions like KeyError/TypeError in the predicate count as "no match".
        """
        for rec in self.requests:
            if self._matches(predicate, rec):
                return rec
        future: asyncio.Future[RecordedRequest] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            seen = [f"{r.route} -> {r.status}" for r in self.requests[-20:]]
            raise TimeoutError(f"no matching request within {timeout}s; last: {seen}") from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def peak_requests_per_second(self, since: float = 0.0, until: float = math.inf) -> int:
        """The most REST requests, from every client together, in one rate-limit window of a
        second between the monotonic times ``since`` and ``until``: Discord's global limit (50
        a second) is the bot's, however many processes share it. A window opens with the
        first request after the previous one closed, as a rate-limit bucket's does
        (``X-RateLimit-Reset-After`` counts from then)."""
        times = sorted(r.time for r in self.requests if since <= r.time <= until)
        peak, opened, count = 0, -math.inf, 0
        for at in times:
            if at >= opened + 1.0:
                opened, count = at, 0
            count += 1
            peak = max(peak, count)
        return peak

    @staticmethod
    def _matches(predicate: Callable[[RecordedRequest], bool], rec: RecordedRequest) -> bool:
        try:
            return bool(predicate(rec))
        except (KeyError, TypeError, IndexError, AttributeError):
            return False

    def _notify(self, rec: RecordedRequest) -> None:
        for predicate, future in list(self._waiters):
            if not future.done() and self._matches(predicate, rec):
                future.set_result(rec)

    async def _sleep(self, delay: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    async def _read_body(
        self, request: web.Request
    ) -> tuple[Any, list[RecordedFile], int, str | None]:
        """(json, files, size, error) of a request body; error is set for malformed JSON."""
        files: list[RecordedFile] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            payload: Any = None
            fields: dict[str, str] = {}
            size = 0
            while True:
                part = await reader.next()
                if part is None:
                    break
                if isinstance(part, MultipartReader):
                    continue
                data = bytes(await part.read(decode=False))
                size += len(data)
                name = part.name or ""
                if name == "payload_json":
                    try:
                        payload = json.loads(data.decode("utf-8"))
                    except ValueError:
                        return None, files, size, "payload_json is not valid JSON"
                elif part.filename is not None or name.startswith("file"):
                    ctype = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
                    files.append(RecordedFile(name, part.filename or name, ctype, data))
                else:
                    fields[name] = data.decode("utf-8", "replace")
            if payload is None and fields:
                payload = fields
            return payload, files, size, None
        raw = await request.read()
        if not raw:
            return None, files, 0, None
        try:
            return json.loads(raw), files, len(raw), None
        except ValueError:
            return None, files, len(raw), "body is not valid JSON"

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = _API_PREFIX.sub("", request.path)
        method = request.method.upper()
        body, files, size, body_error = await self._read_body(request)
        route, params, handler, needs_auth = f"{method} {path}", {}, None, False
        for m, regex, template, hname, auth in _COMPILED_ROUTES:
            found = regex.match(path)
            if m == method and found:
                route, params = f"{method} {template}", found.groupdict()
                handler, needs_auth = getattr(self, hname), auth
                break
        rec = RecordedRequest(
            method=method,
            path=path,
            query={k: request.query[k] for k in request.query},
            json=body,
            files=files,
            headers=dict(request.headers),
            time=time.monotonic(),
            status=0,
            route=route,
            params=params,
        )
        self.requests.append(rec)
        self._notify(rec)
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            response = await self._answer(rec, handler, needs_auth, size, body_error)
        finally:
            self._inflight.discard(task)
        rec.status = response.status
        self._notify(rec)
        return response

    async def _answer(
        self,
        rec: RecordedRequest,
        handler: Callable[[RecordedRequest], Any] | None,
        needs_auth: bool,
        size: int,
        body_error: str | None,
    ) -> web.Response:
        rl_headers = self._default_ratelimit_headers(rec.route)
        auth = rec.headers.get("Authorization") or rec.headers.get("authorization")
        if needs_auth and (
            not auth
            or not auth.startswith("Bot ")
            or (self.expected_token is not None and auth != f"Bot {self.expected_token}")
        ):
            body = {"message": "401: Unauthorized", "code": ErrorCode.GENERAL}
            return json_response(401, body, rl_headers)
        if body_error is not None:
            body = {
                "code": ErrorCode.INVALID_JSON,
                "message": "The request body contains invalid JSON.",
            }
            return json_response(400, body, rl_headers)
        invalid = self._validate(rec)
        if invalid is not None:
            return json_response(400, invalid.body, rl_headers)

        injection = self._take_injection(rec)
        if injection is not None:
            if injection.delay > 0:
                await self._sleep(injection.delay)
            answer_now = not (200 <= injection.status < 300 and injection.body is None)
            if answer_now and not injection.applied:
                return self._injected_response(injection, rl_headers)

        limited, rl_headers = self._rate_limit(rec)
        if limited is not None:
            return limited
        if size > max(self.max_request_size, self.attachment_size_limit):
            body = {"code": ErrorCode.ENTITY_TOO_LARGE, "message": "Request entity too large"}
            return json_response(413, body, rl_headers)
        if handler is None:
            body = {"message": "404: Not Found", "code": ErrorCode.GENERAL}
            return json_response(404, body, rl_headers)
        try:
            reply: Reply = await handler(rec)
        except ApiError as exc:
            return json_response(exc.status, exc.body, rl_headers)
        except Exception as exc:  # a bug in the fake or a body it cannot digest
            _log.exception("fake Discord failed on %s", rec.route)
            self.spec_violations.append(f"[fake error] {rec.route}: {exc!r}")
            # 400, not 500: discord.py retries 5xx for ~25 s before giving up
            body = {"code": ErrorCode.GENERAL, "message": f"fake Discord error: {exc!r}"}
            return json_response(400, body, rl_headers)
        if injection is not None and injection.hold_s > 0:
            await self._sleep(injection.hold_s)
        if injection is not None and injection.applied:
            return self._injected_response(injection, rl_headers)  # applied, answer lost
        return json_response(reply.status, reply.body, rl_headers)
