"""A fake CivitAI on one plain-HTTP loopback port: the orchestration v1 consumer jobs API, the
public models API and a blob host with expiring signed URLs.

Orchestration (Bearer token required; tokens in ``bad_tokens`` get 401):
- ``POST /v1/consumer/jobs`` with ``{"$type": "textToImage", "model": AIR, "params": {...},
  "additionalNetworks": {AIR: {"type": "Lora", "strength": s}}, "quantity": n}`` →
  ``{"token", "jobs": [JobStatus]}``; invalid bodies get a 400 problem
  ``{type, title, status, detail, errors: {field: [msg]}}``.
- ``GET /v1/consumer/jobs?token=`` → ``{"token", "jobs": [JobStatus]}``, where a JobStatus is
  ``{jobId, cost, scheduled, result: {blobKey, available, blobUrl?, blobUrlExpirationDate?},
  lastEvent: {jobId, type, dateTime, context?}, serviceProviders: {"civitai": {support,
  queuePosition: {precedingJobs, precedingCost, throughputRate, estimatedStartDuration}}}}``.
  Every poll of a finished job signs a fresh blob URL that expires after ``blob_ttl_s``.
- ``DELETE /v1/consumer/jobs/{jobId}[?force=true]`` → 204 (404 for unknown jobs).
- ``GET /v1/consumer/coverage?model=AIR`` → ``{AIR: {available, workers, providers}}``.

Job timeline (per token, time-based, from the submit time t0): queued for ``queue_s`` with
``queue_positions`` (precedingJobs) spread evenly, then the ``quantity`` jobs run and finish one
after another over ``run_s`` (job i at ``queue_s + run_s * (i + 1) / n``). A failing script ends
the jobs in ``fail_jobs`` (default: all) with ``scheduled: false`` and a ``Failed`` event
carrying ``context.message``; ``hang`` never finishes.

Models API (public): ``GET /api/v1/models/{id}`` and ``GET /api/v1/model-versions/{id}`` from
what the test registers with :meth:`FakeCivitai.add_model`; unknown ids get 404
``{"error": "No model with id N"}``.
"""

from __future__ import annotations

import asyncio
import copy
import random
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
    """How the next submitted request(s) behave."""

    queue_s: float = 0.3
    queue_positions: list[int] = field(default_factory=lambda: [2, 1, 0])
    run_s: float = 0.6
    fail: str | None = None  # the failure message of the failing jobs
    fail_jobs: list[int] | None = None  # which job indices fail (None: all)
    hang: bool = False
    cost: float = 4.0


@dataclass(eq=False)
class FakeJob:
    job_id: str
    index: int
    token: str
    blob_key: str
    cancelled_at: float | None = None
    polls: int = 0


@dataclass(eq=False)
class Submission:
    token: str
    body: dict[str, Any]
    script: Script
    submitted_at: float
    submitted_wall: datetime
    seed: int
    jobs: list[FakeJob] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def queue_end(self) -> float:
        return self.submitted_at + max(self.script.queue_s, 0.0)

    def job_end(self, job: FakeJob) -> float | None:
        if job.cancelled_at is not None:
            return job.cancelled_at
        if self.script.hang:
            return None
        n = len(self.jobs)
        return self.queue_end + self.script.run_s * (job.index + 1) / n

    def job_fails(self, job: FakeJob) -> bool:
        if self.script.fail is None:
            return False
        return self.script.fail_jobs is None or job.index in self.script.fail_jobs

    def wall(self, t: float) -> str:
        return (self.submitted_wall + timedelta(seconds=t - self.submitted_at)).isoformat()


class FakeCivitai(FakeServer):
    """CivitAI's orchestration, models API and blob host on ``http://127.0.0.1:{port}``."""

    def __init__(self) -> None:
        super().__init__()
        self.default_script = Script()
        self.bad_tokens: set[str] = set()
        self.unknown_models: set[str] = set()  # AIRs the orchestrator refuses
        self.unavailable_models: set[str] = set()  # AIRs coverage reports as unavailable
        self.blob_ttl_s = 60.0
        self.result_as_list = False
        self.requests: list[Rec] = []
        self.submissions: dict[str, Submission] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.blob_fetches: list[str] = []
        self.models: dict[int, dict[str, Any]] = {}
        self.versions: dict[int, dict[str, Any]] = {}
        self._blobs: dict[str, bytes] = {}
        self._scripts: list[list[Any]] = []
        self._wait_cursor = 0
        self._order: list[str] = []
        self._new = asyncio.Event()

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
        creator: str = "artist",
        allow_commercial_use: list[str] | None = None,
        list_versions: bool = True,
    ) -> dict[str, Any]:
        """Register a model with ``versions`` as ``(version_id, base_model)``, newest first.
        ``list_versions=False`` leaves them out of the model's ``modelVersions`` (as the API
        does for old or hidden versions), so only ``/model-versions/{id}`` knows them."""
        model_versions = []
        for version_id, base_model in versions:
            version = {
                "id": version_id,
                "modelId": model_id,
                "name": f"v{version_id}",
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
        token = self._order[self._wait_cursor]
        self._wait_cursor += 1
        return self.submissions[token]

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
        if path.startswith("/blobs/"):
            return self._blob(request, path.removeprefix("/blobs/"))
        if not path.startswith("/v1/consumer/"):
            return problem(404)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or token.strip() in self.bad_tokens:
            return web.Response(status=401)  # the real API answers 401 with an empty body
        if path == "/v1/consumer/jobs" and method == "POST":
            return await self._submit(request)
        if path == "/v1/consumer/jobs" and method == "GET":
            return self._status(request.query.get("token", ""))
        if m := re.fullmatch(r"/v1/consumer/jobs/([^/]+)", path):
            if method == "DELETE":
                return self._cancel(m[1])
            if method == "GET":
                job = self.jobs.get(m[1])
                if job is None:
                    return problem(404, "Job not found")
                return web.json_response(self.job_json(job, time.monotonic()))
        if path == "/v1/consumer/coverage" and method == "GET":
            return self._coverage(request.query.getall("model", []))
        return problem(405 if path.startswith("/v1/consumer/jobs") else 404)

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
        if body.get("$type") != "textToImage":
            errors["$type"] = ["Unknown job type."]
        model = body.get("model")
        if not isinstance(model, str) or not AIR_RE.match(model):
            errors["model"] = ["The model must be an AIR (urn:air:...:civitai:model@version)."]
        elif model in self.unknown_models:
            errors["model"] = [f"The model {model} is not available."]
        params = body.get("params")
        if not isinstance(params, dict):
            errors["params"] = ["The params field is required."]
        else:
            if not isinstance(params.get("prompt"), str) or not params["prompt"].strip():
                errors["params.prompt"] = ["The prompt field is required."]
            for key in ("width", "height"):
                value = params.get(key)
                if not isinstance(value, int) or not 64 <= value <= 2048 or value % 8:
                    errors[f"params.{key}"] = [f"The {key} must be a multiple of 8 in 64-2048."]
            steps = params.get("steps", 20)
            if not isinstance(steps, int) or not 1 <= steps <= 100:
                errors["params.steps"] = ["The steps must be between 1 and 100."]
        quantity = body.get("quantity", 1)
        if not isinstance(quantity, int) or not 1 <= quantity <= 10:
            errors["quantity"] = ["The quantity must be between 1 and 10."]
        networks = body.get("additionalNetworks") or {}
        if not isinstance(networks, dict):
            errors["additionalNetworks"] = ["additionalNetworks must be an object."]
        else:
            for air, spec in networks.items():
                if not AIR_RE.match(air):
                    errors[f"additionalNetworks.{air}"] = ["The key must be an AIR."]
                elif not isinstance(spec, dict) or not isinstance(
                    spec.get("strength", 1), int | float
                ):
                    errors[f"additionalNetworks.{air}"] = ["Invalid network parameters."]
        return errors

    async def _submit(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return problem(400, "The request body is not valid JSON.")
        errors = self._validate(body)
        if errors:
            return problem(400, errors=errors, title="One or more validation errors occurred.")
        seed = body["params"].get("seed")
        token = uuid.uuid4().hex + uuid.uuid4().hex  # opaque, long
        sub = Submission(
            token=token,
            body=body,
            script=self._pick_script(),
            submitted_at=time.monotonic(),
            submitted_wall=datetime.now(UTC),
            seed=seed if isinstance(seed, int) else random.randrange(2**32),
            headers=dict(request.headers),
        )
        for index in range(int(body.get("quantity", 1))):
            job = FakeJob(str(uuid.uuid4()), index, token, uuid.uuid4().hex.upper())
            sub.jobs.append(job)
            self.jobs[job.job_id] = job
        self.submissions[token] = sub
        self._order.append(token)
        self._new.set()
        now = time.monotonic()
        return web.json_response(
            {"token": token, "jobs": [self.job_json(j, now) for j in sub.jobs]}
        )

    def _status(self, token: str) -> web.Response:
        sub = self.submissions.get(token)
        if sub is None:
            return web.json_response({"token": token, "jobs": []})
        now = time.monotonic()
        for job in sub.jobs:
            job.polls += 1
        return web.json_response(
            {"token": token, "jobs": [self.job_json(j, now) for j in sub.jobs]}
        )

    def job_json(self, job: FakeJob, now: float) -> dict[str, Any]:
        """The JobStatus the API would answer at monotonic time ``now``."""
        sub = self.submissions[job.token]
        end = sub.job_end(job)
        done = end is not None and now >= end
        result: dict[str, Any] = {"blobKey": job.blob_key, "available": False}
        out: dict[str, Any] = {
            "jobId": job.job_id,
            "cost": sub.script.cost,
            "scheduled": True,
            "result": result,
        }
        if done and job.cancelled_at is not None:
            out["scheduled"] = False
            out["lastEvent"] = self._event(sub, job, "Deleted", end)
        elif done and sub.job_fails(job):
            out["scheduled"] = False
            out["lastEvent"] = self._event(
                sub, job, "Failed", end, context={"message": sub.script.fail}
            )
        elif done:
            assert end is not None
            out["scheduled"] = False
            self._ensure_blob(sub, job)
            expires = time.time() + self.blob_ttl_s
            result.update(
                available=True,
                blobUrl=f"{self.base_url}/blobs/{job.blob_key}?exp={expires:.3f}",
                blobUrlExpirationDate=datetime.fromtimestamp(expires, UTC).isoformat(),
            )
            out["lastEvent"] = self._event(sub, job, "Succeeded", end)
        elif now < sub.queue_end:
            positions = sub.script.queue_positions or [0]
            frac = (now - sub.submitted_at) / max(sub.script.queue_s, 1e-9)
            ahead = positions[min(len(positions) - 1, int(frac * len(positions)))]
            out["lastEvent"] = self._event(sub, job, "Initialized", sub.submitted_at)
            out["serviceProviders"] = {
                "civitai": {
                    "support": "Available",
                    "queuePosition": {
                        "precedingJobs": ahead,
                        "precedingCost": ahead * sub.script.cost,
                        "throughputRate": 1.0,
                        "estimatedStartDuration": "00:00:01",
                    },
                }
            }
        else:
            out["lastEvent"] = self._event(sub, job, "Claimed", sub.queue_end)
        if self.result_as_list:
            out["result"] = [result]
        return out

    def _event(
        self,
        sub: Submission,
        job: FakeJob,
        kind: str,
        at: float | None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "jobId": job.job_id,
            "type": kind,
            "dateTime": sub.wall(at if at is not None else time.monotonic()),
            "provider": "civitai",
            "jobHasCompleted": kind in ("Succeeded", "Failed", "Deleted", "Expired"),
        }
        if context:
            event["context"] = context
        return event

    def _ensure_blob(self, sub: Submission, job: FakeJob) -> None:
        if job.blob_key in self._blobs:
            return
        params = sub.body["params"]
        width, height = int(params["width"]), int(params["height"])
        color = seed_color(sub.seed, job.index)
        self._blobs[job.blob_key] = make_image(max(1, width // 16), max(1, height // 16), color)

    def _blob(self, request: web.Request, key: str) -> web.Response:
        self.blob_fetches.append(key)
        data = self._blobs.get(key)
        if data is None:
            return web.Response(status=404, text="NoSuchKey")
        try:
            expires = float(request.query.get("exp", "0"))
        except ValueError:
            expires = 0.0
        if time.time() > expires:
            return web.Response(status=403, text="Request has expired")
        return web.Response(body=data, content_type="image/png")

    def _cancel(self, job_id: str) -> web.Response:
        job = self.jobs.get(job_id)
        if job is None:
            return problem(404, "Job not found")
        sub = self.submissions[job.token]
        end = sub.job_end(job)
        now = time.monotonic()
        if end is None or now < end:
            job.cancelled_at = now
        return web.Response(status=204)

    def _coverage(self, models: list[str]) -> web.Response:
        out = {}
        for model in models:
            available = model not in self.unavailable_models and model not in self.unknown_models
            out[model] = {
                "available": available,
                "workers": 3 if available else 0,
                "providers": {"civitai": {"available": available}},
            }
        return web.json_response(out)

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

    @property
    def submits(self) -> list[Submission]:
        return [self.submissions[t] for t in self._order]
