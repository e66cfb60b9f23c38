"""CivitAI's orchestration API (v2 consumer workflows) through a small client on the bot's
aiohttp session. The civitai-py SDK is not used: it is synchronous, retries on its own and drags
in a generated client for a handful of calls.

Wire (see the CivitAI section of the protocols reference):
- submit: `POST {base}/v2/consumer/workflows?wait=0` with `{"steps": [{"$type": "textToImage",
  "input": {model, quantity, additionalNetworks: {AIR: {type, strength}}, prompt, negativePrompt,
  scheduler, steps, cfgScale, width, height, seed, clipSkip}}], "tags"}` → a Workflow `{id,
  status, cost, steps: [...]}`. `seed` and `cfgScale` are required, so the bot picks a seed when
  the member did not. The workflow id is the bot's request id and all that is needed to follow
  it again, so a restarted bot re-attaches by id.
- status: `GET {base}/v2/consumer/workflows/{id}` → `{id, status, steps: [{$type, status, input,
  queuePosition: {support, precedingJobs, …}, estimatedProgressRate, jobs?: [{id, status,
  queuePosition?, reason?, blockedReason?}], output: {images: [{id, available, url?,
  urlExpiresAt?, blockedReason?}]}}]}`. Workflow, step and job statuses share one enum:
  unassigned, preparing, scheduled, processing, then succeeded, failed, expired or canceled.
- cancel: `PUT {base}/v2/consumer/workflows/{id}` with `{"status": "canceled"}` (what civitai.com
  does; `DELETE` would hide the workflow from later reads).
- doctor: `POST {base}/v2/consumer/workflows?whatif=true` with one image of the default
  checkpoint: authenticated, validated and priced, but nothing runs and no Buzz is spent.
- blob URLs are signed and expire: `result()` reads the workflow once more so the runner
  downloads from fresh URLs right away.
- errors are RFC 7807 problem details `{type, title, status, detail, errors?}`; 403 means the
  token may not do this (e.g. too little Buzz), 401 that it was refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.capabilities import PROVIDER_CAPABILITIES
from bot.civitai_models import AIR_PATTERN, CivitaiModels, check_lora_fit, family_name
from bot.errors import InvalidRequest, ProviderError
from bot.generation import MAX_SEED, GenerationRequest
from bot.providers.base import (
    GeneratedImage,
    GenerationResult,
    Provider,
    ProviderUpdate,
    parse_retry_after,
    trim_reason,
)

DEFAULT_BASE_URL = "https://orchestration.civitai.com"
WORKFLOWS_PATH = "/v2/consumer/workflows"
WORKFLOW_TAGS = ("art-factory",)  # indexed by CivitAI: the bot's workflows can be listed apart

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
DEFAULT_SCHEDULER = "eulerA"
DEFAULT_CLIP_SKIP = 2

_QUEUED = {"unassigned", "preparing", "scheduled"}
_TERMINAL = {"succeeded", "failed", "expired", "canceled"}
# Job `reason` codes CivitAI documents, in words a member understands.
_REASONS = {
    "no_provider_available": "no worker can run it right now",
    "blocked": "CivitAI's moderation blocked it",
    "timeout": "it took too long",
    "expired": "it took too long",
    "canceled": "it was cancelled",
}


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

    # -- the interface ---------------------------------------------------------------------

    def build_input(self, request: GenerationRequest, image: str | None = None) -> dict[str, Any]:
        """The whole workflow: one `textToImage` step. A member who chose no seed gets a random
        one (CivitAI requires it; image i of the batch uses seed + i)."""
        width, height = IMAGE_SIZES[request.aspect_ratio]
        seed = request.seed
        if seed is None:
            seed = random.randrange(MAX_SEED - request.count + 2)
        step_input: dict[str, Any] = {
            "model": request.model,
            "quantity": request.count,
            "prompt": request.prompt,
            "scheduler": DEFAULT_SCHEDULER,
            "steps": request.steps or DEFAULT_STEPS,
            "cfgScale": request.guidance if request.guidance is not None else DEFAULT_CFG_SCALE,
            "width": width,
            "height": height,
            "seed": seed,
            "clipSkip": DEFAULT_CLIP_SKIP,
        }
        if request.negative_prompt:
            step_input["negativePrompt"] = request.negative_prompt
        if request.loras:
            step_input["additionalNetworks"] = {
                lora.path: {"type": "Lora", "strength": lora.scale} for lora in request.loras
            }
        return {
            "steps": [{"$type": "textToImage", "input": step_input}],
            "tags": list(WORKFLOW_TAGS),
        }

    async def submit(self, request: GenerationRequest, image: str | None = None) -> str:
        if request.mode != "txt2img":
            raise ProviderError(
                self.name, "CivitAI only does text-to-image on this bot", retryable=False
            )
        request = await self._with_air_loras(request)
        body = self.build_input(request, image)
        data = await self._call(
            "POST", WORKFLOWS_PATH, body=body, params={"wait": "0"}, submit=True
        )
        workflow_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(workflow_id, str) or not workflow_id:
            # The workflow may exist without a way to follow it: never send it again.
            raise ProviderError(
                self.name,
                "CivitAI accepted the workflow but returned no id to follow it",
                retryable=True,
                maybe_accepted=True,
            )
        return workflow_id

    async def watch(self, model: str, request_id: str) -> AsyncIterator[ProviderUpdate]:
        while True:
            update = _update_for(await self._workflow(request_id))
            yield update
            if update.phase == "completed":
                return
            await asyncio.sleep(self._poll_interval_s)

    async def result(self, model: str, request_id: str) -> GenerationResult:
        # Read the workflow again rather than reuse what `watch` saw: blob URLs are signed and
        # expire, and the runner downloads right after this returns.
        workflow = await self._workflow(request_id)
        status = workflow["status"]
        if status not in _TERMINAL:
            raise ProviderError(self.name, "the workflow has not finished yet", retryable=True)
        if status != "succeeded":
            # Workers crash and jobs expire on CivitAI's side; the input was accepted, so a
            # later try may well work — unless moderation blocked it.
            raise ProviderError(
                self.name, _failure_reason(workflow), retryable=not _blocked(workflow)
            )
        images = []
        withheld = []
        for step in _steps(workflow):
            for blob in _images(step):
                url = blob.get("url")
                if blob.get("available") is True and isinstance(url, str) and url:
                    images.append(
                        GeneratedImage(
                            url=url, width=_int(blob, "width"), height=_int(blob, "height")
                        )
                    )
                elif isinstance(blob.get("blockedReason"), str) and blob["blockedReason"]:
                    withheld.append(blob["blockedReason"])
        if not images:
            if withheld:
                raise ProviderError(
                    self.name,
                    trim_reason(f"CivitAI withheld the images ({withheld[0]})"),
                    retryable=False,
                )
            raise ProviderError(self.name, "the finished workflow had no images", retryable=True)
        return GenerationResult(images=tuple(images), seed=_seed(workflow))

    async def cancel(self, model: str, request_id: str) -> None:
        try:
            workflow = await self._workflow(request_id)
        except ProviderError as exc:
            if exc.status == 404:  # gone already
                return
            raise
        if workflow["status"] in _TERMINAL:
            return
        try:
            await self._call("PUT", _workflow_path(request_id), body={"status": "canceled"})
        except ProviderError as exc:
            if exc.status not in (404, 409):  # it ended on its own meanwhile
                raise

    async def probe(self, model: str) -> str | None:
        """`POST /v2/consumer/workflows?whatif=true` for one image of the default checkpoint:
        authenticated and priced but never run, so it costs nothing. It also says whether the
        account could pay for the image and whether the checkpoint has workers."""
        check = GenerationRequest(prompt="a lighthouse", provider=self.name, model=model, seed=0)
        data = await self._call(
            "POST", WORKFLOWS_PATH, body=self.build_input(check), params={"whatif": "true"}
        )
        if not isinstance(data, dict):
            return None
        transactions = data.get("transactions")
        if isinstance(transactions, dict) and transactions.get("insufficientBuzz") is True:
            return "but the account has too little Buzz for an image"
        for step in _steps(data):
            queue = step.get("queuePosition")
            support = queue.get("support") if isinstance(queue, dict) else None
            if support in ("unavailable", "unsupported"):
                return f"but {model} has no workers right now"
        return None

    async def close(self) -> None:
        pass  # the session belongs to the bot

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

    async def _workflow(self, workflow_id: str) -> dict[str, Any]:
        try:
            data = await self._call("GET", _workflow_path(workflow_id))
        except ProviderError as exc:
            if exc.status == 404:
                raise ProviderError(
                    self.name, "CivitAI no longer knows this request", retryable=False, status=404
                ) from exc
            raise
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise ProviderError(self.name, "CivitAI answered without a workflow", retryable=True)
        return data

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
                    return json.loads(text)
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


def _workflow_path(workflow_id: str) -> str:
    return f"{WORKFLOWS_PATH}/{quote(workflow_id, safe='')}"


def _http_error(status: int, text: str, headers: Mapping[str, str]) -> ProviderError:
    reason = problem_reason(text)
    if status == 401:
        reason = "CivitAI refused the bot's API token (the bot owner must check CIVITAI_API_TOKEN)"
    elif status == 403:
        # The token is valid but may not do this: most often the account is out of Buzz.
        reason = (
            f"CivitAI refused the request: {reason}"
            if reason
            else "CivitAI refused the request (HTTP 403: the bot's account may be out of Buzz)"
        )
    return ProviderError(
        "civitai",
        trim_reason(reason or f"HTTP {status}"),
        retryable=status in (408, 409, 429) or status >= 500,
        status=status,
        retry_after=parse_retry_after(headers),
    )


def problem_reason(text: str) -> str | None:
    """The readable part of an RFC 7807 problem body (or of `{"error": ...}` or a bare JSON
    string, which the API sends for some 403s)."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:300] or None
    if isinstance(body, str):
        return body.strip() or None
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


def _steps(workflow: Mapping[str, Any]) -> list[dict[str, Any]]:
    steps = workflow.get("steps")
    return [step for step in steps if isinstance(step, dict)] if isinstance(steps, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _images(step: Mapping[str, Any]) -> list[dict[str, Any]]:
    output = step.get("output")
    return _dicts(output.get("images")) if isinstance(output, dict) else []


def _int(item: Mapping[str, Any], key: str) -> int | None:
    value = item.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _seed(workflow: Mapping[str, Any]) -> int | None:
    """The seed the workflow ran with (it echoes its input), so a re-attached job knows it."""
    for step in _steps(workflow):
        step_input = step.get("input")
        if isinstance(step_input, dict) and (seed := _int(step_input, "seed")) is not None:
            return seed
    return None


def _expected_images(step: Mapping[str, Any], listed: int) -> int:
    step_input = step.get("input")
    if isinstance(step_input, dict):
        quantity = _int(step_input, "quantity") or 1
        batch = _int(step_input, "batchSize") or 1
        return max(quantity * batch, listed)
    return listed


def _update_for(workflow: Mapping[str, Any]) -> ProviderUpdate:
    status = workflow["status"]
    if status == "succeeded":
        return ProviderUpdate("completed")
    if status in _TERMINAL:
        return ProviderUpdate("completed", error=_failure_reason(workflow))
    steps = _steps(workflow)
    total = ready = 0
    for step in steps:
        images = _images(step)
        ready += sum(1 for blob in images if blob.get("available") is True)
        total += _expected_images(step, len(images))
    jobs = [job for step in steps for job in _dicts(step.get("jobs"))]
    # `startedAt` is when a worker claimed the step, which may still queue it: not a start.
    started = (
        ready > 0
        or any(step.get("status") == "processing" for step in steps)
        or any(job.get("status") in ("processing", "succeeded") for job in jobs)
    )
    if status in _QUEUED and not started:
        return ProviderUpdate("queued", queue_position=_queue_position(steps))
    parts = []
    if total > 1:
        parts.append(f"{ready} of {total} images ready")
    rates = [
        step["estimatedProgressRate"]
        for step in steps
        if isinstance(step.get("estimatedProgressRate"), int | float)
    ]
    if rates and 0 < min(rates) < 1:
        parts.append(f"about {round(min(rates) * 100)}%")
    return ProviderUpdate("running", detail=" · ".join(parts) or None)


def _queue_position(steps: list[dict[str, Any]]) -> int | None:
    """How many jobs are ahead: the step's own `queuePosition` (or, as older answers had it,
    the first of its jobs' positions). The longest wait of any step is the workflow's."""
    waits = []
    for step in steps:
        ahead = _preceding(step.get("queuePosition"))
        if ahead is None:
            positions = [_preceding(job.get("queuePosition")) for job in _dicts(step.get("jobs"))]
            known = [p for p in positions if p is not None]
            ahead = min(known) if known else None
        if ahead is not None:
            waits.append(ahead)
    return max(waits) if waits else None


def _preceding(queue: Any) -> int | None:
    ahead = queue.get("precedingJobs") if isinstance(queue, dict) else None
    return ahead if isinstance(ahead, int) and not isinstance(ahead, bool) and ahead >= 0 else None


def _job_reasons(workflow: Mapping[str, Any]) -> list[str]:
    reasons = []
    for step in _steps(workflow):
        for job in _dicts(step.get("jobs")):
            if job.get("status") in (None, "succeeded"):
                continue
            for key in ("blockedReason", "reason"):
                value = job.get(key)
                if isinstance(value, str) and value:
                    reasons.append(_REASONS.get(value, value))
                    break
        output = step.get("output")
        errors = output.get("errors") if isinstance(output, dict) else None
        if isinstance(errors, list):
            reasons.extend(str(e) for e in errors if isinstance(e, str) and e)
    return reasons


def _blocked(workflow: Mapping[str, Any]) -> bool:
    return any(
        job.get("reason") == "blocked" or bool(job.get("blockedReason"))
        for step in _steps(workflow)
        for job in _dicts(step.get("jobs"))
    )


def _failure_reason(workflow: Mapping[str, Any]) -> str:
    status = workflow.get("status")
    verb = {"expired": "expired", "canceled": "was cancelled"}.get(str(status), "failed")
    text = f"the CivitAI job {verb}"
    reasons = _job_reasons(workflow)
    if reasons:
        text += f": {reasons[0]}"
    return trim_reason(text)
