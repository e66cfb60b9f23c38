"""A fake Replicate HTTP API (plain HTTP) that the real ``replicate`` client (1.0.x) accepts.

``base_url`` has no ``/v1``: replicate 1.0.7 uses ``base_url`` (or ``$REPLICATE_BASE_URL``,
default ``https://api.replicate.com``) as the httpx ``base_url`` and requests paths that already
start with ``/v1/`` (``/v1/models/{owner}/{name}/predictions``, ``/v1/predictions/{id}``, ...).

Prediction timeline (time-based), from the create time t0: ``starting`` for ``queue_s``,
``processing`` for ``run_s`` (``logs`` gets ``Using seed: N`` then one tqdm line per step, step
``i`` at ``queue_s + run_s * i / (steps + 1)``), then ``succeeded`` (or ``failed`` with ``error``).
``hang`` stays ``processing``; cancelling an unfinished prediction makes it ``canceled`` at once.
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .cdn import CONTENT_TYPES, FakeCDN, FakeServer, Rec, make_image, record_of, seed_color
from .cdn import tqdm_line as _tqdm_line

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
_TERMINAL = ("succeeded", "failed", "canceled")


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
        return None if self.script.hang else self.run_end

    def is_done(self, now: float) -> bool:
        end = self.finished_at
        return end is not None and now >= end

    def status(self, now: float) -> str:
        if self.cancel_at is not None and now >= self.cancel_at:
            return "canceled"
        if self.is_done(now):
            return "failed" if self.script.fail is not None else "succeeded"
        return "starting" if now < self.start_at else "processing"

    def logs(self, now: float) -> str:
        end = self.finished_at
        limit = now if end is None else min(now, end)
        if limit < self.start_at:
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
        self.version_models: dict[str, str] = {}
        self.requests: list[Rec] = []
        self.creates: list[tuple[str, dict[str, Any], str]] = []
        self.predictions: dict[str, FakePrediction] = {}
        self._scripts: list[list[Any]] = []
        self._wait_cursor = 0
        self._new = asyncio.Event()

    # -- test API --------------------------------------------------------------------------
    def script(self, model: str | None, script: Script, *, times: int | None = None) -> None:
        """Use ``script`` for predictions of ``model`` ("owner/name"; None: any model).

        ``times=None`` keeps it until replaced; the newest matching script wins.
        """
        self._scripts.insert(0, [model, script, times])

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
        if path == "/v1/account" and method == "GET":
            return web.json_response(
                {"type": "user", "username": "fake-user", "name": "Fake User", "github_url": None}
            )
        if m := re.fullmatch(r"/v1/models/([^/]+)/([^/]+)/predictions", path):
            if method != "POST":
                return problem(405, "Method not allowed")
            return await self._create(request, f"{m[1]}/{m[2]}", "hidden")
        if path == "/v1/predictions" and method == "POST":
            return await self._create(request, None, None)
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

    async def _create(
        self, request: web.Request, model: str | None, version: str | None
    ) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return problem(400, "The request body is not valid JSON", "Bad request")
        if model is None:
            ref = body.get("version")
            if not isinstance(ref, str) or not ref:
                return invalid_input([("version", "required", "version is required")])
            if ":" in ref:
                model, version = ref.split(":", 1)
            elif "/" in ref:
                model, version = ref, "hidden"
            else:
                model, version = self.version_models.get(ref, "unknown/unknown"), ref
        inp = body.get("input")
        if not isinstance(inp, dict):
            return invalid_input([("input", "required", "input is required")])
        if self.validate and (errors := self._validate(inp, model)):
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
        self.predictions[pid] = pred
        self.creates.append((model, inp, pid))
        self._new.set()
        return web.json_response(self.prediction_json(pred, time.monotonic()), status=201)

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
        started = now >= pred.start_at and (
            pred.cancel_at is None or pred.cancel_at > pred.start_at
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
            out["error"] = pred.script.fail
        elif status == "succeeded":
            if pred.output is None:
                pred.output = self._make_output(pred)
            out["output"] = pred.output
        return out

    def _make_output(self, pred: FakePrediction) -> Any:
        if pred.script.output is not None:
            return copy.deepcopy(pred.script.output)
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
        for i in range(int(inp.get("num_outputs", 1) or 1)):
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
