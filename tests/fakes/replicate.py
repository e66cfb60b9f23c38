"""A fake Replicate HTTP API (plain HTTP) that the real ``replicate`` client (1.0.x) accepts.

``base_url`` has no ``/v1``: replicate 1.0.7 uses ``base_url`` (or ``$REPLICATE_BASE_URL``,
default ``https://api.replicate.com``) as the httpx ``base_url`` and requests paths that already
start with ``/v1/`` (``/v1/models/{owner}/{name}/predictions``, ``/v1/predictions/{id}``, ...).

Prediction timeline (time-based), from the create time t0: ``starting`` for ``queue_s``,
``processing`` for ``run_s`` (``logs`` gets ``Using seed: N`` then one tqdm line per step, step
``i`` at ``queue_s + run_s * i / (steps + 1)``), then ``succeeded`` (or ``failed`` with ``error``).
``hang`` stays ``processing``; cancelling an unfinished prediction makes it ``canceled`` at once.
``abort`` ends it ``aborted`` when it would have started (never ran: no logs, no predict_time).
``drop`` leaves that many images out of the output, as cog-flux does with images its safety
checker flags; when that is all of them the prediction fails with cog-flux's own error.

Files: ``POST /v1/files`` (multipart ``content`` with optional ``filename``/``type`` fields)
stores the bytes and answers the file object (``urls.get`` is ``/v1/files/{id}`` here, served
with auth); each upload is kept in ``uploads``.

Models (``published.py``): the bot's shipped snapshots (official models get a stable made-up
version id; a community model keeps its snapshot's version), plus any a test adds with
``publish``. ``GET /v1/models/{owner}/{name}`` answers the model with ``is_official`` and its
``latest_version`` (``id``, ``openapi_schema``), ``.../versions/{id}`` one version. A prediction
of a known model is validated against its version's ``Input`` schema (422 ``Input validation
failed`` with gojsonschema's ``invalid_fields``); other models keep a few lax checks. Like
Replicate, a community model has no model route: ``POST /v1/models/{owner}/{name}/predictions``
(and ``"version": "owner/name"``) answers 422 ``Invalid version or not permitted``; it runs by
``"version": "<id>"`` or ``"owner/name:<id>"``, and so does an unknown version id not.

Models with their own output (``apps.REPLICATE_APPS``: flux-fill-dev, multi-image-kontext-pro,
hailuo-02, kling-v1.6-pro) read their input files at create and answer in their own shape (or
fail as the model does); see ``apps.py``.

Webhooks (``webhooks.py``): ``GET /v1/webhooks/default/secret`` answers ``{"key":
webhook_secret}`` (a ``whsec_`` secret made per fake); a prediction created with ``webhook``
(and ``webhook_events_filter`` naming ``completed``, or none) is POSTed there when it ends, the
body its JSON as ``GET`` would answer, signed as Standard Webhooks. Only the ``completed``
event is sent. Hooks to drop, delay, tamper with or replay one are on ``webhooks``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import os
import random
import re
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from typing import Any

from aiohttp import web
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
from .cog_flux import lora_weights_error
from .published import REPLICATE_INPUT, Published, replicate_fields, shipped
from .webhooks import Delivery, WebhookSender, standard_headers

DEFAULT_LOG_TEMPLATE = "{pct}%|{bar}| {step}/{total} [00:00<00:01,  3.20it/s]"

# flux-dev's aspect ratios (1 megapixel) on Replicate.
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}
_ERROR_TYPE = "https://replicate.com/docs/topics/predictions/errors"
_ID_CHARS = string.ascii_lowercase + string.digits
_TERMINAL = ("succeeded", "failed", "canceled", "aborted")
# cog-flux's predict.py when its safety checker flags every image
ALL_NSFW = (
    "All generated images contained NSFW content. Try running it again with a different prompt."
)


def problem(status: int, detail: str, title: str | None = None, **extra: Any) -> web.Response:
    """An RFC 7807 problem response like Replicate's."""
    body = {
        "type": _ERROR_TYPE,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return web.json_response(body, status=status, content_type="application/problem+json")


def invalid_version() -> web.Response:
    """What Replicate answers for a version that does not exist or may not be run that way
    (a community model on the model route): replicate-javascript#307, replicate-python#320."""
    return problem(
        422,
        "The specified version does not exist (or perhaps you don't have permission to use it?)",
        "Invalid version or not permitted",
    )


def official_version(model: str) -> str:
    """The stable made-up 64-hex version id of an official model's snapshot."""
    return hashlib.sha256(f"fake-replicate:{model}".encode()).hexdigest()


@dataclass
class PublishedModel:
    """A model the fake knows the schemas of: its versions, oldest first (the last is the
    latest)."""

    official: bool
    versions: dict[str, Published] = field(default_factory=dict)

    @property
    def latest(self) -> str:
        return next(reversed(self.versions))


def invalid_input(errors: list[tuple[str, str, str]]) -> web.Response:
    """422 ``Input validation failed`` from ``(field, type, description)`` triples."""
    detail = "".join(f"- {f}: {d}\n" for f, _, d in errors)
    fields = [{"type": t, "field": f, "description": d} for f, t, d in errors]
    return problem(422, detail, "Input validation failed", invalid_fields=fields)


@dataclass
class Script:
    """How the next created prediction(s) behave; ``output`` replaces the generated URL list."""

    queue_s: float = 0.3
    run_s: float = 0.6
    steps: int = 4
    log_template: str = DEFAULT_LOG_TEMPLATE
    fail: str | None = None
    hang: bool = False
    output: Any = None
    abort: bool = False
    drop: int = 0


@dataclass(eq=False)
class FakePrediction:
    """One prediction and what the fake knows about it."""

    id: str
    model: str
    version: str
    input: dict[str, Any]
    script: Script
    created_at: float
    created_wall: datetime
    seed: int
    webhook: str | None = None
    webhook_events_filter: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    cancel_at: float | None = None
    polls: int = 0
    output: Any = None
    prepared: apps.Prepared | None = None  # the inputs a model in apps.REPLICATE_APPS read

    @property
    def start_at(self) -> float:
        return self.created_at + max(self.script.queue_s, 0.0)

    @property
    def run_end(self) -> float:
        return self.start_at + max(self.script.run_s, 0.0)

    @property
    def finished_at(self) -> float | None:
        if self.cancel_at is not None:
            return self.cancel_at
        if self.script.abort:
            return self.start_at
        return None if self.script.hang else self.run_end

    @property
    def requested(self) -> int:
        n = self.input.get("num_outputs", 1)
        return n if isinstance(n, int) else 1

    @property
    def error(self) -> str | None:
        """What a finished, uncancelled prediction fails with (None: it succeeds)."""
        if self.script.fail is not None:
            return self.script.fail
        if self.script.drop and self.script.drop >= self.requested:
            return ALL_NSFW
        return None

    def is_done(self, now: float) -> bool:
        end = self.finished_at
        return end is not None and now >= end

    def status(self, now: float) -> str:
        if self.cancel_at is not None and now >= self.cancel_at:
            return "canceled"
        if self.is_done(now):
            if self.script.abort:
                return "aborted"
            return "failed" if self.error is not None else "succeeded"
        return "starting" if now < self.start_at else "processing"

    def logs(self, now: float) -> str:
        end = self.finished_at
        limit = now if end is None else min(now, end)
        if limit < self.start_at or self.script.abort:
            return ""
        lines = [f"Using seed: {self.seed}"]
        n = self.script.steps
        for i in range(1, n + 1):
            if self.start_at + self.script.run_s * i / (n + 1) > limit:
                break
            lines.append(_tqdm_line(self.script.log_template, i, n))
        return "".join(line + "\n" for line in lines)

    def wall(self, t: float) -> str:
        stamp = self.created_wall + timedelta(seconds=t - self.created_at)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeReplicate(FakeServer):
    """Replicate's predictions API on ``http://127.0.0.1:{port}``; outputs go to ``cdn``."""

    def __init__(self, cdn: FakeCDN) -> None:
        super().__init__()
        self.cdn = cdn
        self.default_script = Script()
        self.bad_tokens: set[str] = set()
        self.full_size_images = False
        # PNG bytes every generated image uses instead of a fresh solid-colour one (benchmarks)
        self.image_bytes: bytes | None = None
        self.default_output_format = "png"  # real flux-dev defaults to "webp"
        self.validate = True
        # origins standing in for https://civitai.com when lora_weights is judged (cog_flux.py)
        self.civitai_origins: set[str] = set()
        self.version_models: dict[str, str] = {}  # version id -> model, for made-up models
        self.models: dict[str, PublishedModel] = {}
        for model, data in shipped("replicate").items():
            official = bool(data.get("official", True))
            version = official_version(model) if official else str(data["version"])
            self.publish(model, data["openapi"], version=version, official=official)
        self.requests: list[Rec] = []
        self.creates: list[tuple[str, dict[str, Any], str]] = []
        self.predictions: dict[str, FakePrediction] = {}
        self.uploads: list[Upload] = []
        self.masks: list[Image.Image] = []  # the decoded mask of every fill (apps.py)
        self.video_bytes: int | None = None  # the size of every generated video (apps.py)
        self.files: dict[str, dict[str, Any]] = {}
        self.webhook_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.webhooks = WebhookSender()
        self._scripts: list[list[Any]] = []
        self._wait_cursor = 0
        self._new = asyncio.Event()

    # -- test API --------------------------------------------------------------------------
    def script(self, model: str | None, script: Script, *, times: int | None = None) -> None:
        """Use ``script`` for predictions of ``model`` ("owner/name"; None: any model).

        ``times=None`` keeps it until replaced; the newest matching script wins.
        """
        self._scripts.insert(0, [model, script, times])

    def publish(
        self, model: str, openapi_schema: dict[str, Any], *, version: str, official: bool = False
    ) -> None:
        """Publish a version of ``model`` ("owner/name") with its OpenAPI document (cog's, with
        ``components.schemas.Input``); it becomes the model's latest version."""
        known = self.models.setdefault(model, PublishedModel(official))
        known.official = official
        known.versions.pop(version, None)
        known.versions[version] = Published(openapi_schema, REPLICATE_INPUT)

    def completed_at(self, prediction_id: str) -> float | None:
        """Monotonic time the prediction became terminal, or None if not yet."""
        pred = self.predictions.get(prediction_id)
        if pred is None or not pred.is_done(time.monotonic()):
            return None
        return pred.finished_at

    async def wait_for_create(self, timeout: float = 10) -> FakePrediction:
        """The next created prediction not yet returned by this method (waits for it)."""
        async with asyncio.timeout(timeout):
            while self._wait_cursor >= len(self.creates):
                self._new.clear()
                await self._new.wait()
        pid = self.creates[self._wait_cursor][2]
        self._wait_cursor += 1
        return self.predictions[pid]

    # -- server ----------------------------------------------------------------------------
    def _record(self, request: web.Request, body: bytes) -> None:
        self.requests.append(record_of(request, body))

    def _default_fault_body(self, status: int) -> Any:
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
        return {"type": _ERROR_TYPE, "title": title, "status": status, "detail": "Injected fault"}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return problem(401, "You did not pass an authentication token", "Unauthenticated")
        if token.strip() in self.bad_tokens:
            return problem(401, "You did not pass a valid authentication token", "Unauthenticated")
        path, method = request.path.rstrip("/"), request.method
        if method == "GET" and path in ("/v1/account", "/v1/webhooks/default/secret"):
            return self._account(path)
        if (m := re.fullmatch(r"/v1/models/([^/]+)/([^/]+)(?:/versions/([^/]+))?", path)) and (
            method == "GET"
        ):
            return self._model(f"{m[1]}/{m[2]}", m[3])
        if m := re.fullmatch(r"/v1/models/([^/]+)/([^/]+)/predictions", path):
            if method != "POST":
                return problem(405, "Method not allowed")
            return await self._create(request, f"{m[1]}/{m[2]}")
        if path == "/v1/predictions" and method == "POST":
            return await self._create(request, None)
        if path == "/v1/files" and method == "POST":
            return await self._upload(request)
        if m := re.fullmatch(r"/v1/files/([^/]+)", path):
            item = self.files.get(m[1])
            if item is None:
                return problem(404, "Not found.")
            return web.json_response(item) if method == "GET" else problem(405, "Not allowed")
        if m := re.fullmatch(r"/v1/predictions/([^/]+)(/cancel)?", path):
            pred = self.predictions.get(m[1])
            if pred is None:
                return problem(404, "Not found.")
            if m[2] and method == "POST":
                return self._cancel(pred)
            if not m[2] and method == "GET":
                pred.polls += 1
                return web.json_response(self.prediction_json(pred, time.monotonic()))
            return problem(405, "Method not allowed")
        return problem(404, "Not found.")

    def _account(self, path: str) -> web.Response:
        """``GET /v1/account`` and the account's webhook secret."""
        if path == "/v1/webhooks/default/secret":
            return web.json_response({"key": self.webhook_secret})
        return web.json_response(
            {"type": "user", "username": "fake-user", "name": "Fake User", "github_url": None}
        )

    def _model(self, model: str, version: str | None) -> web.Response:
        """``GET /v1/models/{owner}/{name}`` and ``.../versions/{id}``."""
        known = self.models.get(model)
        if known is None or (version is not None and version not in known.versions):
            return problem(404, "Not found.")
        if version is not None:
            return web.json_response(_version_json(version, known.versions[version]))
        owner, name = model.split("/", 1)
        return web.json_response(
            {
                "url": f"https://replicate.com/{model}",
                "owner": owner,
                "name": name,
                "description": None,
                "visibility": "public",
                "github_url": None,
                "paper_url": None,
                "license_url": None,
                "run_count": 0,
                "cover_image_url": None,
                "default_example": None,
                "is_official": known.official,
                "latest_version": _version_json(known.latest, known.versions[known.latest]),
            }
        )

    def _target(
        self, route_model: str | None, ref: Any
    ) -> tuple[str, str, Published | None] | web.Response:
        """Which model and version a create runs, and the schema its input must meet (None:
        a model the fake has no schema of), or the refusal."""
        if route_model is not None:  # the model route: official models only
            known = self.models.get(route_model)
            if known is None:
                return route_model, "hidden", None
            if not known.official:
                return invalid_version()
            return route_model, "hidden", known.versions[known.latest]
        if not isinstance(ref, str) or not ref:
            return invalid_input([("version", "required", "version is required")])
        model, colon, version = ref.partition(":")
        if not colon and "/" in ref:  # "owner/name": official models only (2025-08)
            return self._target(ref, None)
        if not colon:
            version = ref
            model = next(
                (m for m, k in self.models.items() if ref in k.versions),
                self.version_models.get(ref, ""),
            )
        known = self.models.get(model)
        if known is None:
            return (model, version, None) if model else invalid_version()
        schema = known.versions.get(version)
        return (model, version, schema) if schema is not None else invalid_version()

    async def _upload(self, request: web.Request) -> web.Response:
        """``POST /v1/files``: the multipart form is parsed from the body the recording
        middleware already read (aiohttp can't read the stream twice)."""
        head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + await request.read())
        fields: dict[str, Any] = {}
        if message.is_multipart():
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                fields[str(name)] = part
        content = fields.get("content")
        if content is None or content.get_filename() is None:
            return problem(400, "The request must include a file in the `content` field")
        data = content.get_payload(decode=True) or b""
        name = _text(fields.get("filename")) or content.get_filename()
        content_type = _text(fields.get("type")) or content.get_content_type()
        fid = "".join(random.choices(_ID_CHARS, k=26))
        now = datetime.now(UTC)
        url = f"{self.base_url}/v1/files/{fid}"
        self.files[fid] = {
            "id": fid,
            "name": name,
            "content_type": content_type,
            "size": len(data),
            "etag": hashlib.md5(data).hexdigest(),
            "checksums": {
                "sha256": hashlib.sha256(data).hexdigest(),
                "md5": hashlib.md5(data).hexdigest(),
            },
            "metadata": {},
            "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "expires_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "urls": {"get": url},
        }
        self.uploads.append(Upload(data, content_type, name, url, dict(request.headers)))
        return web.json_response(self.files[fid], status=201)

    def _pick_script(self, model: str) -> Script:
        for entry in self._scripts:
            prefix, script, times = entry
            if prefix is None or model == prefix:
                if times is not None:
                    entry[2] = times - 1
                    if entry[2] <= 0:
                        self._scripts.remove(entry)
                return copy.deepcopy(script)
        return copy.deepcopy(self.default_script)

    def _validate(self, inp: dict[str, Any], model: str = "") -> list[tuple[str, str, str]]:
        errors = []
        if "esrgan" in model:
            if not isinstance(inp.get("image"), str):
                errors.append(("input", "required", "image is required"))
            return errors
        if not isinstance(inp.get("prompt"), str):
            errors.append(("input", "required", "prompt is required"))
        n = inp.get("num_outputs", 1)
        if not isinstance(n, int) or not 1 <= n <= 4:
            errors.append(("input.num_outputs", "number_one_of", "Must be between 1 and 4"))
        ratio = inp.get("aspect_ratio", "1:1")
        if ratio != "custom" and ratio not in ASPECT_RATIOS:
            allowed = ", ".join(f"'{r}'" for r in [*ASPECT_RATIOS, "custom"])
            errors.append(("input.aspect_ratio", "enum", f"must be one of: {allowed}"))
        return errors

    async def _create(self, request: web.Request, model: str | None) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return problem(400, "The request body is not valid JSON", "Bad request")
        target = self._target(model, body.get("version"))
        if isinstance(target, web.Response):
            return target
        model, version, schema = target
        inp = body.get("input")
        if not isinstance(inp, dict):
            return invalid_input([("input", "required", "input is required")])
        if self.validate:
            errors = (
                replicate_fields(schema.errors(inp))
                if schema is not None
                else self._validate(inp, model)
            )
            if errors:
                return invalid_input(errors)
        seed = inp.get("seed")
        pid = "".join(random.choices(_ID_CHARS, k=26))
        events = body.get("webhook_events_filter")
        pred = FakePrediction(
            id=pid,
            model=model,
            version=version or "hidden",
            input=inp,
            script=self._pick_script(model),
            created_at=time.monotonic(),
            created_wall=datetime.now(UTC),
            seed=seed if isinstance(seed, int) else random.randrange(2**32),
            webhook=body.get("webhook"),
            webhook_events_filter=events if isinstance(events, list) else None,
            headers=dict(request.headers),
        )
        lora_error = lora_weights_error(inp.get("lora_weights"), self.civitai_origins)
        if self.validate and lora_error is not None:
            # cog-flux raises while loading the LoRA inside predict(): the prediction is
            # created and then fails with that text, it is not a 422 (see cog_flux.py).
            pred.script.fail, pred.script.hang, pred.script.run_s = lora_error, False, 0.0
        if (
            apps.replicate_app(model) is not None
            and pred.script.fail is None
            and pred.script.output is None
        ):
            found = apps.replicate_prepare(self, model, inp)  # cog and the model read the input
            if isinstance(found, str):
                pred.script.fail, pred.script.hang, pred.script.run_s = found, False, 0.0
            else:
                pred.prepared = found
        self.predictions[pid] = pred
        self.creates.append((model, inp, pid))
        self._new.set()
        events = pred.webhook_events_filter
        if pred.webhook is not None and (events is None or "completed" in events):
            self.webhooks.schedule(lambda: self._webhook_when_done(pred))
        return web.json_response(self.prediction_json(pred, time.monotonic()), status=201)

    async def _webhook_when_done(self, pred: FakePrediction) -> Delivery | None:
        """The signed ``completed`` webhook of ``pred``, once it has ended (None: the fake
        closed first)."""
        while not pred.is_done(now := time.monotonic()):
            if self._closing.is_set():
                return None
            end = pred.finished_at
            await asyncio.sleep(0.05 if end is None else min(max(end - now, 0.0) + 0.001, 0.05))
        body = json.dumps(self.prediction_json(pred, time.monotonic())).encode()
        message_id = "msg_" + "".join(random.choices(_ID_CHARS, k=27))
        assert pred.webhook is not None
        headers = standard_headers(self.webhook_secret, message_id, body)
        return Delivery(pred.webhook, pred.id, headers, body)

    async def close(self) -> None:
        await self.webhooks.close()
        await super().close()

    def _cancel(self, pred: FakePrediction) -> web.Response:
        now = time.monotonic()
        if not pred.is_done(now):
            pred.cancelled = True
            pred.cancel_at = now
        return web.json_response(self.prediction_json(pred, now))

    def prediction_json(self, pred: FakePrediction, now: float) -> dict[str, Any]:
        """The prediction object the API would return at monotonic time ``now``."""
        status = pred.status(now)
        url = f"{self.base_url}/v1/predictions/{pred.id}"
        started = (
            now >= pred.start_at
            and not pred.script.abort
            and (pred.cancel_at is None or pred.cancel_at > pred.start_at)
        )
        out: dict[str, Any] = {
            "id": pred.id,
            "model": pred.model,
            "version": pred.version,
            "input": pred.input,
            "logs": pred.logs(now),
            "output": None,
            "data_removed": False,
            "error": None,
            "status": status,
            "created_at": pred.wall(pred.created_at),
            "started_at": pred.wall(pred.start_at) if started else None,
            "completed_at": None,
            "metrics": {},
            "urls": {
                "get": url,
                "cancel": url + "/cancel",
                "web": f"https://replicate.com/p/{pred.id}",
            },
        }
        if status in _TERMINAL:
            end = pred.finished_at if pred.finished_at is not None else now
            out["completed_at"] = pred.wall(end)
            metrics = {"total_time": round(end - pred.created_at, 3)}
            if started:
                metrics["predict_time"] = round(end - pred.start_at, 3)
            out["metrics"] = metrics
        if status == "failed":
            out["error"] = pred.error
        elif status == "succeeded":
            if pred.output is None:
                pred.output = self._make_output(pred)
            out["output"] = pred.output
        return out

    def _make_output(self, pred: FakePrediction) -> Any:
        if pred.script.output is not None:
            return copy.deepcopy(pred.script.output)
        if pred.prepared is not None:  # a model with its own output (apps.py)
            return apps.replicate_output(self, pred, pred.prepared)
        if "esrgan" in pred.model:  # real-esrgan answers with one URL string
            data = make_image(32, 32, seed_color(pred.seed, 0), fmt="png")
            return self.cdn.put(f"pbxt/{pred.id}/upscaled.png", data, CONTENT_TYPES["png"])
        inp = pred.input
        ratio = inp.get("aspect_ratio", "1:1")
        if ratio == "custom":
            width, height = int(inp.get("width", 1024)), int(inp.get("height", 1024))
        else:
            width, height = ASPECT_RATIOS.get(ratio, ASPECT_RATIOS["1:1"])
        fmt = str(inp.get("output_format") or self.default_output_format).lower()
        fmt = "jpg" if fmt == "jpeg" else fmt
        scale = 1 if self.full_size_images else 16
        urls = []
        # cog-flux skips the images its safety checker flags (here: the last `drop`)
        for i in range(max(int(inp.get("num_outputs", 1) or 1) - pred.script.drop, 0)):
            if self.image_bytes is not None and fmt == "png":
                data = self.image_bytes  # shared, not re-encoded: cheap at benchmark scale
            else:
                data = make_image(
                    max(1, width // scale),
                    max(1, height // scale),
                    seed_color(pred.seed, i),
                    fmt=fmt,
                )
            urls.append(self.cdn.put(f"xezq/{pred.id}/out-{i}.{fmt}", data, CONTENT_TYPES[fmt]))
        return urls


def _version_json(version: str, schema: Published) -> dict[str, Any]:
    return {
        "id": version,
        "created_at": "2025-07-31T00:00:00.000000Z",
        "cog_version": "0.9.0",
        "openapi_schema": copy.deepcopy(schema.document),
    }


def _text(part: Any) -> str | None:
    """A multipart form field's text value, or None when absent or empty."""
    if part is None:
        return None
    value = part.get_payload(decode=True)
    return value.decode("utf-8") if value else None
