"""CivitAI's orchestration API (v1 consumer jobs) through a small client on the bot's aiohttp
session. The civitai-py SDK is not used: it is synchronous, retries on its own and drags in a
generated client for a handful of calls.

Wire (see the CivitAI section of the protocols reference):
- submit: `POST {base}/v1/consumer/jobs` with one `textToImage` job request; `quantity` images
  become that many jobs under one `token`, which is the bot's request id. The token is all that
  is needed to follow the jobs again, so a restarted bot re-attaches by token.
- status: `GET {base}/v1/consumer/jobs?token=…` → `{token, jobs: [{jobId, cost, scheduled,
  result: {blobKey, available, blobUrl?, blobUrlExpirationDate?}, lastEvent: {type, …},
  serviceProviders: {name: {queuePosition: {precedingJobs, …}}}}]}`. A job is done when its
  result is available; it has failed when it is no longer scheduled without a result.
- cancel: `DELETE {base}/v1/consumer/jobs/{jobId}` for every job of the token.
- blob URLs are signed and expire: `result()` polls once more so the runner downloads from
  fresh URLs right away.
- errors are RFC 7807 problem details `{type, title, status, detail, errors?}`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from bot.capabilities import PROVIDER_CAPABILITIES
from bot.civitai_models import AIR_PATTERN, CivitaiModels, check_lora_fit, family_name
from bot.errors import InvalidRequest, ProviderError
from bot.generation import GenerationRequest
from bot.providers.base import (
    GeneratedImage,
    GenerationResult,
    Provider,
    ProviderUpdate,
    parse_retry_after,
    trim_reason,
)

DEFAULT_BASE_URL = "https://orchestration.civitai.com"

# About one megapixel in multiples of 64, as SDXL-class checkpoints like it.
IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "4:3": (1152, 896),
    "3:4": (896, 1152),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "21:9": (1536, 640),
}
DEFAULT_STEPS = 25
DEFAULT_CFG_SCALE = 7.0
DEFAULT_SCHEDULER = "EulerA"
DEFAULT_CLIP_SKIP = 2
# Job events after which a job that is no longer scheduled will not produce anything.
_FAILED_EVENTS = {"Failed", "Expired", "Deleted", "Rejected", "LateRejected", "ClaimExpired"}


class CivitaiProvider(Provider):
    name = "civitai"
    capabilities = PROVIDER_CAPABILITIES["civitai"]

    def __init__(
        self,
        token: str,
        session: aiohttp.ClientSession,
        *,
        base_url: str = DEFAULT_BASE_URL,
        models: CivitaiModels | None = None,
        poll_interval_s: float = 1.0,
        request_timeout_s: float = 30.0,
    ) -> None:
        self._token = token
        self._session = session
        self._base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._models = models or CivitaiModels(session, token=token)
        self._poll_interval_s = poll_interval_s
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s, connect=10)
        self._seeds: dict[str, int] = {}

    # -- the interface ---------------------------------------------------------------------

    def build_input(self, request: GenerationRequest, image: str | None = None) -> dict[str, Any]:
        width, height = IMAGE_SIZES[request.aspect_ratio]
        params: dict[str, Any] = {
            "prompt": request.prompt,
            "scheduler": DEFAULT_SCHEDULER,
            "steps": request.steps or DEFAULT_STEPS,
            "cfgScale": request.guidance if request.guidance is not None else DEFAULT_CFG_SCALE,
            "width": width,
            "height": height,
            "clipSkip": DEFAULT_CLIP_SKIP,
        }
        if request.negative_prompt:
            params["negativePrompt"] = request.negative_prompt
        if request.seed is not None:
            params["seed"] = request.seed
        body: dict[str, Any] = {
            "$type": "textToImage",
            "model": request.model,
            "params": params,
            "quantity": request.count,
        }
        if request.loras:
            body["additionalNetworks"] = {
                lora.path: {"type": "Lora", "strength": lora.scale} for lora in request.loras
            }
        return body

    async def submit(self, request: GenerationRequest, image: str | None = None) -> str:
        if request.mode != "txt2img":
            raise ProviderError(
                self.name, "CivitAI only does text-to-image on this bot", retryable=False
            )
        request = await self._with_air_loras(request)
        body = self.build_input(request, image)
        data = await self._call("POST", "/v1/consumer/jobs", body=body, submit=True)
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            # The jobs may exist without a way to follow them: never send them again.
            raise ProviderError(
                self.name,
                "CivitAI accepted the job but returned no token to follow it",
                retryable=True,
                maybe_accepted=True,
            )
        if request.seed is not None:
            self._seeds[token] = request.seed
        return token

    async def watch(self, model: str, request_id: str) -> AsyncIterator[ProviderUpdate]:
        while True:
            jobs = await self._jobs(request_id)
            update = _update_for(jobs)
            yield update
            if update.phase == "completed":
                return
            await asyncio.sleep(self._poll_interval_s)

    async def result(self, model: str, request_id: str) -> GenerationResult:
        # Poll again rather than reuse what `watch` saw: blob URLs are signed and expire, and
        # the runner downloads right after this returns.
        jobs = await self._jobs(request_id)
        update = _update_for(jobs)
        if update.phase != "completed":
            raise ProviderError(self.name, "the jobs have not finished yet", retryable=True)
        if update.error:
            # Jobs fail on CivitAI's side (a worker crashed, the job expired); the input was
            # accepted, so a later try may well work.
            self._seeds.pop(request_id, None)
            raise ProviderError(self.name, update.error, retryable=True)
        images = []
        for job in jobs:
            for item in _results(job):
                url = item.get("blobUrl")
                if isinstance(url, str) and url:
                    images.append(GeneratedImage(url=url))
        if not images:
            raise ProviderError(self.name, "the finished jobs had no images", retryable=True)
        return GenerationResult(images=tuple(images), seed=self._seeds.pop(request_id, None))

    async def cancel(self, model: str, request_id: str) -> None:
        self._seeds.pop(request_id, None)
        jobs = await self._jobs(request_id)
        for job in jobs:
            job_id = job.get("jobId")
            if not isinstance(job_id, str) or _available(job) or not job.get("scheduled", True):
                continue
            try:
                await self._call("DELETE", f"/v1/consumer/jobs/{job_id}", params={"force": "true"})
            except ProviderError as exc:
                if exc.status != 404:  # 404: it ended on its own meanwhile
                    raise

    async def probe(self, model: str) -> str | None:
        """`GET /v1/consumer/coverage?model=<the default checkpoint>`: authenticated, free, and
        it says whether the checkpoint can run right now."""
        data = await self._call("GET", "/v1/consumer/coverage", params={"model": model})
        entry = data.get(model) if isinstance(data, dict) else None
        if isinstance(entry, dict) and entry.get("available") is False:
            return f"but {model} has no workers right now"
        return None

    async def close(self) -> None:
        self._seeds.clear()  # the session belongs to the bot

    # -- helpers ---------------------------------------------------------------------------

    async def _with_air_loras(self, request: GenerationRequest) -> GenerationRequest:
        """CivitAI takes LoRAs as AIRs: a civitai.com link is resolved to one. Each LoRA must
        belong to the checkpoint's family (the AIR's ecosystem: sdxl, sd1, flux1, pony, …);
        a mismatch is refused here, before any Buzz is spent."""
        checkpoint = AIR_PATTERN.match(request.model)
        family = checkpoint["ecosystem"].lower() if checkpoint else None
        loras = []
        for lora in request.loras:
            label = lora.name or lora.path
            air = AIR_PATTERN.match(lora.path)
            try:
                if air is not None:
                    if family is not None and air["ecosystem"].lower() != family:
                        raise InvalidRequest(
                            f"it is made for {family_name(air['ecosystem'])} models but the "
                            f"checkpoint is {family_name(family)}"
                        )
                    loras.append(lora)
                    continue
                info = await self._models.resolve(lora.path)
                if family is not None:
                    check_lora_fit(info, checkpoint_base_model=family_name(family), allow_nsfw=True)
            except InvalidRequest as exc:
                reason = str(exc).rstrip(".")
                raise ProviderError(
                    self.name, f"LoRA {label} can't be used here: {reason}", retryable=False
                ) from exc
            loras.append(dataclasses.replace(lora, path=info.air))
        return dataclasses.replace(request, loras=tuple(loras))

    async def _jobs(self, token: str) -> list[dict[str, Any]]:
        data = await self._call("GET", "/v1/consumer/jobs", params={"token": token})
        jobs = data.get("jobs") if isinstance(data, dict) else None
        if not isinstance(jobs, list):
            raise ProviderError(self.name, "CivitAI answered without a job list", retryable=True)
        if not jobs:
            raise ProviderError(
                self.name, "CivitAI no longer knows this request", retryable=False, status=404
            )
        return [job for job in jobs if isinstance(job, dict)]

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        submit: bool = False,
    ) -> Any:
        url = self._base + path
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            async with self._session.request(
                method, url, json=body, params=params, headers=headers, timeout=self._timeout
            ) as response:
                text = await response.text()
                if response.status >= 400:
                    raise _http_error(response.status, text, response.headers)
                if not text.strip():
                    return None
                try:
                    return await response.json(content_type=None)
                except ValueError:
                    raise ProviderError(
                        self.name,
                        f"CivitAI answered HTTP {response.status} with something that is not JSON",
                        retryable=True,
                        maybe_accepted=submit,
                    ) from None
        except ProviderError:
            raise
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:
            raise ProviderError(
                self.name,
                f"could not reach CivitAI at {self._base} ({type(exc).__name__})",
                retryable=True,
            ) from exc
        except TimeoutError as exc:
            raise ProviderError(
                self.name, "CivitAI did not answer in time", retryable=True, maybe_accepted=submit
            ) from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(
                self.name,
                f"the connection to CivitAI broke ({type(exc).__name__})",
                retryable=True,
                maybe_accepted=submit,
            ) from exc


def _http_error(status: int, text: str, headers: Mapping[str, str]) -> ProviderError:
    if status in (401, 403):
        reason = "CivitAI refused the bot's API token (the bot owner must check CIVITAI_API_TOKEN)"
    else:
        reason = problem_reason(text) or f"HTTP {status}"
    return ProviderError(
        "civitai",
        trim_reason(reason),
        retryable=status in (408, 409, 429) or status >= 500,
        status=status,
        retry_after=parse_retry_after(headers),
    )


def problem_reason(text: str) -> str | None:
    """The readable part of an RFC 7807 problem body (or of `{"error": ...}`)."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:300] or None
    if not isinstance(body, dict):
        return None
    parts: list[str] = []
    for key in ("detail", "title", "error", "message"):
        value = body.get(key)
        if isinstance(value, str) and value and value not in parts:
            parts.append(value)
            break
    errors = body.get("errors")
    if isinstance(errors, dict):
        for field, messages in errors.items():
            if isinstance(messages, list):
                parts.append(f"{field}: {'; '.join(str(m) for m in messages)}")
    return "; ".join(parts) or None


def _results(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    result = job.get("result")
    if isinstance(result, dict):
        return [result]
    if isinstance(result, list):
        return [item for item in result if isinstance(item, dict)]
    return []


def _available(job: Mapping[str, Any]) -> bool:
    items = _results(job)
    return bool(items) and all(item.get("available") is True for item in items)


def _update_for(jobs: list[dict[str, Any]]) -> ProviderUpdate:
    total = len(jobs)
    done = sum(1 for job in jobs if _available(job))
    failed = [job for job in jobs if not _available(job) and job.get("scheduled") is False]
    if failed and done + len(failed) == total:
        # Reported once every job has ended, so that none is left running unseen.
        return ProviderUpdate("completed", error=_failure_reason(failed[0], total))
    if done == total:
        return ProviderUpdate("completed")
    events = {str((job.get("lastEvent") or {}).get("type") or "") for job in jobs}
    started = done > 0 or bool(events & {"Claimed", "Updated", "Succeeded"})
    if not started:
        return ProviderUpdate("queued", queue_position=_queue_position(jobs))
    detail = f"{done} of {total} images ready" if total > 1 else None
    return ProviderUpdate("running", detail=detail)


def _queue_position(jobs: list[dict[str, Any]]) -> int | None:
    positions = []
    for job in jobs:
        providers = job.get("serviceProviders")
        if not isinstance(providers, dict):
            continue
        for entry in providers.values():
            queue = entry.get("queuePosition") if isinstance(entry, dict) else None
            ahead = queue.get("precedingJobs") if isinstance(queue, dict) else None
            if isinstance(ahead, int) and ahead >= 0:
                positions.append(ahead)
    return min(positions) if positions else None


def _failure_reason(job: Mapping[str, Any], total: int) -> str:
    event: Mapping[str, Any] = job["lastEvent"] if isinstance(job.get("lastEvent"), dict) else {}
    kind = str(event.get("type") or "Failed")
    context: Mapping[str, Any] = event["context"] if isinstance(event.get("context"), dict) else {}
    message = next(
        (
            str(context[key])
            for key in ("message", "reason", "error")
            if isinstance(context.get(key), str) and context[key]
        ),
        None,
    )
    what = "a CivitAI job" if total > 1 else "the CivitAI job"
    verb = {"Expired": "expired", "Deleted": "was cancelled"}.get(kind, "failed")
    text = f"{what} {verb}"
    if kind not in _FAILED_EVENTS and kind != "Failed":
        text += f" ({kind})"
    if message:
        text += f": {message}"
    return trim_reason(text)
