"""Following a fal job: its status stream, and the status answers both the stream and the
polling fallback in `fal.py` turn into updates.

The stream is read on the bot's aiohttp session for fal (`fal_http.py`), sending the credentials
of fal-client's own httpx client.
Measured at a thousand jobs in flight (bench/README.md), httpx + httpx-sse cost ~290 µs of CPU
per status event against ~85 µs here, and httpcore's pool scans every open connection on each
request and release, so a thousand open streams made every fal request ~2.5 ms dearer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
from fal_client.client import AsyncRequestHandle, Completed, InProgress, Queued, Status
from yarl import URL

from bot.providers.base import ProviderUpdate, parse_step, trim_reason
from bot.providers.fal_http import FalHttp, credentials

log = logging.getLogger(__name__)

STREAM_END_S = 5.0  # after COMPLETED, how long the end of the stream is awaited (keepalive: 15 s)


class StatusStreams:
    """fal's status streams (`GET {status_url}/stream?logs=1`, server-sent events), one open
    connection per running job on the bot's aiohttp session for fal."""

    def __init__(self, http: FalHttp) -> None:
        self._http = http
        self._ending: set[asyncio.Task[None]] = set()  # streams read to their end, see below

    async def updates(self, handle: AsyncRequestHandle) -> AsyncGenerator[ProviderUpdate, None]:
        """Updates from fal's status stream. Ends without a `completed` update when the stream
        can't be used, so the caller polls instead: the stream is an optimisation, never a
        new way for a job to fail."""
        final: ProviderUpdate | None = None
        headers = {
            **credentials(handle.client.headers),
            "Accept": "text/event-stream",
            "Cache-Control": "no-store",
        }
        try:
            session = await self._http.session()
            url = URL(handle.status_url + "/stream")
            response = await session.get(
                url, params={"logs": "1"}, headers=headers, **self._http.proxy_for(url)
            )
            try:
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
                            final = update
                            break
                        yield update
            finally:
                if final is None:
                    response.release()  # unread: the connection is closed, as it must be
                else:
                    self._read_to_end(response)
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

    def _read_to_end(self, response: aiohttp.ClientResponse) -> None:
        """fal ends the stream after COMPLETED, but not always in the same packet: a response
        released before its end closes its connection, and the next stream pays a new TLS
        handshake. The end is awaited beside the job (which fetches its result at once), and
        a stream that does not end soon is closed. Most often the end came with COMPLETED:
        the connection then goes back at once, before the result fetch looks for one."""
        if response.content.is_eof():
            response.content.read_nowait()
            response.release()
            return
        task = asyncio.create_task(_drain(response), name="fal-stream-end")
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)


async def _drain(response: aiohttp.ClientResponse) -> None:
    try:
        async with asyncio.timeout(STREAM_END_S):
            while await response.content.readany():
                pass
    except (aiohttp.ClientError, OSError, TimeoutError):
        pass
    finally:
        response.release()


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
