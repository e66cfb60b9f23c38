"""fal.ai through the official `fal_client.AsyncClient` (queue API).

fal-client reads `FAL_RUN_HOST`/`FAL_QUEUE_RUN_HOST` at import, so operators and tests point it
elsewhere through the environment; nothing here overrides those.

A job is followed through fal's status stream (`GET {status_url}/stream?logs=1`, server-sent
events): one request per job instead of one per poll, and `COMPLETED` arrives the moment fal
has it. If the stream cannot be opened or breaks off, the job falls back to polling the status
through fal-client (paced by `PollPacer`), whose errors carry the usual retry semantics.
The stream, and why it is read with aiohttp rather than fal-client's httpx, is in
`fal_stream.py`.

Submit, result and cancel go over the same aiohttp session (`fal_http.py` says why not through
fal-client's httpx); fal-client makes the handles, polls when a stream is unavailable, probes
and uploads. At most `CALLS_IN_FLIGHT` calls are under way at once; the rest wait on a
semaphore, where a release wakes one waiter (a connection pool's queue was quadratic in
httpcore with thousands of results due at once, issue 14).

With webhooks on (`[web] public_url`, bot/providers/webhook_inbox.py) a request is submitted
with `?fal_webhook=`, and the webhook's `payload` (the result) ends the job: the status stream
still shows progress, but the result is not fetched; a broken stream falls back to slow
polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import fal_client
import httpx
from fal_client.client import AsyncRequestHandle

from bot.errors import ProviderError
from bot.i18n import _
from bot.providers.base import (
    GeneratedImage,
    GenerationResult,
    Provider,
    ProviderUpdate,
    ResponseHook,
    trim_reason,
)
from bot.providers.capabilities import PROVIDER_CAPABILITIES
from bot.providers.catalogue import Catalogue, model_input
from bot.providers.catalogue.mapping import NO_EXTRA, ExtraInputs
from bot.providers.catalogue.schema import TEXT_OUTPUTS
from bot.providers.fal_http import FalHttp, error_for
from bot.providers.fal_storage import FalStorage
from bot.providers.fal_stream import StatusStreams, update_for
from bot.providers.pacing import PollPacer
from bot.providers.request import GenerationRequest
from bot.providers.webhook_inbox import WebhookInbox, until_webhook

CALLS_IN_FLIGHT = 64  # fal calls under way at once (status streams are not counted)


def _disable_client_retries() -> None:
    """fal-client retries 408/409/429, some 5xx and every transport error on its own, for about
    30 s and on submit too (a timed-out submit may then be sent twice). The bot's RetryPolicy
    is meant to be the one in force, with deadlines, so the client's loop gets one attempt.
    It reads this module constant on every call."""
    fal_client.client.MAX_ATTEMPTS = 1


class FalProvider(Provider):
    name = "fal"
    capabilities = PROVIDER_CAPABILITIES["fal"]

    def __init__(
        self,
        key: str,
        *,
        poll_interval_s: float = 0.5,
        catalogue: Catalogue | None = None,
        storage_url: str = "https://rest.fal.ai",
        webhooks: WebhookInbox | None = None,
    ) -> None:
        self._catalogue = catalogue or Catalogue.shipped()
        _disable_client_retries()
        self._client = fal_client.AsyncClient(key=key)
        self._poll_interval_s = poll_interval_s
        self._handles: dict[str, AsyncRequestHandle] = {}
        self._http = FalHttp()
        self._streams = StatusStreams(self._http)
        self._storage = FalStorage(self._client, storage_url)
        self._gate = asyncio.Semaphore(CALLS_IN_FLIGHT)
        self._webhooks = webhooks
        self._delivered: dict[str, Any] = {}  # request id -> the result a webhook brought

    def build_input(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> dict[str, Any]:
        entry = self._catalogue.entry(self.name, request.model)
        if entry is None:  # build_request refuses such a model before it gets here
            raise ProviderError(
                self.name,
                _("no input schema known for {model}", model=request.model),
                retryable=False,
            )
        return model_input(entry, request, image, extra)

    async def submit(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> str:
        try:
            async with self._gate:
                handle = await self._http.submit(
                    self._client,
                    request.model,
                    self.build_input(request, image, extra),
                    webhook_url=self._webhooks.url(self.name) if self._webhooks else None,
                )
        except ProviderError:
            raise
        except Exception as exc:
            raise _as_provider_error(exc) from exc
        self._handles[handle.request_id] = handle
        if self._webhooks is not None:
            self._webhooks.expect(self.name, handle.request_id)
        return handle.request_id

    async def upload_image(self, data: bytes, content_type: str, file_name: str) -> str | None:
        try:
            return await self._storage.upload(data, content_type, file_name)
        except Exception as exc:
            error = _as_provider_error(exc)
            error.maybe_accepted = False  # an upload sent twice costs nothing
            raise error from exc

    async def _handle(self, model: str, request_id: str) -> AsyncRequestHandle:
        handle = self._handles.get(request_id)
        if handle is None:
            handle = await self._client.get_handle(model, request_id)
            self._handles[request_id] = handle
        return handle

    async def watch(self, model: str, request_id: str) -> AsyncGenerator[ProviderUpdate, None]:
        handle = await self._handle(model, request_id)
        inbox = self._webhooks
        arrival = inbox.arrival(self.name, request_id) if inbox is not None else None
        updates = self._follow(handle, inbox if arrival is not None else None)
        if inbox is not None and arrival is not None:
            finish = functools.partial(self._from_webhook, request_id)
            updates = until_webhook(updates, arrival, finish, inbox.grace_s)
        try:
            async with contextlib.aclosing(updates) as items:
                async for update in items:
                    yield update
                    if update.phase == "completed":
                        return
        except ProviderError:
            self._handles.pop(request_id, None)
            raise
        except Exception as exc:
            self._handles.pop(request_id, None)
            raise _as_provider_error(exc) from exc

    async def _follow(
        self, handle: AsyncRequestHandle, inbox: WebhookInbox | None
    ) -> AsyncGenerator[ProviderUpdate, None]:
        """The status stream; if it is unavailable or ends early, polls until completion (only
        now and then while a webhook is expected)."""
        async with contextlib.aclosing(self._streams.updates(handle)) as updates:
            async for update in updates:
                yield update
                if update.phase == "completed":
                    return
        pacer = PollPacer(self._poll_interval_s)
        delays = inbox.fallback_delays() if inbox is not None else None
        while True:
            if delays is not None:
                await asyncio.sleep(next(delays))
            async with self._gate:
                status = await handle.status(with_logs=True)
            update = update_for(status)
            yield update
            if update.phase == "completed":
                return
            if delays is None:
                await asyncio.sleep(pacer.next_delay(update))

    def _from_webhook(self, request_id: str, body: dict[str, Any]) -> ProviderUpdate:
        """fal's webhook `{status: "OK" | "ERROR", payload, error}`: an OK payload is the result
        (kept for `result`); without one (fal could not serialise it: `payload_error`), or for
        an error, `result` asks fal as usual."""
        payload = body.get("payload")
        if body.get("status") == "OK":
            if isinstance(payload, dict):
                self._delivered[request_id] = payload
            return ProviderUpdate("completed")
        reason = body.get("error") or _("the request failed")
        return ProviderUpdate("completed", error=trim_reason(str(reason)))

    async def result(self, model: str, request_id: str) -> GenerationResult:
        # Only called once watch() saw COMPLETED, so the result is fetched directly: the
        # client's `handle.get()` would poll the status once more first.
        if self._webhooks is not None:
            self._webhooks.forget(self.name, request_id)
        delivered = self._delivered.pop(request_id, None)
        if delivered is not None:
            self._handles.pop(request_id, None)
            return _parse_result(delivered)
        handle = await self._handle(model, request_id)
        try:
            async with self._gate:
                data = await self._http.result(handle)
        except ProviderError:
            raise
        except Exception as exc:
            raise _as_provider_error(exc) from exc
        finally:
            self._handles.pop(request_id, None)
        return _parse_result(data)

    async def cancel(self, model: str, request_id: str) -> None:
        self._delivered.pop(request_id, None)
        if self._webhooks is not None:
            self._webhooks.forget(self.name, request_id)
        handle = await self._handle(model, request_id)
        try:
            async with self._gate:
                await self._http.cancel(handle)
        except ProviderError as exc:
            if exc.status != 400:  # 400 = already completed: nothing left to cancel
                raise
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
                "fal",
                _("{reason} at {url}", reason=error.reason, url=handle.status_url),
                retryable=error.retryable,
            ) from exc
        return None

    def observe_http(self, trace: aiohttp.TraceConfig, hook: ResponseHook) -> None:
        self._http.traces.append(trace)  # fal-client's own httpx calls are not counted

    async def close(self) -> None:
        self._handles.clear()
        self._delivered.clear()
        await self._http.close()
        # fal-client caches one httpx client per AsyncClient (asyncstdlib's cached_property
        # keeps it wrapped in an AwaitableValue); close it if it was ever created.
        cached = self._client.__dict__.get("_client")
        client = getattr(cached, "value", cached)
        if isinstance(client, httpx.AsyncClient):
            await client.aclose()


def _parse_result(data: Any) -> GenerationResult:
    if isinstance(data, dict) and "images" not in data:
        # Upscalers and segmenters answer with one `image`, video models with one `video`,
        # captioners with a string (florence `results`, moondream `output`).
        one = data.get("image") or data.get("video")
        if isinstance(one, dict):
            data = {**data, "images": [one]}
        texts = [data.get(k) for k in TEXT_OUTPUTS if isinstance(data.get(k), str)]
        if texts and texts[0].strip():
            return GenerationResult(images=(), texts=(texts[0].strip(),))
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ProviderError("fal", _("the result had no images"), retryable=True)
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
        raise ProviderError("fal", _("the result had no images"), retryable=True)
    timings = data.get("timings") or {}
    seed = data.get("seed")
    return GenerationResult(
        images=tuple(images),
        seed=seed if isinstance(seed, int) else None,
        inference_s=timings.get("inference") if isinstance(timings, dict) else None,
    )


def _as_provider_error(exc: BaseException) -> ProviderError:
    """Errors of the calls still made through fal-client (status polls, uploads)."""
    if isinstance(exc, fal_client.client.FalClientHTTPError):
        return error_for(exc.status_code, exc.response_headers or {}, exc.message)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ProviderError(
            "fal", _("could not reach fal ({error})", error=type(exc).__name__), retryable=True
        )
    if isinstance(exc, httpx.TimeoutException | fal_client.client.FalClientTimeoutError):
        return ProviderError(
            "fal", _("fal did not answer in time"), retryable=True, maybe_accepted=True
        )
    if isinstance(exc, httpx.TransportError):
        return ProviderError(
            "fal",
            _("the connection to fal broke ({error})", error=type(exc).__name__),
            retryable=True,
            maybe_accepted=True,
        )
    return ProviderError(
        "fal", trim_reason(_("unexpected error: {error}", error=exc)), retryable=True
    )
