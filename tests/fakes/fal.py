"""A fake fal.ai queue over HTTPS that the real ``fal_client`` (1.0.x) can talk to unmodified.

fal-client reads ``FAL_QUEUE_RUN_HOST`` at import, so pick the port first
(:meth:`FakeFal.pick_port`), export :meth:`FakeFal.env` before importing ``fal_client``, then start
the fake on that port.

Job timeline (time-based, independent of how often the client polls), from the submit time t0:
``IN_QUEUE`` for ``queue_s`` (``queue_positions`` spread evenly), ``IN_PROGRESS`` for ``run_s``
(step ``i`` of ``steps`` logged at ``queue_s + run_s * i / (steps + 1)``), then ``COMPLETED``.

Cancellation (``PUT .../cancel``), as far as fal's docs tell: a queued job is removed at once; a
running job gets a cancellation signal that the app may honour (``Script.honour_cancel``, default
True) or ignore (it then runs to completion). A cancelled job shows ``COMPLETED`` with
``error="Request cancelled"``, ``error_type="client_cancelled"``, and its result URL answers
499 ``{"detail": "Request cancelled", "error_type": "client_cancelled"}`` (fal's documented
request-error format and code for ``client_cancelled``).

Storage (what fal's clients do to upload an input file, fal-client's ``AsyncCDNTokenManager`` and
fal-js ``cdn.ts``): ``POST /storage/auth/token?storage_type=fal-cdn-v3`` with the key and ``{}``
answers ``{token, token_type, base_url, created_at, expires_at}``; ``POST {base_url}/files/upload``
with ``Authorization: {token_type} {token}``, the file's ``Content-Type`` and ``X-Fal-File-Name``
stores the bytes on the fake CDN and answers ``{"access_url": url}``. Both live on this server
(real fal: ``rest.fal.ai`` and ``v3.fal.media``); each upload is kept in ``uploads``.

Published schemas (``published.py``): an endpoint with a document (the bot's shipped snapshots,
plus any a test adds with ``publish``) has its arguments validated against it, and an argument
out of schema fails the job the way a fal app's pydantic model does: ``COMPLETED`` with the
error, its result a 422 ``{"detail": [{"loc": ["body", ...], "msg", "type", ...}]}``. Other
endpoints (tests use ids such as ``fal-ai/flux-pro``) keep a few lax checks. fal's platform API
``GET /v1/models?endpoint_id=…[&expand=openapi-3.0]`` (real: ``api.fal.ai``) is served here too:
``{"models": [{"endpoint_id", "metadata", "openapi"?}], "next_cursor": null, "has_more": false}``;
an unknown id is simply not listed. The key is optional there (fal's docs: it only raises rate
limits), but a malformed or refused one is answered 401. Real fal serves that API from its own
host, so those calls are recorded in ``platform_requests``, not in ``requests`` (the queue's).

Apps with their own output (``apps.FAL_APPS``: segmentation, fill, outpaint, captions, blend,
video) read their input images at submit and answer in their own shape; see ``apps.py``.

Webhooks (``webhooks.py``): a job submitted with ``?fal_webhook=URL`` is POSTed there, signed
with ``webhook_key`` (made per fake), when it ends (``OK`` with the result as ``payload``, or
``ERROR``); the public key is served as a JWKS at ``jwks_url`` (real fal:
``rest.alpha.fal.ai/.well-known/jwks.json``; recorded in ``platform_requests``). Hooks to drop,
delay, tamper with or replay one are on ``webhooks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import random
import re
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from . import apps
from .cdn import (
    CONTENT_TYPES,
    FakeCDN,
    FakeServer,
    Rec,
    Upload,
    make_image,
    record_of,
    seed_color,
)
from .cdn import tqdm_line as _tqdm_line
from .published import Published, fal_detail, fal_pointer, shipped
from .tls import TLS
from .webhooks import Delivery, WebhookSender, fal_headers, jwks_of

DEFAULT_LOG_TEMPLATE = "{pct}%|{bar}| {step}/{total} [00:01<00:01, 4.00it/s]"

IMAGE_SIZES = apps.IMAGE_PRESETS  # fal's image_size presets
DEFAULT_IMAGE_SIZE = "landscape_4_3"  # flux/dev's default on fal

# fal's documented request-error types, by the HTTP status they usually come with.
REQUEST_ERROR_TYPES = {
    400: "bad_request",
    499: "client_cancelled",
    500: "runner_server_error",
    502: "runner_incomplete_response",
    503: "runner_disconnected",
    504: "request_timeout",
}

_JOB_RE = re.compile(
    r"^/(?P<base>(?:(?:workflows|comfy)/)?[^/]+/[^/]+)/requests/(?P<id>[^/]+)"
    r"(?P<rest>/status/stream|/status|/cancel)?/?$"
)
_NAMESPACES = ("workflows", "comfy")


@dataclass
class FalFailure:
    """How a scripted job fails.

    ``detail`` a list → model/validation error body ``{"detail": [{loc, msg, type, ...}]}``;
    a string → request error body ``{"detail": str, "error_type": ...}`` (+ ``X-Fal-Error-Type``).
    ``error``/``error_type`` override what the COMPLETED status shows.
    """

    status: int = 500
    detail: str | list[dict[str, Any]] = "Internal Server Error"
    retryable: bool = False
    error_type: str | None = None
    error: str | None = None

    @property
    def status_error(self) -> str:
        if self.error is not None:
            return self.error
        if isinstance(self.detail, str):
            return self.detail
        return "; ".join(str(d.get("msg", d)) for d in self.detail) or "Unprocessable Entity"

    @property
    def status_error_type(self) -> str | None:
        if self.error_type is not None:
            return self.error_type
        if isinstance(self.detail, str):
            return REQUEST_ERROR_TYPES.get(self.status, "internal_error")
        return None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"detail": self.detail}
        if isinstance(self.detail, str) and self.status_error_type:
            out["error_type"] = self.status_error_type
        return out

    def headers(self) -> dict[str, str]:
        h = {"X-Fal-Retryable": "true" if self.retryable else "false"}
        if isinstance(self.detail, str) and self.status_error_type:
            h["X-Fal-Error-Type"] = self.status_error_type
        return h


def is_upscaler(app_id: str) -> bool:
    return "esrgan" in app_id or "upscal" in app_id


def validation_failure(field_name: str, msg: str, type_: str = "value_error") -> FalFailure:
    """A 422 like fal's input validation: ``detail=[{"loc": ["body", field], ...}]``."""
    return FalFailure(
        status=422,
        detail=[
            {
                "loc": ["body", field_name],
                "msg": msg,
                "type": type_,
                "url": f"https://docs.fal.ai/errors/#{type_}",
            }
        ],
    )


CANCELLED = FalFailure(status=499, detail="Request cancelled", error_type="client_cancelled")
MAX_IDS_PER_CALL = 50  # GET /v1/models takes 1-50 endpoint ids


def published(endpoint_id: str, document: dict[str, Any]) -> Published:
    return Published(document, fal_pointer(document, endpoint_id))


@dataclass
class Script:
    """How the next submitted job(s) behave (see the module docstring for the timeline).

    ``result`` replaces the generated flux-like result; ``nsfw`` flags images (all or per image)
    as fal's safety checker does: black image + ``has_nsfw_concepts: true``.
    """

    queue_s: float = 0.3
    queue_positions: list[int] = field(default_factory=lambda: [1, 0])
    run_s: float = 0.6
    steps: int = 4
    log_template: str = DEFAULT_LOG_TEMPLATE
    fail: FalFailure | None = None
    hang: bool = False
    honour_cancel: bool = True
    nsfw: bool | list[bool] = False
    result: dict[str, Any] | None = None


@dataclass(eq=False)
class Job:
    """One submitted request and everything the fake knows about it."""

    request_id: str
    app_id: str
    base: str
    arguments: dict[str, Any]
    script: Script
    submitted_at: float
    submitted_wall: datetime
    seed: int
    webhook_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    cancel_at: float | None = None
    status_polls: int = 0
    stream_opens: int = 0
    result_fetches: int = 0
    result: dict[str, Any] | None = None
    prepared: apps.Prepared | None = None  # the inputs an app in apps.FAL_APPS read
    # Set on cancel (and on shutdown) so open status streams look again at once.
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def queue_end(self) -> float:
        return self.submitted_at + max(self.script.queue_s, 0.0)

    @property
    def run_end(self) -> float:
        return self.queue_end + max(self.script.run_s, 0.0)

    @property
    def finished_at(self) -> float | None:
        """When COMPLETED becomes visible (None while hanging)."""
        if self.cancel_at is not None:
            return self.cancel_at
        return None if self.script.hang else self.run_end

    @property
    def failure(self) -> FalFailure | None:
        return CANCELLED if self.cancel_at is not None else self.script.fail

    def is_done(self, now: float) -> bool:
        end = self.finished_at
        return end is not None and now >= end

    def next_change(self, now: float) -> float | None:
        """When the status (queue position, logs, phase) next changes after ``now`` by the
        script alone; None if only a cancel can change it."""
        end = self.finished_at
        if end is not None and now >= end:
            return None
        times: list[float] = []
        positions = self.script.queue_positions or [0]
        if self.script.queue_s > 0 and len(positions) > 1:
            step = self.script.queue_s / len(positions)
            times += [self.submitted_at + step * k for k in range(1, len(positions))]
        times += [self.queue_end, *self.step_times()]
        if end is not None:
            times.append(end)
        upcoming = [t for t in times if t > now]
        return min(upcoming) if upcoming else None

    def step_times(self) -> list[float]:
        n = self.script.steps
        return [self.queue_end + self.script.run_s * i / (n + 1) for i in range(1, n + 1)]

    def logs(self, now: float) -> list[dict[str, Any]]:
        """Cumulative log entries visible at ``now``."""
        end = self.finished_at
        limit = now if end is None else min(now, end)
        out = []
        for i, t in enumerate(self.step_times(), start=1):
            if t > limit:
                break
            wall = self.submitted_wall + timedelta(seconds=t - self.submitted_at)
            out.append(
                {
                    "message": _tqdm_line(self.script.log_template, i, self.script.steps),
                    "level": "INFO",
                    "source": "USER",
                    "timestamp": wall.isoformat(),
                }
            )
        return out


class FakeFal(FakeServer):
    """The fal queue API on ``https://127.0.0.1:{port}``; images go to ``cdn``."""

    def __init__(self, tls: TLS, cdn: FakeCDN, port: int) -> None:
        super().__init__(port=port, ssl_context=tls.server_ssl_context())
        self.tls = tls
        self.cdn = cdn
        self.default_script = Script(queue_positions=[2, 1, 0])
        self.bad_keys: set[str] = set()
        self.stream_keepalive = 15.0
        self.stream_end_delay = 0.0  # how long after COMPLETED the server ends the stream
        self.full_size_images = False
        # PNG bytes every generated image uses instead of a fresh solid-colour one (benchmarks)
        self.image_bytes: bytes | None = None
        self.default_output_format = "png"  # real flux/dev defaults to "jpeg"
        self.validate = True
        self.requests: list[Rec] = []
        self.platform_requests: list[Rec] = []  # GET /v1/models (api.fal.ai at fal)
        self.models_page_size: int | None = None  # GET /v1/models answers in pages of this many
        self.submits: list[tuple[str, dict[str, Any], str]] = []
        self.jobs: dict[str, Job] = {}
        self.uploads: list[Upload] = []
        self.masks: list[Image.Image] = []  # the decoded mask of every fill (apps.py)
        self.video_bytes: int | None = None  # the size of every generated video (apps.py)
        self.storage_tokens: list[str] = []  # every CDN token handed out, oldest first
        # endpoint id -> its published document and validator (see the module docstring)
        self.schemas: dict[str, Published] = {
            model: published(model, data["openapi"]) for model, data in shipped("fal").items()
        }
        self._scripts: list[list[Any]] = []  # [prefix | None, Script, times | None]
        self._wait_cursor = 0
        self._new = asyncio.Event()
        self.webhook_key = Ed25519PrivateKey.generate()
        self.webhook_user_id = "fake-fal-user"
        self.webhooks = WebhookSender()

    # -- test API --------------------------------------------------------------------------
    @staticmethod
    def pick_port() -> int:
        """A free loopback port (bind 0, read, close)."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:{port}``, the value for ``FAL_RUN_HOST``/``FAL_QUEUE_RUN_HOST``."""
        return f"127.0.0.1:{self._want_port}"

    def env(self, key: str = "test") -> dict[str, str]:
        """Environment for a fal-client process talking to this fake."""
        return {
            "FAL_KEY": key,
            "FAL_RUN_HOST": self.host,
            "FAL_QUEUE_RUN_HOST": self.host,
            "SSL_CERT_FILE": str(self.tls.ca_pem_path),
            "NO_PROXY": "127.0.0.1,localhost",
        }

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"

    def script(self, app_prefix: str | None, script: Script, *, times: int | None = None) -> None:
        """Use ``script`` for jobs whose app id is ``app_prefix`` or under it (None: any app).

        ``times=None`` keeps it until replaced; the newest matching script wins.
        """
        self._scripts.insert(0, [app_prefix, script, times])

    def publish(self, endpoint_id: str, openapi_document: dict[str, Any]) -> None:
        """Publish (or replace) an endpoint's OpenAPI document: listed by ``GET /v1/models``
        and enforced on its submitted arguments from now on."""
        self.schemas[endpoint_id] = published(endpoint_id, openapi_document)

    def completed_at(self, request_id: str) -> float | None:
        """Monotonic time the job's COMPLETED status became visible, or None if not yet."""
        job = self.jobs.get(request_id)
        if job is None or not job.is_done(time.monotonic()):
            return None
        return job.finished_at

    async def wait_for_submit(self, timeout: float = 10) -> Job:
        """The next submitted job not yet returned by this method (waits for it)."""
        async with asyncio.timeout(timeout):
            while self._wait_cursor >= len(self.submits):
                self._new.clear()
                await self._new.wait()
        rid = self.submits[self._wait_cursor][2]
        self._wait_cursor += 1
        return self.jobs[rid]

    # -- server ----------------------------------------------------------------------------
    def _record(self, request: web.Request, body: bytes) -> None:
        platform = request.path.rstrip("/") in ("/v1/models", "/.well-known/jwks.json")
        (self.platform_requests if platform else self.requests).append(record_of(request, body))

    def _urls(self, base: str, rid: str) -> dict[str, str]:
        url = f"{self.base_url}/{base}/requests/{rid}"
        return {
            "request_id": rid,
            "response_url": url,
            "status_url": url + "/status",
            "cancel_url": url + "/cancel",
        }

    def _auth_error(self, request: web.Request) -> web.Response | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "key" or not key.strip():
            return web.json_response(
                {"detail": "Missing or malformed Authorization header (expected 'Key <key>')"},
                status=401,
            )
        if key.strip() in self.bad_keys:
            return web.json_response({"detail": "Invalid API key"}, status=401)
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.rstrip("/") == "/files/upload":  # the CDN takes its own token
            return await self._upload(request)
        if request.path.rstrip("/") == "/v1/models":  # the key is optional there
            return self._models(request)
        if request.path.rstrip("/") == "/.well-known/jwks.json":  # public
            return web.json_response(jwks_of(self.webhook_key))
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        if request.path.rstrip("/") == "/storage/auth/token":
            return self._storage_token(request)
        m = _JOB_RE.match(request.path)
        if m is None:
            if request.method == "POST":
                return await self._submit(request)
            return web.json_response({"detail": "Not Found"}, status=404)
        job = self.jobs.get(m["id"])
        if job is None or job.base != m["base"]:
            return web.json_response({"detail": "Request not found"}, status=404)
        rest, method = m["rest"] or "", request.method
        if rest == "" and method == "GET":
            return self._result(job)
        if rest == "/status" and method == "GET":
            job.status_polls += 1
            return self._json(job, self.status_json(job, time.monotonic(), _flag(request)))
        if rest == "/status/stream" and method == "GET":
            return await self._stream(request, job)
        if rest == "/cancel" and method == "PUT":
            return self._cancel(job)
        return web.json_response({"detail": "Method Not Allowed"}, status=405)

    def _models(self, request: web.Request) -> web.Response:
        """fal's platform API `GET /v1/models`, find mode: the listed endpoints (those known,
        in the order asked), each with its OpenAPI document when `expand=openapi-3.0`."""
        if request.method != "GET":
            return web.json_response({"detail": "Method Not Allowed"}, status=405)
        if "Authorization" in request.headers and (denied := self._auth_error(request)):
            return denied
        wanted = request.query.getall("endpoint_id", [])
        if len(wanted) > MAX_IDS_PER_CALL:
            detail = f"At most {MAX_IDS_PER_CALL} endpoint_id values are allowed"
            return web.json_response({"detail": detail}, status=400)
        expand = "openapi-3.0" in request.query.getall("expand", [])
        models = []
        for endpoint_id in dict.fromkeys(wanted) if wanted else self.schemas:
            found = self.schemas.get(endpoint_id)
            if found is None:
                continue
            item: dict[str, Any] = {
                "endpoint_id": endpoint_id,
                "metadata": {"display_name": endpoint_id, "status": "active"},
            }
            if expand:
                item["openapi"] = copy.deepcopy(found.document)
            models.append(item)
        # Pages: fal's page size "depends on query type and expansion parameters"; the cursor
        # is opaque (here: the offset).
        start = int(request.query.get("cursor") or 0)
        end = start + (self.models_page_size or len(models) or 1)
        more = end < len(models)
        return web.json_response(
            {
                "models": models[start:end],
                "next_cursor": str(end) if more else None,
                "has_more": more,
            }
        )

    def _storage_token(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.json_response({"detail": "Method Not Allowed"}, status=405)
        if request.query.get("storage_type") != "fal-cdn-v3":
            return web.json_response({"detail": "Unsupported storage type"}, status=400)
        token = uuid.uuid4().hex
        self.storage_tokens.append(token)
        now = datetime.now(UTC)
        return web.json_response(
            {
                "token": token,
                "token_type": "Bearer",
                "base_url": self.base_url,
                "created_at": now.isoformat(),
                "expires_at": (now + timedelta(hours=1)).isoformat(),
            }
        )

    async def _upload(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.json_response({"detail": "Method Not Allowed"}, status=405)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.storage_tokens:
            return web.json_response({"detail": "Invalid or missing CDN token"}, status=401)
        data = await request.read()
        if not data:
            return web.json_response({"detail": "Empty upload"}, status=400)
        name = request.headers.get("X-Fal-File-Name")
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        path = f"files/uploads/{uuid.uuid4().hex}/{name or 'upload.bin'}"
        url = self.cdn.put(path, data, content_type)
        self.uploads.append(Upload(data, content_type, name, url, dict(request.headers)))
        return web.json_response({"access_url": url})

    def _json(self, job: Job, payload: Any, status: int = 200) -> web.Response:
        return web.json_response(
            payload, status=status, headers={"x-fal-request-id": job.request_id}
        )

    def _pick_script(self, app_id: str) -> Script:
        for entry in self._scripts:
            prefix, script, times = entry
            if prefix is None or app_id == prefix or app_id.startswith(prefix.rstrip("/") + "/"):
                if times is not None:
                    entry[2] = times - 1
                    if entry[2] <= 0:
                        self._scripts.remove(entry)
                return copy.deepcopy(script)
        return copy.deepcopy(self.default_script)

    def _validate(self, args: dict[str, Any], app_id: str = "") -> FalFailure | None:
        schema = self.schemas.get(app_id)
        if schema is not None:
            errors = schema.errors(args)
            return FalFailure(status=422, detail=fal_detail(errors)) if errors else None
        if is_upscaler(app_id):
            if not isinstance(args.get("image_url"), str):
                return validation_failure("image_url", "Field required", "missing")
            return None
        if "image-to-image" in app_id and not isinstance(args.get("image_url"), str):
            return validation_failure("image_url", "Field required", "missing")
        if not isinstance(args.get("prompt"), str):
            return validation_failure("prompt", "Field required", "missing")
        n = args.get("num_images", 1)
        if not isinstance(n, int) or not 1 <= n <= 4:
            return validation_failure("num_images", "Input should be between 1 and 4")
        size = args.get("image_size", DEFAULT_IMAGE_SIZE)
        if isinstance(size, str) and size not in IMAGE_SIZES:
            return validation_failure("image_size", f"Unknown image size {size!r}", "enum")
        if not isinstance(size, str | dict):
            return validation_failure("image_size", "Invalid image size")
        return None

    async def _submit(self, request: web.Request) -> web.Response:
        parts = request.path.strip("/").split("/")
        need = 3 if parts[0] in _NAMESPACES else 2
        if len(parts) < need or not all(parts[:need]):
            return web.json_response({"detail": "Invalid app id"}, status=404)
        try:
            args = json.loads(await request.read() or b"null")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            failure = validation_failure("body", "Input should be a valid dictionary", "dict_type")
            return web.json_response(failure.body(), status=422, headers=failure.headers())
        app_id, base = "/".join(parts), "/".join(parts[:need])
        script = self._pick_script(app_id)
        if self.validate and script.fail is None and script.result is None:
            invalid = self._validate(args, app_id)
            if invalid is not None:
                script = replace(script, fail=invalid, steps=0, run_s=min(script.run_s, 0.05))
        prepared = None
        if script.fail is None and script.result is None and apps.fal_app(app_id) is not None:
            found = apps.fal_prepare(self, app_id, args)  # the app reads its inputs
            if isinstance(found, list):
                failure = FalFailure(status=422, detail=found)
                script = replace(script, fail=failure, steps=0, run_s=min(script.run_s, 0.05))
            else:
                prepared = found
        seed = args.get("seed")
        rid = str(uuid.uuid4())
        job = Job(
            request_id=rid,
            app_id=app_id,
            base=base,
            arguments=args,
            script=script,
            submitted_at=time.monotonic(),
            submitted_wall=datetime.now(UTC),
            seed=seed if isinstance(seed, int) else random.randrange(2**32),
            webhook_url=request.query.get("fal_webhook"),
            headers=dict(request.headers),
            prepared=prepared,
        )
        self.jobs[rid] = job
        self.submits.append((app_id, args, rid))
        self._new.set()
        if job.webhook_url is not None:
            self.webhooks.schedule(lambda: self._webhook_when_done(job))
        return self._json(job, {**self._urls(base, rid), "queue_position": 0})

    def status_json(self, job: Job, now: float, with_logs: bool) -> dict[str, Any]:
        """The status body the queue would answer at monotonic time ``now``."""
        out: dict[str, Any] = self._urls(job.base, job.request_id)
        if job.is_done(now):
            out.update(status="COMPLETED", logs=job.logs(now) if with_logs else None)
            ran = job.cancel_at is None or job.cancel_at > job.queue_end
            out["metrics"] = {"inference_time": job.script.run_s} if ran else {}
            failure = job.failure
            if failure is not None:
                out["error"] = failure.status_error
                out["error_type"] = failure.status_error_type
        elif now < job.queue_end:
            positions = job.script.queue_positions or [0]
            frac = (now - job.submitted_at) / job.script.queue_s
            idx = min(len(positions) - 1, int(frac * len(positions)))
            out.update(status="IN_QUEUE", queue_position=positions[idx], logs=None, metrics={})
        else:
            out.update(status="IN_PROGRESS", logs=job.logs(now) if with_logs else None)
        return out

    def _result(self, job: Job) -> web.Response:
        if not job.is_done(time.monotonic()):
            return self._json(job, {"detail": "Request is still in progress"}, status=400)
        job.result_fetches += 1
        failure = job.failure
        if failure is not None:
            return web.json_response(
                failure.body(),
                status=failure.status,
                headers={"x-fal-request-id": job.request_id, **failure.headers()},
            )
        if job.result is None:
            job.result = self._make_result(job)
        return self._json(job, job.result)

    def _make_result(self, job: Job) -> dict[str, Any]:
        args, script = job.arguments, job.script
        if script.result is not None:
            return copy.deepcopy(script.result)
        if job.prepared is not None:  # an app with its own output (apps.py)
            return apps.fal_result(self, job, job.prepared)
        if is_upscaler(job.app_id):
            # Like fal-ai/esrgan: one `image`, `scale` times the input (small here).
            data = make_image(32, 32, seed_color(job.seed, 0), fmt="png")
            url = self.cdn.put(f"files/{job.request_id}/upscaled.png", data, CONTENT_TYPES["png"])
            return {
                "image": {"url": url, "width": 2048, "height": 2048, "content_type": "image/png"}
            }
        size = args.get("image_size", DEFAULT_IMAGE_SIZE)
        if isinstance(size, dict):
            width, height = int(size.get("width", 1024)), int(size.get("height", 768))
        else:
            width, height = IMAGE_SIZES.get(size, IMAGE_SIZES[DEFAULT_IMAGE_SIZE])
        n = int(args.get("num_images", 1) or 1)
        fmt = str(args.get("output_format") or self.default_output_format).lower()
        fmt = "jpeg" if fmt == "jpg" else fmt
        ext = "jpg" if fmt == "jpeg" else fmt
        nsfw = script.nsfw if isinstance(script.nsfw, list) else [script.nsfw] * n
        nsfw = (list(nsfw) + [False] * n)[:n]
        scale = 1 if self.full_size_images else 16
        images = []
        for i in range(n):
            color = (0, 0, 0) if nsfw[i] else seed_color(job.seed, i)
            if self.image_bytes is not None and fmt == "png" and not nsfw[i]:
                data = self.image_bytes  # shared, not re-encoded: cheap at benchmark scale
            else:
                data = make_image(max(1, width // scale), max(1, height // scale), color, fmt=fmt)
            url = self.cdn.put(f"files/{job.request_id}/{i}.{ext}", data, CONTENT_TYPES[fmt])
            images.append(
                {"url": url, "width": width, "height": height, "content_type": CONTENT_TYPES[fmt]}
            )
        return {
            "images": images,
            "timings": {"inference": script.run_s},
            "seed": job.seed,
            "has_nsfw_concepts": nsfw,
            "prompt": args.get("prompt", ""),
        }

    async def _webhook_when_done(self, job: Job) -> Delivery | None:
        """The signed webhook of ``job``, once it has ended (None: the fake closed first)."""
        while not job.is_done(time.monotonic()):
            if self._closing.is_set():
                return None
            job.changed.clear()
            upcoming = job.next_change(time.monotonic())
            wait = 0.5 if upcoming is None else max(upcoming - time.monotonic(), 0.0) + 0.001
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await job.changed.wait()
        failure = job.failure
        out: dict[str, Any] = {"request_id": job.request_id, "gateway_request_id": job.request_id}
        if failure is None:
            if job.result is None:
                job.result = self._make_result(job)
            out.update(status="OK", payload=job.result)
        else:
            out.update(status="ERROR", error=failure.status_error, payload=failure.body())
        body = json.dumps(out).encode()
        headers = fal_headers(self.webhook_key, job.request_id, self.webhook_user_id, body)
        assert job.webhook_url is not None
        return Delivery(job.webhook_url, job.request_id, headers, body)

    def _cancel(self, job: Job) -> web.Response:
        now = time.monotonic()
        if job.is_done(now):
            return self._json(job, {"status": "ALREADY_COMPLETED"}, status=400)
        job.cancelled = True
        if now < job.queue_end or job.script.honour_cancel:
            job.cancel_at = now
            job.changed.set()
        return self._json(job, {"status": "CANCELLATION_REQUESTED"}, status=202)

    async def _stream(self, request: web.Request, job: Job) -> web.StreamResponse:
        job.stream_opens += 1
        with_logs = _flag(request)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "x-fal-request-id": job.request_id,
            }
        )
        await resp.prepare(request)
        last: dict[str, Any] | None = None
        last_write = time.monotonic()
        try:
            while not self._closing.is_set():
                job.changed.clear()  # before looking: a cancel from now on wakes the wait
                now = time.monotonic()
                payload = self.status_json(job, now, with_logs)
                if payload != last:
                    await resp.write(f"data: {json.dumps(payload)}\n\n".encode())
                    last, last_write = payload, now
                    if payload["status"] == "COMPLETED":
                        await asyncio.sleep(self.stream_end_delay)
                        break
                elif now - last_write >= self.stream_keepalive:
                    await resp.write(b": ping\n\n")
                    last_write = now
                # Sleep until the next scripted change, a cancel, or the next keepalive (not
                # a fixed tick: a thousand open streams must cost next to nothing).
                wake = last_write + self.stream_keepalive
                upcoming = job.next_change(now)
                if upcoming is not None:
                    wake = min(wake, upcoming)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(wake - time.monotonic(), 0.0) + 0.001):
                        await job.changed.wait()
            await resp.write_eof()
        except ConnectionError:
            pass
        return resp

    async def close(self) -> None:
        self._closing.set()
        for job in self.jobs.values():
            job.changed.set()  # open status streams notice the shutdown at once
        await self.webhooks.close()
        await super().close()


def _flag(request: web.Request) -> bool:
    return request.query.get("logs", "").lower() in ("1", "true")
