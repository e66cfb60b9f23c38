"""A fake CivitAI: the orchestration v2 consumer workflows API and the public models API on one
plain-HTTP loopback port, and the blob host with expiring signed image URLs on another.

Orchestration (Bearer token required; tokens in ``bad_tokens`` get 401):
- ``POST /v2/consumer/workflows[?wait=N][&whatif=true]`` with a WorkflowTemplate ``{"steps":
  [{"$type": "textToImage", "input": {model, quantity, batchSize?, additionalNetworks?: {AIR:
  {type?, strength?, triggerWord?}}, prompt, negativePrompt?, scheduler?, steps?, cfgScale,
  width?, height?, seed, clipSkip?}}], "tags"?}`` → a Workflow (below). The input is checked as
  the OpenAPI schema says (``cfgScale``, ``prompt`` and ``seed`` required, ranges, no unknown
  fields); a bad body gets a 400 problem ``{type, title, status, errors: {"steps[0].input.x":
  [msg]}}``. ``whatif=true`` validates and prices without creating anything: ``id`` is null and
  ``transactions.insufficientBuzz`` follows ``insufficient_buzz``. ``wait`` is recorded, not
  honoured: the answer always comes at once.
- ``GET /v2/consumer/workflows/{id}`` → ``{id, createdAt, status, startedAt?, completedAt?, tags,
  cost: {base, total, tips}, transactions, steps: [{$type, name, status, priority, metadata,
  input, startedAt?, completedAt?, estimatedProgressRate?, queuePosition?: {support,
  precedingJobs, estimatedStartAt}, jobs: [{id, status, reason?, blockedReason?}], output:
  {images: [{type: "image", id, jobId, available, url?, urlExpiresAt?, width, height,
  blockedReason?}]}}]}``. Every read of a finished image signs a fresh URL on the blob host that
  expires after ``blob_ttl_s``. Unknown or deleted ids get 404.
- ``PUT /v2/consumer/workflows/{id}`` with ``{"status": "canceled"}`` cancels the unfinished jobs
  and answers the Workflow; ``DELETE`` cancels too and hides the workflow (204).
- v1 (``/v1/consumer/...``) is not served: 404.

Timeline (per workflow, from the submit time t0): ``scheduled`` for ``queue_s`` with
``queue_positions`` (precedingJobs) spread evenly, then ``processing`` while the ``quantity``
jobs finish one after another over ``run_s`` (job i at ``queue_s + run_s * (i + 1) / n``), each
making ``batchSize`` images. A failing script fails the jobs in ``fail_jobs`` (default: all) with
``reason`` = ``fail``; ``blocked`` fails them all as moderation does (``reason: "blocked"``,
``blockedReason``); ``hang`` never finishes. The workflow ends when every job has: failed if one
failed, canceled if one was cancelled, else succeeded.

Models API (public): ``GET /api/v1/models/{id}`` and ``GET /api/v1/model-versions/{id}`` from
what the test registers with :meth:`FakeCivitai.add_model`; unknown ids get 404
``{"error": "No model with id N"}``.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .cdn import FakeServer, Rec, make_image, record_of, seed_color

AIR_RE = re.compile(r"^urn:air:[a-z0-9_.\-]+:[a-z0-9_\-]+:civitai:\d+@\d+$", re.IGNORECASE)
_PROBLEM_TYPE = "https://tools.ietf.org/html/rfc9110#section-15.5.1"
WORKFLOWS = "/v2/consumer/workflows"
TERMINAL = ("succeeded", "failed", "expired", "canceled")
SCHEDULERS = {
    "eulerA", "euler", "lms", "heun", "dpM2", "dpM2A", "dpM2SA", "dpM2M", "dpmsde", "dpmFast",
    "dpmAdaptive", "lmsKarras", "dpM2Karras", "dpM2AKarras", "dpM2SAKarras", "dpM2MKarras",
    "dpmsdeKarras", "ddim", "plms", "uniPC", "undefined", "lcm", "ddpm", "deis", "dpM3MSDE",
}  # fmt: skip
TEMPLATE_FIELDS = {
    "metadata", "tags", "steps", "callbacks", "tips", "arguments", "nsfwLevel",
    "downloadPriority", "experimental", "allowMatureContent", "upgradeMode", "currencies",
    "ephemeral", "externalId",
}  # fmt: skip
STEP_FIELDS = {"$type", "name", "priority", "timeout", "retries", "metadata", "input"}
INPUT_FIELDS = {
    "quantity", "batchSize", "model", "additionalNetworks", "controlNets", "prompt",
    "negativePrompt", "scheduler", "steps", "cfgScale", "width", "height", "seed", "clipSkip",
    "imageMetadata", "engine", "outputFormat", "sourceImage", "sourceImageDenoiseStrenght",
}  # fmt: skip
NETWORK_FIELDS = {"strength", "triggerWord", "type"}
MAX_SEED = 4294967295


def problem(status: int, detail: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {
        "type": _PROBLEM_TYPE,
        "title": HTTPStatus(status).phrase,
        "status": status,
        **extra,
    }
    if detail is not None:
        body["detail"] = detail
    return web.json_response(body, status=status, content_type="application/problem+json")


@dataclass
class Script:
    """How the next submitted workflow(s) behave."""

    queue_s: float = 0.3
    queue_positions: list[int] = field(default_factory=lambda: [2, 1, 0])
    run_s: float = 0.6
    fail: str | None = None  # the failing jobs' reason
    fail_jobs: list[int] | None = None  # which job indices fail (None: all)
    blocked: str | None = None  # moderation blocks every job with this blockedReason
    hang: bool = False
    cost: int = 4  # Buzz per image


@dataclass(eq=False)
class FakeJob:
    job_id: str
    index: int
    workflow_id: str
    blob_ids: list[str]
    canceled_at: float | None = None


@dataclass(eq=False)
class Submission:
    workflow_id: str
    body: dict[str, Any]
    script: Script
    submitted_at: float
    submitted_wall: datetime
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    jobs: list[FakeJob] = field(default_factory=list)
    deleted: bool = False

    @property
    def input(self) -> dict[str, Any]:
        """The textToImage step's input as submitted."""
        step_input: dict[str, Any] = self.body["steps"][0]["input"]
        return step_input

    @property
    def batch_size(self) -> int:
        return int(self.input.get("batchSize", 1))

    @property
    def queue_end(self) -> float:
        return self.submitted_at + max(self.script.queue_s, 0.0)

    def job_end(self, job: FakeJob) -> float | None:
        if job.canceled_at is not None:
            return job.canceled_at
        if self.script.hang:
            return None
        n = len(self.jobs)
        return self.queue_end + self.script.run_s * (job.index + 1) / n

    def job_fails(self, job: FakeJob) -> bool:
        if self.script.blocked is not None:
            return True
        if self.script.fail is None:
            return False
        return self.script.fail_jobs is None or job.index in self.script.fail_jobs

    def wall(self, t: float) -> str:
        return (self.submitted_wall + timedelta(seconds=t - self.submitted_at)).isoformat()


class CivitaiBlobs(FakeServer):
    """CivitAI's blob storage: signed, expiring image URLs on a host of their own."""

    def __init__(self, owner: FakeCivitai) -> None:
        super().__init__()
        self.owner = owner
        self.requests: list[Rec] = []

    def sign(self, blob_id: str, ttl_s: float) -> tuple[str, str]:
        """A fresh URL for ``blob_id`` and its expiry (ISO 8601)."""
        expires = time.time() + ttl_s
        signature = uuid.uuid4().hex[:16]
        url = f"{self.base_url}/{blob_id}.png?exp={expires:.3f}&sig={signature}"
        return url, datetime.fromtimestamp(expires, UTC).isoformat()

    def _record(self, request: web.Request, body: bytes) -> None:
        self.requests.append(record_of(request, body))

    def _default_fault_body(self, status: int) -> Any:
        return {"error": f"injected {status}"}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        blob_id = request.path.strip("/").removesuffix(".png")
        self.owner.blob_fetches.append(blob_id)
        data = self.owner.blob_bytes.get(blob_id)
        if data is None:
            return web.Response(status=404, text="NoSuchKey")
        try:
            expires = float(request.query.get("exp", "0"))
        except ValueError:
            expires = 0.0
        if not request.query.get("sig") or time.time() > expires:
            return web.Response(status=403, text="Request has expired")
        return web.Response(body=data, content_type="image/png")


class FakeCivitai(FakeServer):
    """CivitAI's orchestration and models API on ``http://127.0.0.1:{port}``; the blob host is
    :attr:`blobs` (its own port)."""

    def __init__(self) -> None:
        super().__init__()
        self.default_script = Script()
        self.bad_tokens: set[str] = set()
        self.unknown_models: set[str] = set()  # AIRs the orchestrator refuses
        self.unavailable_models: set[str] = set()  # AIRs with no workers (whatif says so)
        self.insufficient_buzz = False  # what whatif answers in transactions.insufficientBuzz
        self.blob_ttl_s = 60.0
        self.requests: list[Rec] = []
        self.submissions: dict[str, Submission] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.blob_fetches: list[str] = []
        self.blob_bytes: dict[str, bytes] = {}
        self.models: dict[int, dict[str, Any]] = {}
        self.versions: dict[int, dict[str, Any]] = {}
        self.blobs = CivitaiBlobs(self)
        self._scripts: list[list[Any]] = []
        self._wait_cursor = 0
        self._order: list[str] = []
        self._new = asyncio.Event()

    async def start(self) -> None:
        await self.blobs.start()
        await super().start()

    async def close(self) -> None:
        await super().close()
        await self.blobs.close()

    # -- test API --------------------------------------------------------------------------
    def config(self, **extra: Any) -> dict[str, Any]:
        """The ``[providers.civitai]`` table that points the bot here."""
        return {
            "enabled": True,
            "base_url": self.base_url,
            "models_base_url": self.base_url,
            "poll_interval_s": 0.2,
            **extra,
        }

    def script(self, script: Script, *, times: int | None = None) -> None:
        """Use ``script`` for the next ``times`` submissions (None: until replaced)."""
        self._scripts.insert(0, [script, times])

    def add_model(
        self,
        model_id: int,
        name: str,
        *,
        type: str = "LORA",
        versions: list[tuple[int, str]] = ((1, "SDXL 1.0"),),  # type: ignore[assignment]
        trained_words: list[str] | None = None,
        nsfw: bool = False,
        nsfw_level: int = 1,
        version_nsfw_levels: dict[int, int] | None = None,
        creator: str = "artist",
        allow_commercial_use: list[str] | None = None,
        list_versions: bool = True,
    ) -> dict[str, Any]:
        """Register a model with ``versions`` as ``(version_id, base_model)``, newest first.
        ``list_versions=False`` leaves them out of the model's ``modelVersions`` (as the API
        does for old or hidden versions), so only ``/model-versions/{id}`` knows them.
        Each version's own ``nsfwLevel`` is ``version_nsfw_levels[id]``, else ``nsfw_level``
        (CivitAI's model level is the union of its versions' levels, which are the union of
        their images': src/server/services/nsfwLevels.service.ts)."""
        model_versions = []
        for version_id, base_model in versions:
            version = {
                "id": version_id,
                "modelId": model_id,
                "name": f"v{version_id}",
                "nsfwLevel": (version_nsfw_levels or {}).get(version_id, nsfw_level),
                "baseModel": base_model,
                "trainedWords": list(trained_words or []),
                "downloadUrl": f"{self.base_url}/api/download/models/{version_id}",
                "files": [],
                "images": [],
            }
            self.versions[version_id] = {
                **version,
                "model": {"name": name, "type": type, "nsfw": nsfw, "poi": False},
            }
            model_versions.append(version)
        model = {
            "id": model_id,
            "name": name,
            "description": "",
            "type": type,
            "poi": False,
            "nsfw": nsfw,
            "nsfwLevel": nsfw_level,
            "allowNoCredit": True,
            "allowCommercialUse": list(allow_commercial_use or ["Image", "RentCivit"]),
            "allowDerivatives": True,
            "allowDifferentLicense": False,
            "creator": {"username": creator, "image": None},
            "tags": [],
            "modelVersions": model_versions if list_versions else [],
        }
        self.models[model_id] = model
        return model

    async def wait_for_submit(self, timeout: float = 10) -> Submission:
        async with asyncio.timeout(timeout):
            while self._wait_cursor >= len(self._order):
                self._new.clear()
                await self._new.wait()
        workflow_id = self._order[self._wait_cursor]
        self._wait_cursor += 1
        return self.submissions[workflow_id]

    @property
    def submits(self) -> list[Submission]:
        """Every workflow created (not the whatif estimates), in order."""
        return [self.submissions[w] for w in self._order]

    # -- server ----------------------------------------------------------------------------
    def _record(self, request: web.Request, body: bytes) -> None:
        self.requests.append(record_of(request, body))

    def _default_fault_body(self, status: int) -> Any:
        return {
            "type": _PROBLEM_TYPE,
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": "Injected fault",
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path.rstrip("/"), request.method
        if path.startswith("/api/"):
            return self._models_api(path, method)
        if not path.startswith("/v2/consumer/"):
            return problem(404)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or token.strip() in self.bad_tokens:
            return web.Response(status=401)  # the real API answers 401 with an empty body
        if path == WORKFLOWS and method == "POST":
            return await self._submit(request)
        if m := re.fullmatch(rf"{WORKFLOWS}/([^/]+)", path):
            sub = self.submissions.get(m[1])
            if sub is None or sub.deleted:
                return problem(404, "Workflow not found")
            if method == "GET":
                return web.json_response(self.workflow_json(sub, time.monotonic()))
            if method == "PUT":
                return await self._update(request, sub)
            if method == "DELETE":
                self._cancel(sub)
                sub.deleted = True
                return web.Response(status=204)
            return problem(405)
        return problem(405 if path == WORKFLOWS else 404)

    def _pick_script(self) -> Script:
        for entry in self._scripts:
            script, times = entry
            if times is not None:
                entry[1] = times - 1
                if entry[1] <= 0:
                    self._scripts.remove(entry)
            return copy.deepcopy(script)
        return copy.deepcopy(self.default_script)

    def _validate(self, body: Any) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if not isinstance(body, dict):
            return {"$": ["The request body must be a JSON object."]}
        for key in body.keys() - TEMPLATE_FIELDS:
            errors[key] = [f"The JSON property '{key}' could not be mapped."]
        tags = body.get("tags")
        if tags is not None and (
            not isinstance(tags, list)
            or len(tags) > 10
            or len(set(map(str, tags))) != len(tags)
            or not all(isinstance(t, str) and len(t) <= 200 for t in tags)
        ):
            errors["tags"] = ["At most 10 unique tags of at most 200 characters."]
        steps = body.get("steps")
        if not isinstance(steps, list) or not steps:
            errors["steps"] = ["A workflow needs at least one step."]
            return errors
        for i, step in enumerate(steps):
            where = f"steps[{i}]"
            if not isinstance(step, dict):
                errors[where] = ["A step must be an object."]
                continue
            for key in step.keys() - STEP_FIELDS:
                errors[f"{where}.{key}"] = [f"The JSON property '{key}' could not be mapped."]
            if step.get("$type") != "textToImage":
                errors[f"{where}.$type"] = ["This fake only runs textToImage steps."]
                continue
            step_input = step.get("input")
            if not isinstance(step_input, dict):
                errors[f"{where}.input"] = ["The input field is required."]
                continue
            self._validate_input(step_input, f"{where}.input", errors)
        return errors

    def _validate_input(
        self, data: dict[str, Any], where: str, errors: dict[str, list[str]]
    ) -> None:
        def bad(key: str, message: str) -> None:
            errors[f"{where}.{key}"] = [message]

        def number(key: str, low: float, high: float, *, integer: bool, required: bool) -> None:
            if key not in data:
                if required:
                    bad(key, f"The {key} field is required.")
                return
            value = data[key]
            ok = isinstance(value, int) or (not integer and isinstance(value, float))
            if isinstance(value, bool) or not ok or not low <= float(value) <= high:
                bad(key, f"The {key} must be between {low:g} and {high:g}.")

        for key in data.keys() - INPUT_FIELDS:
            bad(key, f"The JSON property '{key}' could not be mapped.")
        model = data.get("model")
        if not isinstance(model, str) or not AIR_RE.match(model):
            bad("model", "The model must be an AIR (urn:air:...:civitai:model@version).")
        elif model in self.unknown_models:
            bad("model", f"The model {model} is not available.")
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            bad("prompt", "The prompt field is required.")
        if "negativePrompt" in data and not isinstance(data["negativePrompt"], str | None):
            bad("negativePrompt", "The negativePrompt must be a string.")
        if "scheduler" in data and data["scheduler"] not in SCHEDULERS:
            bad("scheduler", f"The value '{data['scheduler']}' is not valid for scheduler.")
        number("quantity", 1, 100, integer=True, required=False)
        number("batchSize", 1, 100, integer=True, required=False)
        number("steps", 1, 150, integer=True, required=False)
        number("cfgScale", 1, 30, integer=False, required=True)
        number("width", 64, 4084, integer=True, required=False)
        number("height", 64, 4084, integer=True, required=False)
        number("seed", 0, MAX_SEED, integer=True, required=True)
        number("clipSkip", 1, 12, integer=True, required=False)
        _validate_networks(data.get("additionalNetworks", {}), where, errors)

    async def _submit(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return problem(400, "The request body is not valid JSON.")
        errors = self._validate(body)
        if errors:
            return problem(400, errors=errors, title="One or more validation errors occurred.")
        if request.query.get("whatif", "").lower() == "true":
            return web.json_response(self._estimate(body))
        workflow_id = f"wf_{uuid.uuid4().hex}"
        sub = Submission(
            workflow_id=workflow_id,
            body=body,
            script=self._pick_script(),
            submitted_at=time.monotonic(),
            submitted_wall=datetime.now(UTC),
            query=dict(request.query),
            headers=dict(request.headers),
        )
        for index in range(int(sub.input.get("quantity", 1))):
            blob_ids = [uuid.uuid4().hex.upper() for _ in range(sub.batch_size)]
            job = FakeJob(str(uuid.uuid4()), index, workflow_id, blob_ids)
            sub.jobs.append(job)
            self.jobs[job.job_id] = job
        self.submissions[workflow_id] = sub
        self._order.append(workflow_id)
        self._new.set()
        return web.json_response(self.workflow_json(sub, time.monotonic()))

    def _estimate(self, body: dict[str, Any]) -> dict[str, Any]:
        steps = []
        total = 0
        for i, step in enumerate(body["steps"]):
            step_input = step["input"]
            images = int(step_input.get("quantity", 1)) * int(step_input.get("batchSize", 1))
            total += images * self.default_script.cost
            available = step_input["model"] not in self.unavailable_models
            steps.append(
                {
                    "$type": step["$type"],
                    "name": step.get("name") or str(i),
                    "priority": step.get("priority", "normal"),
                    "status": "unassigned",
                    "metadata": step.get("metadata") or {},
                    "input": step_input,
                    "queuePosition": {
                        "support": "available" if available else "unavailable",
                        "precedingJobs": 0 if available else None,
                    },
                    "jobs": [],
                }
            )
        return {
            "id": None,
            "createdAt": datetime.now(UTC).isoformat(),
            "status": "unassigned",
            "tags": body.get("tags") or [],
            "metadata": body.get("metadata") or {},
            "arguments": {},
            "callbacks": [],
            "tips": {"civitai": 0, "creators": 0},
            "currencies": body.get("currencies") or [],
            "upgradeMode": "manual",
            "forceRefunded": False,
            "cost": {"base": total, "total": total, "tips": {"civitai": 0, "creators": 0}},
            "transactions": {"list": [], "insufficientBuzz": self.insufficient_buzz},
            "steps": steps,
        }

    async def _update(self, request: web.Request, sub: Submission) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return problem(400, "The request body is not valid JSON.")
        allowed = {"status", "metadata", "tags", "allowMatureContent", "downloadPriority"}
        if not isinstance(body, dict) or body.keys() - allowed:
            return problem(400, "Only status, metadata, tags, allowMatureContent and "
                           "downloadPriority can be updated.")  # fmt: skip
        if "status" in body:
            if body["status"] != "canceled":
                return problem(
                    400,
                    errors={"status": [f"The value '{body['status']}' is not valid for status."]},
                    title="One or more validation errors occurred.",
                )
            self._cancel(sub)
        return web.json_response(self.workflow_json(sub, time.monotonic()))

    def _cancel(self, sub: Submission) -> None:
        now = time.monotonic()
        for job in sub.jobs:
            end = sub.job_end(job)
            if end is None or now < end:
                job.canceled_at = now

    def _job_state(self, sub: Submission, job: FakeJob, now: float) -> str:
        end = sub.job_end(job)
        if end is not None and now >= end:
            if job.canceled_at is not None:
                return "canceled"
            return "failed" if sub.job_fails(job) else "succeeded"
        return "scheduled" if now < sub.queue_end else "processing"

    def workflow_json(self, sub: Submission, now: float) -> dict[str, Any]:
        """The Workflow the API would answer at monotonic time ``now``."""
        states = [self._job_state(sub, job, now) for job in sub.jobs]
        if all(s in TERMINAL for s in states):
            status = next((s for s in ("failed", "canceled") if s in states), "succeeded")
        elif any(s != "scheduled" for s in states):
            status = "processing"
        else:
            status = "scheduled"
        width, height = int(sub.input.get("width", 512)), int(sub.input.get("height", 512))
        jobs: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        for job, state in zip(sub.jobs, states, strict=True):
            job_json: dict[str, Any] = {"id": job.job_id, "status": state}
            if state == "failed" and sub.script.blocked is not None:
                job_json.update(reason="blocked", blockedReason=sub.script.blocked)
            elif state == "failed":
                job_json["reason"] = sub.script.fail
            jobs.append(job_json)
            for k, blob_id in enumerate(job.blob_ids):
                blob: dict[str, Any] = {
                    "type": "image",
                    "id": blob_id,
                    "jobId": job.job_id,
                    "available": False,
                    "width": width,
                    "height": height,
                }
                if state == "succeeded":
                    self._ensure_blob(sub, job, k, blob_id)
                    url, expires = self.blobs.sign(blob_id, self.blob_ttl_s)
                    blob.update(available=True, url=url, urlExpiresAt=expires)
                images.append(blob)
        step: dict[str, Any] = {
            "$type": "textToImage",
            "name": sub.body["steps"][0].get("name") or "0",
            "priority": "normal",
            "status": status,
            "metadata": {},
            "input": sub.input,
            "jobs": jobs,
            "output": {"images": images},
        }
        if status == "scheduled":
            positions = sub.script.queue_positions or [0]
            frac = (now - sub.submitted_at) / max(sub.script.queue_s, 1e-9)
            ahead = positions[min(len(positions) - 1, int(frac * len(positions)))]
            step["queuePosition"] = {
                "support": "available",
                "precedingJobs": ahead,
                "estimatedStartAt": sub.wall(sub.queue_end),
            }
        else:
            step["startedAt"] = sub.wall(sub.queue_end)
        if status == "processing" and sub.script.run_s > 0:
            step["estimatedProgressRate"] = round(
                min(max((now - sub.queue_end) / sub.script.run_s, 0.0), 0.99), 3
            )
        ends = [sub.job_end(job) for job in sub.jobs]
        if status in TERMINAL:
            step["completedAt"] = sub.wall(max(e for e in ends if e is not None))
        total = sub.script.cost * len(images)
        workflow: dict[str, Any] = {
            "id": sub.workflow_id,
            "createdAt": sub.submitted_wall.isoformat(),
            "status": status,
            "tags": sub.body.get("tags") or [],
            "metadata": sub.body.get("metadata") or {},
            "arguments": {},
            "callbacks": [],
            "tips": {"civitai": 0, "creators": 0},
            "currencies": sub.body.get("currencies") or [],
            "upgradeMode": "manual",
            "forceRefunded": False,
            "cost": {"base": total, "total": total, "tips": {"civitai": 0, "creators": 0}},
            "transactions": {"list": [{"type": "debit", "amount": total, "accountType": "yellow"}]},
            "steps": [step],
        }
        for key in ("startedAt", "completedAt"):
            if key in step:
                workflow[key] = step[key]
        return workflow

    def _ensure_blob(self, sub: Submission, job: FakeJob, k: int, blob_id: str) -> None:
        if blob_id in self.blob_bytes:
            return
        width, height = int(sub.input.get("width", 512)), int(sub.input.get("height", 512))
        seed = int(sub.input["seed"]) + job.index * sub.batch_size + k
        color = seed_color(seed, job.index)
        self.blob_bytes[blob_id] = make_image(max(1, width // 16), max(1, height // 16), color)

    def _models_api(self, path: str, method: str) -> web.Response:
        if method != "GET":
            return web.json_response({"error": "Method not allowed"}, status=405)
        if m := re.fullmatch(r"/api/v1/models/(\d+)", path):
            model = self.models.get(int(m[1]))
            if model is None:
                return web.json_response({"error": f"No model with id {m[1]}"}, status=404)
            return web.json_response(model)
        if m := re.fullmatch(r"/api/v1/model-versions/(\d+)", path):
            version = self.versions.get(int(m[1]))
            if version is None:
                return web.json_response({"error": f"Version not found {m[1]}"}, status=404)
            return web.json_response(version)
        return web.json_response({"error": "Not found"}, status=404)


def _validate_networks(networks: Any, where: str, errors: dict[str, list[str]]) -> None:
    """`additionalNetworks`: an object keyed by AIR, each with known fields only."""
    if not isinstance(networks, dict):
        errors[f"{where}.additionalNetworks"] = [
            "additionalNetworks must be an object keyed by AIR."
        ]
        return
    for air, spec in networks.items():
        key = f"{where}.additionalNetworks.{air}"
        if not AIR_RE.match(air):
            errors[key] = ["The key must be an AIR."]
        elif not isinstance(spec, dict) or spec.keys() - NETWORK_FIELDS:
            errors[key] = ["Invalid network parameters."]
        elif not isinstance(spec.get("strength"), int | float | None):
            errors[key] = ["The strength must be a number."]
