"""Any OpenAI-compatible images API (OpenAI itself, a LiteLLM proxy, …) through the official
`openai` SDK: `POST {base_url}/images/generations`, where `base_url` includes `/v1`.

The API has no queue: one call blocks until the images exist. To fit the submit / watch /
result interface, `submit` starts an asyncio task that makes the call(s) and returns a request
id made up by the bot; `watch` yields "running" updates (with no progress to report) until the
task ends; `result` returns what it made. Consequences, stated plainly:

- **No re-attaching after a restart.** The request lives in this process's memory only;
  `can_resume` is False for an id this process did not start, and the runner then ends the
  job with a refund and says why, instead of waiting for a request nobody holds.
- **Retries and fallback.** The SDK's own retries are off (`max_retries=0`); the bot's
  RetryPolicy is the one in force. `submit` waits up to `SUBMIT_GRACE_S` for an immediate
  refusal (connection refused, a proxy's 503, a 429, a refused key): that proves nothing was
  made, so it is raised from `submit`, where the runner retries and then moves the job to a
  `fallback_providers` entry as it does for any provider that is down. A later 429 or 5xx
  also proves nothing was made, so `watch` raises it and, when the runner's backoff calls
  `watch` again, the call is started again. A timeout or a broken
  connection may have produced (and billed) images, so it is never repeated.
- **n limits.** DALL·E 3 draws one image per call: a job for several images is split into
  that many calls (run concurrently, each billed by the API's owner); if one fails, the others
  are cancelled and the job fails (refunded to the member). Other models get one call with `n`.
- **Sizes.** Aspect ratios map to the model's fixed sizes; ratios a model lacks are refused
  before anything is charged (`Capabilities.aspect_ratios_for`).
- **Formats.** GPT image models always answer `b64_json` (and reject `response_format`);
  DALL·E is asked for `url`; other servers answer as they like. Inline images are handed on as
  `data:` URLs, which the delivery code decodes instead of downloading.
- **Cancel** cancels the task, which closes the HTTP request; the API may still finish (and
  bill) it, since it offers no cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx2
import openai

from bot.errors import ProviderError
from bot.i18n import N_, _
from bot.providers.base import (
    GeneratedImage,
    GenerationResult,
    Provider,
    ProviderUpdate,
    ResponseHook,
    parse_retry_after,
    trim_reason,
)
from bot.providers.capabilities import PROVIDER_CAPABILITIES, in_family
from bot.providers.catalogue.mapping import NO_EXTRA, ExtraInputs
from bot.providers.openai_actions import answered_prompts, describe_arguments, edit_arguments
from bot.providers.request import GenerationRequest

DEFAULT_BASE_URL = "https://api.openai.com/v1"
SIZES: dict[str, str] = {
    "1:1": "1024x1024",
    "16:9": "1792x1024",
    "9:16": "1024x1792",
    "3:2": "1536x1024",
    "2:3": "1024x1536",
}
# Models that draw fewer images per call than a job may ask for (family → max n).
MAX_N: tuple[tuple[str, int], ...] = (("dall-e-3", 1),)
DEFAULT_MAX_N = 10
NO_PROGRESS = N_("(this API reports no progress until the images are done)")  # shown with `_`
_NOT_RETRYABLE_429 = {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}


def max_n(model: str) -> int:
    for family, limit in MAX_N:
        if in_family(model, family):
            return limit
    return DEFAULT_MAX_N


def split_count(count: int, limit: int) -> list[int]:
    """`count` images as per-call `n` values of at most `limit`."""
    calls = [limit] * (count // limit)
    if count % limit:
        calls.append(count % limit)
    return calls


# How long submit waits for an immediate refusal before the call counts as accepted.
SUBMIT_GRACE_S = 1.0


@dataclass
class _Call:
    batches: list[dict[str, Any]]
    endpoint: str = "generate"  # or "edit" (images.edit, with a mask) or "chat" (/describe)
    task: asyncio.Task[GenerationResult] | None = None
    restart: bool = False
    started_at: float = field(default_factory=time.monotonic)


class OpenAIImagesProvider(Provider):
    name = "openai"
    capabilities = PROVIDER_CAPABILITIES["openai"]

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        key_env: str = "OPENAI_API_KEY",
        poll_interval_s: float = 1.0,
        timeout_s: float = 300.0,
        submit_grace_s: float = SUBMIT_GRACE_S,
    ) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            max_retries=0,
            timeout=httpx2.Timeout(timeout_s, connect=10.0),
        )
        self._key_env = key_env
        self._poll_interval_s = poll_interval_s
        self._submit_grace_s = submit_grace_s
        self._calls: dict[str, _Call] = {}

    # -- the interface ---------------------------------------------------------------------

    def build_input(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> dict[str, Any]:
        """The arguments of one `images.generate` call for the whole job (`submit` splits `n`
        when the model draws fewer per call)."""
        arguments: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "n": request.count,
            "size": SIZES[request.aspect_ratio],
        }
        if in_family(request.model, "dall-e"):
            arguments["response_format"] = "url"
        return arguments

    async def submit(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> str:
        if request.mode == "inpaint" and not request.loras:  # Vary (Region): images.edit
            edit = await asyncio.to_thread(edit_arguments, request, image, extra.mask)
            call = _Call(batches=[edit], endpoint="edit")
        elif request.mode == "describe":  # a vision chat model
            call = _Call(batches=[describe_arguments(request, image)], endpoint="chat")
        elif request.mode != "txt2img" or request.loras:
            raise ProviderError(
                self.name,
                _("this API only does plain text-to-image, edits and descriptions on this bot"),
                retryable=False,
            )
        else:
            arguments = self.build_input(request, image)
            counts = split_count(request.count, max_n(request.model))
            call = _Call(batches=[{**arguments, "n": n} for n in counts])
        self._forget_stale()
        request_id = f"openai-{uuid.uuid4().hex}"
        task = call.task = asyncio.create_task(self._generate(call), name=request_id)
        # There is no queue: the call is the job. A refusal that comes at once (connection
        # refused, a proxy's 503, a 429, a refused key) means nothing was accepted, so it is
        # raised from submit, where the runner may retry or move the job to a fallback provider.
        await asyncio.wait({task}, timeout=self._submit_grace_s)
        if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
            error = _as_provider_error(exc, self._key_env)
            if not error.maybe_accepted:
                raise error
        self._calls[request_id] = call
        return request_id

    def can_resume(self, request_id: str) -> bool:
        return request_id in self._calls

    async def watch(self, model: str, request_id: str) -> AsyncGenerator[ProviderUpdate, None]:
        call = self._call(request_id)
        if call.restart:
            call.restart = False
            call.task = asyncio.create_task(self._generate(call), name=request_id)
        task = call.task
        assert task is not None
        while not task.done():
            yield ProviderUpdate("running", detail=_(NO_PROGRESS))
            await asyncio.wait({task}, timeout=self._poll_interval_s)
        if task.cancelled():
            yield ProviderUpdate("completed", error=_("the request was cancelled"))
            return
        exc = task.exception()
        if exc is None:
            yield ProviderUpdate("completed")
            return
        error = _as_provider_error(exc, self._key_env)
        if error.retryable and not error.maybe_accepted:
            # Nothing was made: the runner backs off and calls watch() again, which restarts.
            call.restart = True
            raise error
        yield ProviderUpdate("completed", error=error.reason)

    async def result(self, model: str, request_id: str) -> GenerationResult:
        call = self._call(request_id)
        task = call.task
        assert task is not None
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            raise ProviderError(
                self.name, _("the request was cancelled"), retryable=False
            ) from None
        except Exception as exc:
            raise _as_provider_error(exc, self._key_env) from exc
        finally:
            if task.done():
                self._calls.pop(request_id, None)

    async def cancel(self, model: str, request_id: str) -> None:
        call = self._calls.pop(request_id, None)
        if call is None or call.task is None:
            return
        call.task.cancel()
        with contextlib.suppress(BaseException):
            await call.task

    async def probe(self, model: str) -> str | None:
        """`GET {base_url}/models`: authenticated and free."""
        try:
            page = await self._client.models.list()
        except Exception as exc:
            raise _as_provider_error(exc, self._key_env) from exc
        ids = {item.id for item in page.data}
        if ids and model not in ids:
            return f"but the server does not list model {model}"
        return None

    def observe_http(self, trace: aiohttp.TraceConfig, hook: ResponseHook) -> None:
        self._client._client.event_hooks["response"].insert(0, hook)  # the SDK's httpx client

    async def close(self) -> None:
        calls, self._calls = list(self._calls.values()), {}
        tasks = [call.task for call in calls if call.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.close()

    # -- helpers ---------------------------------------------------------------------------

    def _forget_stale(self, max_age_s: float = 3 * 3600) -> None:
        """Drop finished calls nobody collected (a job that failed between watch and result)."""
        now = time.monotonic()
        for request_id, call in list(self._calls.items()):
            if call.task is not None and call.task.done() and now - call.started_at > max_age_s:
                self._calls.pop(request_id, None)
                if not call.task.cancelled():
                    call.task.exception()  # mark it retrieved

    def _call(self, request_id: str) -> _Call:
        call = self._calls.get(request_id)
        if call is None or call.task is None:
            raise ProviderError(
                self.name,
                _(
                    "this request was started by an earlier run of the bot and can't be picked "
                    "up again (the API answers in one long call, not through a queue)"
                ),
                retryable=False,
            )
        return call

    async def _generate(self, call: _Call) -> GenerationResult:
        if call.endpoint == "chat":
            answer = await self._client.chat.completions.create(**call.batches[0])
            text = (answer.choices[0].message.content or "") if answer.choices else ""
            prompts = answered_prompts(text)
            if not prompts:
                raise ProviderError(self.name, _("the model answered without text"), retryable=True)
            return GenerationResult(images=(), texts=prompts)
        images_api = self._client.images
        endpoint = images_api.edit if call.endpoint == "edit" else images_api.generate
        if len(call.batches) == 1:
            responses = [await endpoint(**call.batches[0])]
        else:
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [
                        group.create_task(images_api.generate(**batch)) for batch in call.batches
                    ]
            except BaseExceptionGroup as group_error:
                raise group_error.exceptions[0] from None
            responses = [task.result() for task in tasks]
        images: list[GeneratedImage] = []
        for response in responses:
            images.extend(_images(response))
        if not images:
            raise ProviderError(self.name, _("the API answered without images"), retryable=False)
        return GenerationResult(images=tuple(images))


def _images(response: Any) -> list[GeneratedImage]:
    fmt = getattr(response, "output_format", None) or "png"
    content_type = f"image/{'jpeg' if fmt == 'jpg' else fmt}"
    out = []
    for item in getattr(response, "data", None) or []:
        url = getattr(item, "url", None)
        b64 = getattr(item, "b64_json", None)
        if isinstance(url, str) and url:
            out.append(GeneratedImage(url=url))
        elif isinstance(b64, str) and b64:
            out.append(
                GeneratedImage(url=f"data:{content_type};base64,{b64}", content_type=content_type)
            )
    return out


def _as_provider_error(exc: BaseException, key_env: str) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        message = body.get("message") if isinstance(body.get("message"), str) else None
        code = str(exc.code or body.get("code") or exc.type or "")
        if status == 401:
            reason = _(
                "the API refused the bot's key (the bot owner must check {key})", key=key_env
            )
        elif status == 429 and code in _NOT_RETRYABLE_429:
            reason = _("the API account is out of credit (the bot owner must top it up)")
        else:
            reason = trim_reason(message or exc.message or f"HTTP {status}")
        retryable = status in (408, 409) or status >= 500
        if status == 429:
            retryable = code not in _NOT_RETRYABLE_429
        return ProviderError(
            "openai",
            reason,
            retryable=retryable,
            status=status,
            retry_after=parse_retry_after(exc.response.headers),
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(
            "openai", _("the API did not answer in time"), retryable=True, maybe_accepted=True
        )
    if isinstance(exc, openai.APIConnectionError):
        if isinstance(exc.__cause__, httpx2.ConnectError):
            return ProviderError(
                "openai", _("could not reach the images API (connection refused)"), retryable=True
            )
        return ProviderError(
            "openai",
            _("the connection to the images API broke"),
            retryable=True,
            maybe_accepted=True,
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError(
            "openai", _("the API sent an answer the bot can't read"), retryable=False
        )
    return ProviderError(
        "openai",
        trim_reason(_("unexpected error: {error}", error=exc)),
        retryable=True,
        maybe_accepted=True,
    )
