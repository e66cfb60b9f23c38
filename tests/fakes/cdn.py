"""A fake image CDN, plus the aiohttp plumbing shared by the fake provider servers."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}


def make_image(
    width: int = 64,
    height: int = 64,
    color: tuple[int, int, int] = (200, 30, 30),
    *,
    fmt: str = "png",
    noise: bool = False,
) -> bytes:
    """Encode a solid (or random-noise, hence incompressible) RGB image as png/jpeg/webp."""
    if noise:
        img = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        img = Image.new("RGB", (width, height), color)
    buf = io.BytesIO()
    img.save(buf, format=_PIL_FORMATS[fmt.lower()])
    return buf.getvalue()


def make_png(
    width: int = 64,
    height: int = 64,
    color: tuple[int, int, int] = (200, 30, 30),
    *,
    noise: bool = False,
) -> bytes:
    """A real PNG; ``noise=True`` fills it with random pixels (for size-limit tests)."""
    return make_image(width, height, color, fmt="png", noise=noise)


def seed_color(seed: int, index: int = 0) -> tuple[int, int, int]:
    """A deterministic colour per (seed, image index), so different outputs differ."""
    n = (seed * 2654435761 + index * 40503) & 0xFFFFFF
    return (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF


_BAR_PARTS = " ▏▎▍▌▋▊▉"


def tqdm_bar(step: int, total: int, width: int = 10) -> str:
    """A tqdm-style bar, e.g. ``██▌       `` for 1/4."""
    frac = step / total if total else 1.0
    cells = frac * width
    full = int(cells)
    bar = "█" * full
    if full < width:
        bar += _BAR_PARTS[int((cells - full) * 8)]
    return bar.ljust(width)


def tqdm_line(template: str, step: int, total: int) -> str:
    """Format a progress log line; fields: ``pct`` (3 wide), ``bar``, ``step``, ``total``."""
    pct = round(100 * step / total) if total else 100
    return template.format(pct=f"{pct:3d}", bar=tqdm_bar(step, total), step=step, total=total)


@dataclass
class Rec:
    """One request received by a fake API server."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    time: float
    peer: tuple[str, int] | None = None  # the client's address: one per connection it opened


@dataclass
class Upload:
    """One file uploaded to a fake provider's storage, and the URL it answered with."""

    data: bytes
    content_type: str
    file_name: str | None
    url: str
    headers: dict[str, str]


@dataclass
class Fault:
    """A scripted response for the next ``times`` requests matching ``method`` and ``path_re``."""

    method: str
    path_re: re.Pattern[str]
    status: int | None = None
    times: int | None = 1
    json: Any = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    delay: float = 0.0

    def matches(self, request: web.Request) -> bool:
        return (self.method in ("*", request.method)) and bool(self.path_re.search(request.path))


class FakeServer:
    """An aiohttp server on 127.0.0.1 with request recording and fault injection."""

    def __init__(self, *, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self._want_port = port
        self._ssl = ssl_context
        self._runner: web.AppRunner | None = None
        self._faults: list[Fault] = []
        self._closing = asyncio.Event()
        self.port: int = 0

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError(f"{type(self).__name__} is not started")
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Bind and serve."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._want_port, ssl_context=self._ssl)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Release hanging handlers and streams, then stop the server."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- faults ----------------------------------------------------------------------------
    def inject(
        self,
        method: str,
        path_regex: str,
        *,
        status: int | None = None,
        times: int | None = 1,
        json: Any = None,
        headers: dict[str, str] | None = None,
        hang: bool = False,
        body: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` (None: all) requests matching ``method`` ("*": any) and
        ``re.search(path_regex, path)`` with ``status`` + ``json`` (default: the fake's own error
        body, see ``_default_fault_body``) or raw ``body``; ``hang`` never answers; ``delay``
        alone just slows the real answer."""
        self._add_fault(
            Fault(
                method.upper(),
                re.compile(path_regex),
                status=status,
                times=times,
                json=json,
                body=body,
                headers=dict(headers or {}),
                hang=hang,
                delay=delay,
            )
        )

    def _add_fault(self, fault: Fault) -> None:
        self._faults.append(fault)

    def _default_fault_body(self, status: int) -> Any:
        return {"detail": f"Injected fault ({status})"}

    def _take_fault(self, request: web.Request) -> Fault | None:
        for fault in self._faults:
            if fault.matches(request):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    async def hang(self) -> web.StreamResponse:
        """Never answer (until the server closes)."""
        await self._closing.wait()
        raise web.HTTPServiceUnavailable()

    # -- plumbing --------------------------------------------------------------------------
    def _record(self, request: web.Request, body: bytes) -> None:
        raise NotImplementedError

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read() if request.can_read_body else b""
        self._record(request, body)
        fault = self._take_fault(request)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.hang:
                return await self.hang()
            if fault.status is not None:
                headers = dict(fault.headers)
                if fault.body is not None:
                    headers.setdefault("Content-Type", "text/plain")
                    return web.Response(status=fault.status, text=fault.body, headers=headers)
                payload = (
                    fault.json if fault.json is not None else self._default_fault_body(fault.status)
                )
                return web.json_response(payload, status=fault.status, headers=headers)
        return await handler(request)


def record_of(request: web.Request, body: bytes) -> Rec:
    """Build a :class:`Rec` (JSON body parsed when possible)."""
    parsed: Any = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    return Rec(
        method=request.method,
        path=request.path,
        query=dict(request.query),
        json=parsed,
        headers=dict(request.headers),
        time=time.monotonic(),
        peer=_peer(request),
    )


def _peer(request: web.Request) -> tuple[str, int] | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return (str(peer[0]), int(peer[1])) if peer else None


class FakeCDN(FakeServer):
    """A plain-HTTP, unauthenticated file host on its own port."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str, float]] = []

    def put(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Store ``data`` under ``/name`` and return its absolute URL."""
        path = "/" + name.lstrip("/")
        self.files[path] = (data, content_type)
        return self.base_url + path

    def remove(self, name: str) -> None:
        """Forget a file (later GETs get 404), e.g. to simulate an expired link."""
        self.files.pop("/" + name.lstrip("/"), None)

    def inject(
        self, path_regex: str, *, status: int | None = None, times: int = 1, hang: bool = False
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``, or never (``hang``)."""
        self._add_fault(Fault("*", re.compile(path_regex), status=status, times=times, hang=hang))

    def _default_fault_body(self, status: int) -> Any:
        return {"error": f"injected {status}"}

    def _record(self, request: web.Request, body: bytes) -> None:
        self.requests.append((request.method, request.path, time.monotonic()))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        item = self.files.get(request.path)
        if item is None:
            return web.Response(status=404, text="Not Found")
        data, content_type = item
        return web.Response(body=data, content_type=content_type)
