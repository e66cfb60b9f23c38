"""Replicate predictions through the official `replicate` client (async API, polling).

`REPLICATE_BASE_URL` keeps working: the client reads it when no base_url is passed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import replicate
from replicate.__about__ import __version__ as replicate_version
from replicate.exceptions import ModelError, ReplicateError
from replicate.prediction import Prediction

from bot.errors import ProviderError
from bot.providers.base import (
    GeneratedImage,
    GenerationResult,
    Provider,
    ProviderUpdate,
    parse_retry_after,
    parse_step,
    trim_reason,
)
from bot.providers.capabilities import PROVIDER_CAPABILITIES
from bot.providers.pacing import PollPacer
from bot.providers.request import GenerationRequest

# The cog-flux models whose published input schema has `go_fast`.
GO_FAST_MODELS = frozenset(
    f"black-forest-labs/flux-{name}" for name in ("dev", "schnell", "dev-lora", "schnell-lora")
)


class ReplicateProvider(Provider):
    name = "replicate"
    capabilities = PROVIDER_CAPABILITIES["replicate"]

    def __init__(self, token: str, *, poll_interval_s: float = 0.5) -> None:
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

    def build_input(self, request: GenerationRequest, image: str | None = None) -> dict[str, Any]:
        if request.mode == "upscale":
            return {"image": image, "scale": request.upscale_factor or 2}
        data: dict[str, Any] = {
            "prompt": request.prompt,
            "num_outputs": request.count,
            "output_format": "png",
            "disable_safety_checker": False,
        }
        if request.mode == "img2img":
            data["image"] = image
            if request.strength is not None:
                data["prompt_strength"] = request.strength
        else:
            data["aspect_ratio"] = request.aspect_ratio
        if request.loras:
            data["lora_weights"] = request.loras[0].path
            data["lora_scale"] = request.loras[0].scale
        if request.negative_prompt:
            data["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            data["seed"] = request.seed
            if request.model.split(":", 1)[0] in GO_FAST_MODELS:
                # cog-flux's `go_fast` (fp8 weights, on by default) does not reproduce a seed
                # exactly: a member who fixed one wants the same image again.
                data["go_fast"] = False
        if request.steps is not None:
            data["num_inference_steps"] = request.steps
        if request.guidance is not None:
            data["guidance"] = request.guidance
        return data

    async def submit(self, request: GenerationRequest, image: str | None = None) -> str:
        arguments = self.build_input(request, image)
        try:
            if ":" in request.model:
                prediction = await self._client.predictions.async_create(
                    version=request.model.split(":", 1)[1], input=arguments
                )
            else:
                prediction = await self._client.models.predictions.async_create(
                    model=request.model, input=arguments
                )
        except Exception as exc:
            raise _as_provider_error(exc) from exc
        return str(prediction.id)

    async def watch(self, model: str, request_id: str) -> AsyncIterator[ProviderUpdate]:
        # Adaptive polling (see PollPacer): fast at first, slower while nothing changes (never
        # slower than poll_interval_s), dense again just before the finish the step rate
        # predicts. About 20 requests for a 20 s generation instead of one every interval.
        pacer = PollPacer(self._poll_interval_s)
        while True:
            try:
                prediction = await self._client.predictions.async_get(request_id)
            except Exception as exc:
                raise _as_provider_error(exc) from exc
            update = _update_for(prediction)
            if update.phase == "completed":
                self._finished[request_id] = prediction
                yield update
                return
            yield update
            await asyncio.sleep(pacer.next_delay(update))

    async def result(self, model: str, request_id: str) -> GenerationResult:
        prediction = self._finished.pop(request_id, None)
        if prediction is None:
            try:
                prediction = await self._client.predictions.async_get(request_id)
            except Exception as exc:
                raise _as_provider_error(exc) from exc
        if prediction.status != "succeeded":
            raise ProviderError(
                "replicate",
                trim_reason(str(prediction.error or f"the prediction {prediction.status}")),
                retryable=False,
            )
        output = prediction.output
        urls = output if isinstance(output, list) else [output]
        images = tuple(GeneratedImage(url=str(u)) for u in urls if isinstance(u, str))
        if not images:
            raise ProviderError("replicate", "the prediction returned no images", retryable=True)
        seed = (prediction.input or {}).get("seed")
        metrics = prediction.metrics or {}
        return GenerationResult(
            images=images,
            seed=seed if isinstance(seed, int) else None,
            inference_s=metrics.get("predict_time"),
        )

    async def cancel(self, model: str, request_id: str) -> None:
        self._finished.pop(request_id, None)
        try:
            await self._client.predictions.async_cancel(request_id)
        except Exception as exc:
            raise _as_provider_error(exc) from exc

    async def probe(self, model: str) -> str | None:
        """`GET /v1/account`: authenticated and free."""
        try:
            account = await self._client.accounts.async_current()
        except Exception as exc:
            raise _as_provider_error(exc) from exc
        return f"account {account.username}"

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
    reason = prediction.error or ("the prediction was cancelled" if status == "canceled" else None)
    return ProviderUpdate(
        "completed", error=trim_reason(str(reason or f"status {status}")), **common
    )


def _as_provider_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, ReplicateError):
        status = exc.status
        if status in (401, 403):
            reason = "Replicate refused the bot's API token (the bot owner must check it)"
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
            "replicate", f"could not reach Replicate ({type(exc).__name__})", retryable=True
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(
            "replicate", "Replicate did not answer in time", retryable=True, maybe_accepted=True
        )
    if isinstance(exc, httpx.TransportError):
        return ProviderError(
            "replicate",
            f"the connection to Replicate broke ({type(exc).__name__})",
            retryable=True,
            maybe_accepted=True,
        )
    return ProviderError("replicate", trim_reason(f"unexpected error: {exc}"), retryable=True)
