"""Following a fal job: its status stream, and the status answers both the stream and the
polling fallback in `fal.py` turn into updates.

The stream is read with aiohttp, sending the credentials of fal-client's own httpx client.
Measured at a thousand jobs in flight (bench/README.md), httpx + httpx-sse cost ~290 µs of CPU
per status event against ~85 µs here, and httpcore's pool scans every open connection on each
request and release, so a thousand open streams made every fal request ~2.5 ms dearer.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import json
import logging
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import certifi
from fal_client.client import AsyncRequestHandle, Completed, InProgress, Queued, Status

from bot.providers.base import ProviderUpdate, parse_step, trim_reason

log = logging.getLogger(__name__)

# A status stream is idle between changes; fal sends a comment every 15 s to keep it open, so a
# minute of silence means the connection is dead and polling takes over.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15, sock_read=60)

# asyncio's SSL transport (3.11+) gives every TLS connection a 256 KiB read buffer, allocated
# and zeroed up front: a thousand open status streams held ~270 MB in them alone. A TLS record
# carries at most 16 KiB of data, so a read never needs more than that.
TLS_READ_BUFFER = 16 * 1024


class StatusStreams:
    """fal's status streams (`GET {status_url}/stream?logs=1`, server-sent events), one open
    connection per running job on a session of their own, made in the running loop."""

    def __init__(self) -> None:
        self._streams: aiohttp.ClientSession | None = None

    async def _session(self) -> aiohttp.ClientSession:
        if self._streams is None or self._streams.closed:
            _limit_tls_read_buffers()
            # Loading a CA bundle takes tens of milliseconds: not on the event loop.
            context = await asyncio.to_thread(_tls_context)
            if self._streams is not None and not self._streams.closed:
                return self._streams  # another job made it meanwhile
            self._streams = aiohttp.ClientSession(
                # One connection per running job, opened and closed with its stream.
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=15, ssl=context),
                timeout=STREAM_TIMEOUT,
                trust_env=True,  # proxies from the environment, as httpx honours them
            )
        return self._streams

    async def updates(self, handle: AsyncRequestHandle) -> AsyncIterator[ProviderUpdate]:
        """Updates from fal's status stream. Ends without a `completed` update when the stream
        can't be used, so the caller polls instead: the stream is an optimisation, never a
        new way for a job to fail."""
        final: ProviderUpdate | None = None
        headers = {
            # fal-client's own credentials and user agent, from its authenticated client
            "Authorization": handle.client.headers.get("authorization", ""),
            "User-Agent": handle.client.headers.get("user-agent", ""),
            "Accept": "text/event-stream",
            "Cache-Control": "no-store",
        }
        try:
            session = await self._session()
            async with session.get(
                handle.status_url + "/stream", params={"logs": "1"}, headers=headers
            ) as response:
                if response.status != 200 or response.content_type != "text/event-stream":
                    log.info(
                        "fal status stream for %s answered HTTP %s (%s); polling instead",
                        handle.request_id,
                        response.status,
                        response.content_type,
                    )
                    return
                async with contextlib.aclosing(_sse_data(response.content)) as events:
                    async for data in events:
                        update = update_for(handle._parse_status(json.loads(data)))
                        if update.phase == "completed":
                            final = update  # yielded once the connection is released
                            break
                        yield update
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            log.info(
                "fal status stream for %s broke off (%s: %s); polling instead",
                handle.request_id,
                type(exc).__name__,
                exc,
            )
            return
        if final is not None:
            yield final

    async def close(self) -> None:
        if self._streams is not None:
            await self._streams.close()


def _limit_tls_read_buffers() -> None:
    """Shrink asyncio's per-connection TLS read buffer (a class attribute it reads when each
    connection is made; process-wide, and only ever lowered)."""
    protocol = getattr(asyncio.sslproto, "SSLProtocol", None)
    current = getattr(protocol, "max_size", None)
    if isinstance(current, int) and current > TLS_READ_BUFFER:
        protocol.max_size = TLS_READ_BUFFER  # type: ignore[union-attr]


def _tls_context() -> ssl.SSLContext:
    """The trust store fal-client's httpx uses: `SSL_CERT_FILE` or `SSL_CERT_DIR` when set
    (read now, like httpx does when it makes its client), else certifi's bundle."""
    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    if capath:
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context(cafile=certifi.where())


async def _sse_data(content: aiohttp.StreamReader) -> AsyncGenerator[str, None]:
    """The `data` of each server-sent event (comments and other fields skipped). Lines are
    split here rather than by `readline`, whose 128 KiB cap cumulative logs could exceed."""
    buffer = bytearray()
    data: list[str] = []
    async for chunk in content.iter_any():
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end]).rstrip(b"\r").decode("utf-8")
            del buffer[: end + 1]
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
            elif line.startswith("data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def update_for(status: Status) -> ProviderUpdate:
    if isinstance(status, Queued):
        return ProviderUpdate("queued", queue_position=status.position)
    if isinstance(status, InProgress):
        return _running_update(status.logs)
    if isinstance(status, Completed):
        update = _running_update(status.logs)
        return ProviderUpdate(
            "completed",
            step=update.step,
            total_steps=update.total_steps,
            log=update.log,
            error=trim_reason(status.error) if status.error else None,
        )
    raise ValueError(f"unknown fal status {status!r}")


def _running_update(logs: list[dict[str, Any]] | None) -> ProviderUpdate:
    lines = [str(entry.get("message", "")) for entry in (logs or [])]
    step = parse_step(lines)
    return ProviderUpdate(
        "running",
        step=step[0] if step else None,
        total_steps=step[1] if step else None,
        log=lines[-1] if lines else None,
    )
