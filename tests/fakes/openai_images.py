"""A fake OpenAI-compatible images API (plain HTTP) that the real ``openai`` SDK accepts.

The SDK's ``base_url`` is ``{base_url}/v1`` (as for api.openai.com); it sends
``POST /v1/images/generations`` with a JSON body of exactly the arguments given (``model,
prompt, n, size, response_format, …``), ``Authorization: Bearer <key>`` and its
``x-stainless-*`` headers, and ``GET /v1/models``.

Per-model rules (``MODELS``) follow OpenAI's: GPT image models draw 1024x1024, 1536x1024 and
1024x1536 (or ``auto``), always answer ``b64_json`` with ``output_format``/``usage``, and reject
``response_format`` as an unknown parameter; DALL·E 3 draws 1024x1024, 1792x1024 and 1024x1792
with ``n = 1`` only and answers ``url`` (default) or ``b64_json``, with a ``revised_prompt``.
Unknown body keys are refused like the real API. Errors use the ``{"error": {message, type,
param, code}}`` shape; a 401 for a missing or wrong key, 400 ``content_policy_violation`` for
prompts containing a word in ``blocked_words``.

``POST /v1/images/edits`` (multipart, the mask's transparent area = edit) and
``POST /v1/chat/completions`` (a vision model answering /describe) are in ``openai_actions.py``.

Each accepted call blocks for ``run_s`` before answering (the API has no queue);
``hang_calls`` makes it never answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .cdn import FakeCDN, FakeServer, Rec, make_image, record_of, seed_color
from .openai_actions import (
    VISION_PROMPTS,
    Edit,
    completion,
    edit_body,
    form_parts,
    image_parts,
    read_edit,
)


@dataclass(frozen=True)
class ModelRules:
    sizes: tuple[str, ...]
    max_n: int = 10
    formats: tuple[str, ...] = ("url", "b64_json")  # () = response_format not accepted
    default_format: str = "url"
    revises_prompt: bool = False


GPT_IMAGE = ModelRules(
    sizes=("1024x1024", "1536x1024", "1024x1536", "auto"), formats=(), default_format="b64_json"
)
MODELS: dict[str, ModelRules] = {
    "gpt-image-1.5": GPT_IMAGE,
    "gpt-image-1-mini": GPT_IMAGE,
    "dall-e-3": ModelRules(
        sizes=("1024x1024", "1792x1024", "1024x1792"), max_n=1, revises_prompt=True
    ),
    "dall-e-2": ModelRules(sizes=("256x256", "512x512", "1024x1024")),
}
KNOWN_PARAMS = {
    "model",
    "prompt",
    "n",
    "size",
    "response_format",
    "quality",
    "style",
    "user",
    "background",
    "moderation",
    "output_compression",
    "output_format",
    "partial_images",
    "stream",
}


def error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


@dataclass
class Generation:
    """One accepted call and what was answered."""

    body: dict[str, Any]
    headers: dict[str, str]
    started_at: float
    answered_at: float | None = None
    images: list[dict[str, Any]] = field(default_factory=list)


class FakeOpenAIImages(FakeServer):
    def __init__(self, cdn: FakeCDN) -> None:
        super().__init__()
        self.cdn = cdn
        self.keys: set[str] = {"sk-test-key"}
        self.models = dict(MODELS)
        self.run_s = 0.3
        self.hang_calls = False  # accepted calls never answer
        self.blocked_words: set[str] = {"forbidden"}
        self.requests: list[Rec] = []
        self.generations: list[Generation] = []
        self.edits: list[Edit] = []  # POST /v1/images/edits (openai_actions.py), as sent
        self.chats: list[dict[str, Any]] = []  # POST /v1/chat/completions bodies
        self.vision_prompts: tuple[str, ...] = VISION_PROMPTS  # what the vision model answers
        self.chat_answer: str | None = None  # any chat's answer instead (prompt help)

    # -- test API --------------------------------------------------------------------------
    def config(self, **extra: Any) -> dict[str, Any]:
        """The ``[providers.openai]`` table that points the bot here."""
        return {
            "enabled": True,
            "base_url": f"{self.base_url}/v1",
            "poll_interval_s": 0.2,
            **extra,
        }

    @property
    def posts(self) -> list[Rec]:
        return [r for r in self.requests if r.method == "POST"]

    # -- server ----------------------------------------------------------------------------
    def _record(self, request: web.Request, body: bytes) -> None:
        self.requests.append(record_of(request, body))

    def _default_fault_body(self, status: int) -> Any:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": "Injected fault", "type": kind, "param": None, "code": None}}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if key.strip() not in self.keys:
            shown = key.strip()[:3] + "*" * 4 + key.strip()[-4:]
            return error(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        path, method = request.path.rstrip("/"), request.method
        if path == "/v1/models" and method == "GET":
            return web.json_response(
                {
                    "object": "list",
                    "data": [
                        {"id": name, "object": "model", "created": 1700000000, "owned_by": "fake"}
                        for name in self.models
                    ],
                }
            )
        if path == "/v1/images/generations" and method == "POST":
            return await self._generate(request)
        if path == "/v1/images/edits" and method == "POST":
            return await self._edit(request)
        if path == "/v1/chat/completions" and method == "POST":
            return await self._chat(request)
        return error(404, f"Invalid URL ({method} {request.path})", code="unknown_url")

    def _validate(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return error(400, "We could not parse the JSON body of your request.")
        for key in body:
            if key not in KNOWN_PARAMS:
                return error(
                    400, f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter"
                )
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return error(400, "Missing required parameter: 'prompt'.", param="prompt")
        model = body.get("model", "dall-e-2")
        rules = self.models.get(model)
        if rules is None:
            return error(
                400, f"The model '{model}' does not exist.", param="model", code="model_not_found"
            )
        fmt = body.get("response_format")
        if fmt is not None:
            if not rules.formats:
                return error(
                    400,
                    "Unknown parameter: 'response_format'.",
                    param="response_format",
                    code="unknown_parameter",
                )
            if fmt not in rules.formats:
                return error(
                    400,
                    f"Invalid value: '{fmt}'. Supported values are: 'url' and 'b64_json'.",
                    param="response_format",
                    code="invalid_value",
                )
        n = body.get("n", 1)
        if not isinstance(n, int) or n < 1:
            return error(400, f"Invalid 'n': expected a positive integer, got {n!r}.", param="n")
        if n > rules.max_n:
            return error(
                400,
                f"Invalid 'n': integer above maximum value. Expected a value <= {rules.max_n}, "
                f"but got {n} instead.",
                param="n",
                code="integer_above_max_value",
            )
        size = body.get("size", rules.sizes[0])
        if size not in rules.sizes:
            allowed = ", ".join(f"'{s}'" for s in rules.sizes)
            return error(
                400,
                f"Invalid value: '{size}'. Supported values are: {allowed}.",
                param="size",
                code="invalid_value",
            )
        if any(word in prompt.lower() for word in self.blocked_words):
            return error(
                400,
                "Your request was rejected as a result of our safety system. Your prompt may "
                "contain text that is not allowed by our safety system.",
                type="image_generation_user_error",
                code="content_policy_violation",
            )
        return None

    async def _edit(self, request: web.Request) -> web.StreamResponse:
        parts = form_parts(request.headers.get("Content-Type", ""), await request.read())
        found = read_edit(parts)
        if isinstance(found, tuple):
            return error(400, found[0], param=found[1], code="invalid_value")
        body = edit_body(found)
        refused = self._validate(body)
        if refused is not None:
            return refused
        self.edits.append(found)
        return await self._answer(body, request)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        found = image_parts(body)
        if isinstance(found, str):
            return error(400, found, param="messages", code="invalid_value")
        self.chats.append(body)
        text = self.chat_answer
        if text is None:
            text = "\n".join(f"{n}. {p}" for n, p in enumerate(self.vision_prompts, 1))
        return web.json_response(completion(str(body["model"]), text))

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        refused = self._validate(body)
        if refused is not None:
            return refused
        return await self._answer(body, request)

    async def _answer(self, body: dict[str, Any], request: web.Request) -> web.StreamResponse:
        generation = Generation(body, dict(request.headers), time.monotonic())
        self.generations.append(generation)
        if self.hang_calls:
            return await self.hang()
        with contextlib.suppress(TimeoutError):  # the server closing ends the wait early
            await asyncio.wait_for(self._closing.wait(), self.run_s)
        rules = self.models[body.get("model", "dall-e-2")]
        fmt = body.get("response_format") or rules.default_format
        size = body.get("size", rules.sizes[0])
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        seed = random.randrange(2**32)
        data = []
        for index in range(int(body.get("n", 1))):
            png = make_image(max(1, width // 16), max(1, height // 16), seed_color(seed, index))
            if fmt == "b64_json":
                item: dict[str, Any] = {"b64_json": base64.b64encode(png).decode("ascii")}
            else:
                item = {"url": self.cdn.put(f"oai/{seed}-{index}.png", png)}
            if rules.revises_prompt:
                item["revised_prompt"] = f"A detailed rendering of: {body['prompt']}"
            data.append(item)
        generation.images = data
        generation.answered_at = time.monotonic()
        answer: dict[str, Any] = {"created": int(time.time()), "data": data}
        if not rules.formats:  # GPT image models describe what they made
            answer.update(
                background="opaque",
                output_format="png",
                quality="medium",
                size=size if size != "auto" else "1024x1024",
                usage={
                    "input_tokens": 10,
                    "output_tokens": 1056 * len(data),
                    "total_tokens": 10 + 1056 * len(data),
                    "input_tokens_details": {"image_tokens": 0, "text_tokens": 10},
                },
            )
        return web.json_response(answer)
