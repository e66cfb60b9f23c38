"""Replicate predictions through the official `replicate` client (async API, polling).

`REPLICATE_BASE_URL` keeps working: the client reads it when no base_url is passed.

With webhooks on (`[web] public_url`, bot/providers/webhook_inbox.py) a prediction is created
with `webhook` and `webhook_events_filter: ["completed"]`, and its body (the finished
prediction) ends the job: no status poll, no result read. Polling is then only the fallback for
a lost webhook, first after `fallback_first_s` (30 s): about 22 requests for a 20 s job become 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
from collections.abc import AsyncGenerator, Callable
from typing import Any

import aiohttp
import httpx
import replicate
from replicate.__about__ import __version__ as replicate_version
from replicate.exceptions import ModelError, ReplicateError
from replicate.prediction import Prediction

from bot.errors import ProviderError
from bot.i18n import _
from bot.providers.base import (
    GeneratedImage,
    GenerationResult,
    Provider,
    ProviderUpdate,
    ResponseHook,
    parse_retry_after,
    parse_step,
    trim_reason,
)
from bot.providers.capabilities import PROVIDER_CAPABILITIES
from bot.providers.catalogue import Catalogue, ModelEntry, model_input
from bot.providers.catalogue.mapping import NO_EXTRA, ExtraInputs
from bot.providers.pacing import PollPacer
from bot.providers.replicate_outcome import (
    FullPrediction,
    dropped,
    ending_reason,
    failure,
    get_prediction,
)
from bot.providers.request import GenerationRequest
from bot.providers.webhook_inbox import WebhookInbox, until_webhook

UPLOAD_TIMEOUT_S = 60.0  # for one input image (a few MB) to reach Replicate's file storage


class ReplicateProvider(Provider):
    name = "replicate"
    capabilities = PROVIDER_CAPABILITIES["replicate"]

    def __init__(
        self,
        token: str,
        *,
        poll_interval_s: float = 0.5,
        catalogue: Catalogue | None = None,
        webhooks: WebhookInbox | None = None,
    ) -> None:
        self._catalogue = catalogue or Catalogue.shipped()
        self._client = replicate.Client(api_token=token)
        # replicate wraps its transport in a RetryTransport (10 attempts, up to 60 s waits) and
        # never retries a POST. The bot's RetryPolicy is meant to be the one in force, so the
        # client gets a plain httpx client whose hook turns 429/5xx into retryable errors that
        # keep the Retry-After the provider asked for. REPLICATE_BASE_URL is still honoured.
        self._http = httpx.AsyncClient(
            base_url=os.environ.get("REPLICATE_BASE_URL") or "https://api.replicate.com",
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"replicate-python/{replicate_version} art-factory",
            },
            timeout=httpx.Timeout(10.0, read=30.0, write=30.0, connect=5.0, pool=10.0),
            event_hooks={"response": [_raise_retryable]},
        )
        self._client._Client__async_client = self._http  # type: ignore[attr-defined]
        self._poll_interval_s = poll_interval_s
        self._finished: dict[str, Prediction] = {}
        self._webhooks = webhooks

    def build_input(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> dict[str, Any]:
        return model_input(self._entry(request.model), request, image, extra)

    def _entry(self, model: str) -> ModelEntry:
        entry = self._catalogue.entry(self.name, model)
        if entry is None:  # build_request refuses such a model before it gets here
            raise ProviderError(
                self.name, _("no input schema known for {model}", model=model), retryable=False
            )
        return entry

    def _version(self, model: str) -> str | None:
        """The version a prediction must name: the one in `owner/name:version`, else the
        catalogue's for a community model (they have no model route); None for official
        models, which run their latest version."""
        if ":" in model:
            return model.split(":", 1)[1]
        entry = self._entry(model)
        return None if entry.official else entry.version

    async def submit(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> str:
        arguments = self.build_input(request, image, extra)
        hook: dict[str, Any] = {}
        if self._webhooks is not None:
            hook = {
                "webhook": self._webhooks.url(self.name),
                "webhook_events_filter": ["completed"],
            }
        try:
            version = self._version(request.model)
            if version is not None:
                prediction = await self._client.predictions.async_create(
                    version=version, input=arguments, **hook
                )
            else:
                prediction = await self._client.models.predictions.async_create(
                    model=request.model, input=arguments, **hook
                )
        except Exception as exc:
            raise _as_provider_error(exc) from exc
        if self._webhooks is not None:
            self._webhooks.expect(self.name, str(prediction.id))
        return str(prediction.id)

    async def upload_image(self, data: bytes, content_type: str, file_name: str) -> str | None:
        """`POST /v1/files` (multipart) through the client, on the bot's httpx client; the job
        sends the file's `urls.get`. The client sends it without a timeout: the bound is here."""
        try:
            async with asyncio.timeout(UPLOAD_TIMEOUT_S):
                created = await self._client.files.async_create(
                    io.BytesIO(data), filename=file_name, content_type=content_type
                )
        except TimeoutError:
            raise ProviderError(
                "replicate", _("Replicate did not take the input image in time"), retryable=True
            ) from None
        except Exception as exc:
            error = _as_provider_error(exc)
            error.maybe_accepted = False  # an upload sent twice costs nothing
            raise error from exc
        url = (created.urls or {}).get("get")
        if not isinstance(url, str):
            raise ProviderError("replicate", _("the file upload returned no URL"), retryable=True)
        return url

    async def watch(self, model: str, request_id: str) -> AsyncGenerator[ProviderUpdate, None]:
        inbox = self._webhooks
        arrival = inbox.arrival(self.name, request_id) if inbox is not None else None
        if inbox is None or arrival is None:
            # Adaptive polling (see PollPacer): fast at first, slower while nothing changes
            # (never slower than poll_interval_s), dense again just before the finish the step
            # rate predicts. About 20 requests for a 20 s generation instead of one every
            # interval.
            pacer = PollPacer(self._poll_interval_s)

            def pace(update: ProviderUpdate | None) -> float:
                return 0.0 if update is None else pacer.next_delay(update)

            updates = self._polls(request_id, pace)
        else:
            delays = inbox.fallback_delays()
            polls = self._polls(request_id, lambda update: next(delays))
            finish = functools.partial(self._from_webhook, request_id)
            updates = until_webhook(polls, arrival, finish, inbox.grace_s)
        async with contextlib.aclosing(updates) as items:
            async for update in items:
                yield update

    async def _polls(
        self, request_id: str, pace: Callable[[ProviderUpdate | None], float]
    ) -> AsyncGenerator[ProviderUpdate, None]:
        """Status polls, each `pace(previous update)` seconds after the one before."""
        update: ProviderUpdate | None = None
        while True:
            delay = pace(update)
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                prediction = await get_prediction(self._client, request_id)
            except Exception as exc:
                raise _as_provider_error(exc) from exc
            update = _update_for(prediction)
            if update.phase == "completed":
                self._finished[request_id] = prediction
                yield update
                return
            yield update

    def _from_webhook(self, request_id: str, body: dict[str, Any]) -> ProviderUpdate | None:
        """The finished prediction a webhook carries, kept for `result`; None if it is not
        finished (another event than the ones asked for)."""
        try:
            prediction = FullPrediction(**body)
        except (TypeError, ValueError):
            return None
        prediction._client = self._client
        update = _update_for(prediction)
        if update.phase != "completed" or prediction.id != request_id:
            return None
        self._finished[request_id] = prediction
        return update

    async def result(self, model: str, request_id: str) -> GenerationResult:
        if self._webhooks is not None:
            self._webhooks.forget(self.name, request_id)
        prediction = self._finished.pop(request_id, None)
        if prediction is None:
            try:
                prediction = await get_prediction(self._client, request_id)
            except Exception as exc:
                raise _as_provider_error(exc) from exc
        if prediction.status != "succeeded":
            raise failure(prediction)
        output = prediction.output
        urls = output if isinstance(output, list) else [output]
        images = tuple(GeneratedImage(url=str(u)) for u in urls if isinstance(u, str))
        if not images:
            raise ProviderError("replicate", _("the prediction returned no images"), retryable=True)
        seed = (prediction.input or {}).get("seed")
        metrics = prediction.metrics or {}
        return GenerationResult(
            images=images,
            seed=seed if isinstance(seed, int) else None,
            inference_s=metrics.get("predict_time"),
            dropped=dropped(prediction, len(images)),
        )

    async def cancel(self, model: str, request_id: str) -> None:
        self._finished.pop(request_id, None)
        if self._webhooks is not None:
            self._webhooks.forget(self.name, request_id)
        try:
            # The answer is not parsed: replicate 1.0.7 would refuse an `aborted` one.
            await self._client._async_request("POST", f"/v1/predictions/{request_id}/cancel")
        except Exception as exc:
            raise _as_provider_error(exc) from exc

    async def webhook_secret(self) -> str:
        """`GET /v1/webhooks/default/secret`: the key Replicate signs this account's webhooks
        with (`whsec_…`)."""
        try:
            secret = await self._client.webhooks.default.async_secret()
        except Exception as exc:
            raise _as_provider_error(exc) from exc
        return secret.key

    async def probe(self, model: str) -> str | None:
        """`GET /v1/account`: authenticated and free."""
        try:
            account = await self._client.accounts.async_current()
        except Exception as exc:
            raise _as_provider_error(exc) from exc
        return f"account {account.username}"

    def observe_http(self, trace: aiohttp.TraceConfig, hook: ResponseHook) -> None:
        self._http.event_hooks["response"].insert(0, hook)  # before `_raise_retryable`

    async def close(self) -> None:
        self._finished.clear()
        await self._http.aclose()


async def _raise_retryable(response: httpx.Response) -> None:
    if response.status_code != 429 and response.status_code < 500:
        return
    await response.aread()
    try:
        body = response.json()
        detail = body.get("detail") or body.get("title") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    raise ProviderError(
        "replicate",
        trim_reason(str(detail or f"HTTP {response.status_code}")),
        retryable=True,
        status=response.status_code,
        retry_after=parse_retry_after(response.headers),
    )


def _update_for(prediction: Prediction) -> ProviderUpdate:
    lines = (prediction.logs or "").splitlines()
    step = parse_step(lines[-5:])
    common: dict[str, Any] = {
        "step": step[0] if step else None,
        "total_steps": step[1] if step else None,
        "log": lines[-1] if lines else None,
    }
    status = prediction.status
    if status == "starting":
        return ProviderUpdate("queued")
    if status == "processing":
        return ProviderUpdate("running", **common)
    if status == "succeeded":
        return ProviderUpdate("completed", **common)
    return ProviderUpdate("completed", error=ending_reason(prediction), **common)


def _as_provider_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, ReplicateError):
        status = exc.status
        if status in (401, 403):
            reason = _("Replicate refused the bot's API token (the bot owner must check it)")
        else:
            reason = trim_reason(exc.detail or exc.title or f"HTTP {status}")
        retryable = status is None or status in (408, 409, 429) or status >= 500
        return ProviderError("replicate", reason, retryable=retryable, status=status)
    if isinstance(exc, ModelError):
        return ProviderError("replicate", trim_reason(str(exc)), retryable=False)
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ProviderError(
            "replicate",
            _("could not reach Replicate ({error})", error=type(exc).__name__),
            retryable=True,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(
            "replicate", _("Replicate did not answer in time"), retryable=True, maybe_accepted=True
        )
    if isinstance(exc, httpx.TransportError):
        return ProviderError(
            "replicate",
            _("the connection to Replicate broke ({error})", error=type(exc).__name__),
            retryable=True,
            maybe_accepted=True,
        )
    return ProviderError(
        "replicate", trim_reason(_("unexpected error: {error}", error=exc)), retryable=True
    )
