"""CivitAI workflow bodies in, and workflow answers out, kept apart from the HTTP client in
`civitai.py`: these are plain functions over JSON, with no session or token, so the shapes the
orchestration API sends (and their older variants) can be read and tested on their own.

A workflow answer is read defensively: every field the API documents may be missing or of
another type in a given answer, and a malformed part is skipped rather than failing the job.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from bot.errors import ProviderError
from bot.i18n import N_, _, n_
from bot.providers.base import GeneratedImage, GenerationResult, ProviderUpdate, trim_reason
from bot.providers.request import MAX_SEED, GenerationRequest

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
TERMINAL = {"succeeded", "failed", "expired", "canceled"}
# Job `reason` codes CivitAI documents, in words a member understands.
_REASONS = {  # shown with `_`
    "no_provider_available": N_("no worker can run it right now"),
    "blocked": N_("CivitAI's moderation blocked it"),
    "timeout": N_("it took too long"),
    "expired": N_("it took too long"),
    "canceled": N_("it was cancelled"),
}


def workflow_body(request: GenerationRequest) -> dict[str, Any]:
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


def workflow_result(workflow: Mapping[str, Any]) -> GenerationResult:
    """The images of a finished workflow; raises ProviderError when it did not succeed or
    gave no image the bot may download."""
    status = workflow["status"]
    if status not in TERMINAL:
        raise ProviderError("civitai", _("the workflow has not finished yet"), retryable=True)
    if status != "succeeded":
        # Workers crash and jobs expire on CivitAI's side; the input was accepted, so a
        # later try may well work — unless moderation blocked it.
        raise ProviderError("civitai", _failure_reason(workflow), retryable=not _blocked(workflow))
    images = []
    withheld = []
    for step in _steps(workflow):
        for blob in _images(step):
            url = blob.get("url")
            if blob.get("available") is True and isinstance(url, str) and url:
                images.append(
                    GeneratedImage(url=url, width=_int(blob, "width"), height=_int(blob, "height"))
                )
            elif isinstance(blob.get("blockedReason"), str) and blob["blockedReason"]:
                withheld.append(blob["blockedReason"])
    if not images:
        if withheld:
            raise ProviderError(
                "civitai",
                trim_reason(_("CivitAI withheld the images ({reason})", reason=withheld[0])),
                retryable=False,
            )
        raise ProviderError("civitai", _("the finished workflow had no images"), retryable=True)
    return GenerationResult(images=tuple(images), seed=_seed(workflow))


def probe_verdict(data: Any, model: str) -> str | None:
    """What a `whatif` answer says is wrong for an otherwise accepted token, or None."""
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


def update_for(workflow: Mapping[str, Any]) -> ProviderUpdate:
    status = workflow["status"]
    if status == "succeeded":
        return ProviderUpdate("completed")
    if status in TERMINAL:
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
        parts.append(
            n_("{ready} of {n} images ready", "{ready} of {n} images ready", total, ready=ready)
        )
    rates = [
        step["estimatedProgressRate"]
        for step in steps
        if isinstance(step.get("estimatedProgressRate"), int | float)
    ]
    if rates and 0 < min(rates) < 1:
        parts.append(_("about {percent}%", percent=round(min(rates) * 100)))
    return ProviderUpdate("running", detail=" · ".join(parts) or None)


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
                    reasons.append(_(_REASONS[value]) if value in _REASONS else value)
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
    status = str(workflow.get("status"))
    reasons = _job_reasons(workflow)
    reason = reasons[0] if reasons else None
    if status == "expired":
        text = (
            _("the CivitAI job expired: {reason}", reason=reason)
            if reason
            else _("the CivitAI job expired")
        )
    elif status == "canceled":
        text = (
            _("the CivitAI job was cancelled: {reason}", reason=reason)
            if reason
            else _("the CivitAI job was cancelled")
        )
    else:
        text = (
            _("the CivitAI job failed: {reason}", reason=reason)
            if reason
            else _("the CivitAI job failed")
        )
    return trim_reason(text)
