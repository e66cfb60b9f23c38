"""CivitAI's orchestration API (v2 consumer workflows) through a small client on the bot's
aiohttp session. The civitai-py SDK is not used: it is synchronous, retries on its own and drags
in a generated client for a handful of calls. The workflow JSON itself is built and read in
`civitai_workflows.py`; this module is the HTTP side.

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
import functools
import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.errors import InvalidRequest, ProviderError
from bot.i18n import _
from bot.providers.base import (
    GenerationResult,
    Provider,
    ProviderUpdate,
    http_tag,
    parse_retry_after,
    trim_reason,
)
from bot.providers.capabilities import PROVIDER_CAPABILITIES
from bot.providers.catalogue.mapping import NO_EXTRA, ExtraInputs
from bot.providers.civitai_models import AIR_PATTERN, CivitaiModels, check_lora_fit, family_name
from bot.providers.civitai_workflows import (
    TERMINAL,
    probe_verdict,
    update_for,
    workflow_body,
    workflow_result,
)
from bot.providers.request import GenerationRequest

DEFAULT_BASE_URL = "https://orchestration.civitai.com"
WORKFLOWS_PATH = "/v2/consumer/workflows"
METRICS_TAG = http_tag("civitai")  # its calls go over the bot's session


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
        # On the bot's session, tagged as CivitAI's for the metrics (bot/ops/metrics.py).
        self._request = functools.partial(session.request, trace_request_ctx=METRICS_TAG)
        self._base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._models = models or CivitaiModels(session, token=token)
        self._poll_interval_s = poll_interval_s
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s, connect=10)

    # -- the interface ---------------------------------------------------------------------

    def build_input(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> dict[str, Any]:
        """The whole workflow (see `civitai_workflows.workflow_body`)."""
        return workflow_body(request)

    async def submit(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> str:
        if request.mode != "txt2img":
            raise ProviderError(
                self.name, _("CivitAI only does text-to-image on this bot"), retryable=False
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
                _("CivitAI accepted the workflow but returned no id to follow it"),
                retryable=True,
                maybe_accepted=True,
            )
        return workflow_id

    async def watch(self, model: str, request_id: str) -> AsyncGenerator[ProviderUpdate, None]:
        while True:
            update = update_for(await self._workflow(request_id))
            yield update
            if update.phase == "completed":
                return
            await asyncio.sleep(self._poll_interval_s)

    async def result(self, model: str, request_id: str) -> GenerationResult:
        # Read the workflow again rather than reuse what `watch` saw: blob URLs are signed and
        # expire, and the runner downloads right after this returns.
        return workflow_result(await self._workflow(request_id))

    async def cancel(self, model: str, request_id: str) -> None:
        try:
            workflow = await self._workflow(request_id)
        except ProviderError as exc:
            if exc.status == 404:  # gone already
                return
            raise
        if workflow["status"] in TERMINAL:
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
        return probe_verdict(data, model)

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
                            _(
                                "it is made for {family} models but the checkpoint is {checkpoint}",
                                family=family_name(air["ecosystem"]),
                                checkpoint=family_name(family),
                            )
                        )
                    loras.append(lora)
                    continue
                info = await self._models.resolve(lora.path)
                if family is not None:
                    check_lora_fit(info, checkpoint_base_model=family_name(family), allow_nsfw=True)
            except InvalidRequest as exc:
                reason = str(exc).rstrip(".")
                raise ProviderError(
                    self.name,
                    _("LoRA {lora} can't be used here: {reason}", lora=label, reason=reason),
                    retryable=False,
                ) from exc
            loras.append(dataclasses.replace(lora, path=info.air))
        return dataclasses.replace(request, loras=tuple(loras))

    async def _workflow(self, workflow_id: str) -> dict[str, Any]:
        try:
            data = await self._call("GET", _workflow_path(workflow_id))
        except ProviderError as exc:
            if exc.status == 404:
                raise ProviderError(
                    self.name,
                    _("CivitAI no longer knows this request"),
                    retryable=False,
                    status=404,
                ) from exc
            raise
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise ProviderError(self.name, _("CivitAI answered without a workflow"), retryable=True)
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
            async with self._request(
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
                        _(
                            "CivitAI answered HTTP {status} with something that is not JSON",
                            status=response.status,
                        ),
                        retryable=True,
                        maybe_accepted=submit,
                    ) from None
        except ProviderError:
            raise
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:
            raise ProviderError(
                self.name,
                _(
                    "could not reach CivitAI at {base} ({error})",
                    base=self._base,
                    error=type(exc).__name__,
                ),
                retryable=True,
            ) from exc
        except TimeoutError as exc:
            raise ProviderError(
                self.name,
                _("CivitAI did not answer in time"),
                retryable=True,
                maybe_accepted=submit,
            ) from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(
                self.name,
                _("the connection to CivitAI broke ({error})", error=type(exc).__name__),
                retryable=True,
                maybe_accepted=submit,
            ) from exc


def _workflow_path(workflow_id: str) -> str:
    return f"{WORKFLOWS_PATH}/{quote(workflow_id, safe='')}"


def _http_error(status: int, text: str, headers: Mapping[str, str]) -> ProviderError:
    reason = problem_reason(text)
    if status == 401:
        reason = _(
            "CivitAI refused the bot's API token (the bot owner must check CIVITAI_API_TOKEN)"
        )
    elif status == 403:
        # The token is valid but may not do this: most often the account is out of Buzz.
        reason = (
            _("CivitAI refused the request: {reason}", reason=reason)
            if reason
            else _("CivitAI refused the request (HTTP 403: the bot's account may be out of Buzz)")
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
