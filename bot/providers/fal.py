"""fal.ai through the official `fal_client.AsyncClient` (queue API).

fal-client reads `FAL_RUN_HOST`/`FAL_QUEUE_RUN_HOST` at import, so operators and tests point it
elsewhere through the environment; nothing here overrides those.

A job is followed through fal's status stream (`GET {status_url}/stream?logs=1`, server-sent
events): one request per job instead of one per poll, and `COMPLETED` arrives the moment fal
has it. If the stream cannot be opened or breaks off, the job falls back to polling the status
through fal-client (paced by `PollPacer`), whose errors carry the usual retry semantics.

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
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import certifi
import fal_client
import httpx
from fal_client.client import AsyncRequestHandle, Completed, InProgress, Queued, Status

from bot.capabilities import PROVIDER_CAPABILITIES
from bot.errors import ProviderError
from bot.generation import GenerationRequest
from bot.providers.base import (
    GeneratedImage,
    GenerationResult,
    Provider,
    ProviderUpdate,
    parse_retry_after,
    parse_step,
    trim_reason,
)
from bot.providers.pacing import PollPacer

log = logging.getLogger(__name__)

# A status stream is idle between changes; fal sends a comment every 15 s to keep it open, so a
# minute of silence means the connection is dead and polling takes over.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15, sock_read=60)

IMAGE_SIZES: dict[str, str | dict[str, int]] = {
    "1:1": "square_hd",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "3:2": {"width": 1216, "height": 816},
    "2:3": {"width": 816, "height": 1216},
    "21:9": {"width": 1536, "height": 656},
}


def _disable_client_retries() -> None:
    """fal-client retries 408/409/429, some 5xx and every transport error on its own, for about
    30 s and on submit too (a timed-out submit may then be sent twice). The bot's RetryPolicy
    is meant to be the one in force, with deadlines, so the client's loop gets one attempt.
    It reads this module constant on every call."""
    fal_client.client.MAX_ATTEMPTS = 1


class FalProvider(Provider):
    name = "fal"
    capabilities = PROVIDER_CAPABILITIES["fal"]

    def __init__(self, key: str, *, poll_interval_s: float = 0.5) -> None:
        _disable_client_retries()
        self._client = fal_client.AsyncClient(key=key)
        self._poll_interval_s = poll_interval_s
        self._handles: dict[str, AsyncRequestHandle] = {}
        self._streams: aiohttp.ClientSession | None = None  # made in the running loop

    def build_input(self, request: GenerationRequest, image: str | None = None) -> dict[str, Any]:
        if request.mode == "upscale":
            return {
                "image_url": image,
                "scale": request.upscale_factor or 2,
                "output_format": "png",
            }
        arguments: dict[str, Any] = {
            "prompt": request.prompt,
            "num_images": request.count,
            "enable_safety_checker": True,
            "output_format": "png",
        }
        if request.mode == "img2img":
            arguments["image_url"] = image
            if request.strength is not None:
                arguments["strength"] = request.strength
        else:
            arguments["image_size"] = IMAGE_SIZES[request.aspect_ratio]
        if request.loras:
            arguments["loras"] = [
                {"path": lora.path, "scale": lora.scale} for lora in request.loras
            ]
        if request.negative_prompt:
            arguments["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            arguments["seed"] = request.seed
        if request.steps is not None:
            arguments["num_inference_steps"] = request.steps
        if request.guidance is not None:
            arguments["guidance_scale"] = request.guidance
        return arguments

    async def submit(self, request: GenerationRequest, image: str | None = None) -> str:
        try:
            handle = await self._client.submit(request.model, self.build_input(request, image))
        except Exception as exc:
            raise _as_provider_error(exc) from exc
        self._handles[handle.request_id] = handle
        return handle.request_id

    async def _handle(self, model: str, request_id: str) -> AsyncRequestHandle:
        handle = self._handles.get(request_id)
        if handle is None:
            handle = await self._client.get_handle(model, request_id)
            self._handles[request_id] = handle
        return handle

    async def watch(self, model: str, request_id: str) -> AsyncIterator[ProviderUpdate]:
        handle = await self._handle(model, request_id)
        try:
            async for update in self._stream(handle):
                yield update
                if update.phase == "completed":
                    return
            # The stream was unavailable or ended early: poll until completion.
            pacer = PollPacer(self._poll_interval_s)
            while True:
                update = _update_for(await handle.status(with_logs=True))
                yield update
                if update.phase == "completed":
                    return
                await asyncio.sleep(pacer.next_delay(update))
        except ProviderError:
            self._handles.pop(request_id, None)
            raise
        except Exception as exc:
            self._handles.pop(request_id, None)
            raise _as_provider_error(exc) from exc

    async def _stream_session(self) -> aiohttp.ClientSession:
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

    async def _stream(self, handle: AsyncRequestHandle) -> AsyncIterator[ProviderUpdate]:
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
            session = await self._stream_session()
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
                        update = _update_for(handle._parse_status(json.loads(data)))
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

    async def result(self, model: str, request_id: str) -> GenerationResult:
        # Only called once watch() saw COMPLETED, so the result is fetched directly: the
        # client's `handle.get()` would poll the status once more first.
        handle = await self._handle(model, request_id)
        try:
            response = await handle.client.get(
                handle.response_url, timeout=fal_client.client.QUEUE_POLL_TIMEOUT
            )
            fal_client.client._raise_for_status(response)
            data = response.json()
        except Exception as exc:
            raise _as_provider_error(exc) from exc
        finally:
            self._handles.pop(request_id, None)
        return _parse_result(data)

    async def cancel(self, model: str, request_id: str) -> None:
        handle = await self._handle(model, request_id)
        try:
            await handle.cancel()
        except fal_client.client.FalClientHTTPError as exc:
            if exc.status_code != 400:  # 400 = already completed: nothing left to cancel
                raise _as_provider_error(exc) from exc
        finally:
            self._handles.pop(request_id, None)

    async def probe(self, model: str) -> str | None:
        """fal has no endpoint that only checks a key. The cheapest authenticated call is a
        status GET on the queue host for a request id that cannot exist: fal answers 401/403
        when it refuses the key and 404 when it accepted the key but knows no such request.
        So "ok" means reachable and key accepted, not that the account has credit."""
        handle = await self._client.get_handle(model, str(uuid.uuid4()))
        try:
            await handle.status()
        except fal_client.client.FalClientHTTPError as exc:
            if exc.status_code == 404:
                return None
            raise _as_provider_error(exc) from exc
        except Exception as exc:
            error = _as_provider_error(exc)
            raise ProviderError(
                "fal", f"{error.reason} at {handle.status_url}", retryable=error.retryable
            ) from exc
        return None

    async def close(self) -> None:
        self._handles.clear()
        if self._streams is not None:
            await self._streams.close()
        # fal-client caches one httpx client per AsyncClient (asyncstdlib's cached_property
        # keeps it wrapped in an AwaitableValue); close it if it was ever created.
        cached = self._client.__dict__.get("_client")
        client = getattr(cached, "value", cached)
        if isinstance(client, httpx.AsyncClient):
            await client.aclose()


# asyncio's SSL transport (3.11+) gives every TLS connection a 256 KiB read buffer, allocated
# and zeroed up front: a thousand open status streams held ~270 MB in them alone. A TLS record
# carries at most 16 KiB of data, so a read never needs more than that.
TLS_READ_BUFFER = 16 * 1024


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


def _update_for(status: Status) -> ProviderUpdate:
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


def _parse_result(data: Any) -> GenerationResult:
    if isinstance(data, dict) and isinstance(data.get("image"), dict) and "images" not in data:
        data = {**data, "images": [data["image"]]}  # upscalers answer with one `image`
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ProviderError("fal", "the result had no images", retryable=True)
    flags = data.get("has_nsfw_concepts") or []
    images = []
    for index, item in enumerate(data["images"]):
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str):
            continue
        images.append(
            GeneratedImage(
                url=url,
                width=item.get("width"),
                height=item.get("height"),
                content_type=item.get("content_type"),
                nsfw=bool(flags[index]) if index < len(flags) else False,
            )
        )
    if not images:
        raise ProviderError("fal", "the result had no images", retryable=True)
    timings = data.get("timings") or {}
    seed = data.get("seed")
    return GenerationResult(
        images=tuple(images),
        seed=seed if isinstance(seed, int) else None,
        inference_s=timings.get("inference") if isinstance(timings, dict) else None,
    )


def _as_provider_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, fal_client.client.FalClientHTTPError):
        status = exc.status_code
        header = (exc.response_headers or {}).get("x-fal-retryable")
        if header is not None:
            retryable = header.strip().lower() == "true"
        else:
            retryable = status in (408, 409, 429) or status >= 500
        return ProviderError(
            "fal",
            _describe_detail(exc.message, status),
            retryable=retryable,
            status=status,
            retry_after=parse_retry_after(exc.response_headers or {}),
        )
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ProviderError("fal", f"could not reach fal ({type(exc).__name__})", retryable=True)
    if isinstance(exc, httpx.TimeoutException | fal_client.client.FalClientTimeoutError):
        return ProviderError(
            "fal", "fal did not answer in time", retryable=True, maybe_accepted=True
        )
    if isinstance(exc, httpx.TransportError):
        return ProviderError(
            "fal",
            f"the connection to fal broke ({type(exc).__name__})",
            retryable=True,
            maybe_accepted=True,
        )
    return ProviderError("fal", trim_reason(f"unexpected error: {exc}"), retryable=True)


def _describe_detail(detail: Any, status: int) -> str:
    if status in (401, 403):
        return "fal refused the bot's API key (the bot owner must check FAL_KEY)"
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = item.get("loc") or []
                field = ".".join(str(p) for p in loc if p != "body")
                msg = item.get("msg", "invalid value")
                parts.append(f"{field}: {msg}" if field else str(msg))
            else:
                parts.append(str(item))
        return trim_reason("; ".join(parts) or f"HTTP {status}")
    return trim_reason(str(detail) or f"HTTP {status}")
