"""Loopback fake of Discord (REST API + gateway websocket) for end-to-end tests.

One aiohttp server on 127.0.0.1 serves the REST API under ``/api/v10`` (and ``/api/v9``), the
gateway websocket at ``/gateway`` and attachment bytes at ``/attachments/{mid}/{filename}``.
Attachment URLs are signed like Discord's CDN URLs (``?ex=<hex expiry>&is=<hex issued>&hm=<hex
hmac>&``), valid for 24 hours of the fake's clock (``clock_offset``); an expired or badly signed
URL gets 404 "This content is no longer available.". Every message JSON the fake hands out (REST
answers, interaction payloads) carries freshly signed URLs, as do embed images that reference the
message's own attachments (``attachment://``); ``FakeMessage`` keeps the unsigned URLs.
Point discord.py at it with ``discord.http.Route.BASE = fake.api_base``; an
``AutoShardedClient``/``AutoShardedBot`` then finds the gateway through ``GET /gateway/bot``
(a plain ``Client`` needs ``DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)``).

Request bodies are validated against Discord's OpenAPI description when it is available
(``spec_violations``). Wire facts: /work/shared/reference/protocols.md.

discord.py quirks the fake has to honour:

* JSON is only parsed when ``Content-Type`` is exactly ``application/json``.
* A 429 without a ``Via`` header is taken for a Cloudflare ban (raised, never retried).
* ``AutoShardedClient`` re-identifies at ``DiscordWebSocket.DEFAULT_GATEWAY`` (the real Discord)
  when a session cannot be resumed (the bot pins it, ``bot/gateway.py``), so the fake accepts
  RESUME of its own sessions unless a test ends one (``invalidate_session``,
  ``disconnect_gateway(resumable=False)``).
* The client asks for ``compress=zlib-stream`` but parses text frames as plain JSON.
* Every file part is sent as ``application/octet-stream``; like Discord the fake derives an
  attachment's ``content_type`` from its filename.

Spec relaxations (real Discord accepts what discord.py sends, the OpenAPI description is stricter;
everything else in the description is enforced as is):

* ``SnowflakeType`` is a digit string in the description; discord.py sends JSON integers for
  ``attachments[].id`` (the file index), ``allowed_mentions.users/roles`` and
  ``message_reference.*_id``. Non-negative integers are accepted as snowflakes.
* ``default_member_permissions`` of application commands is ``integer | null`` in the description;
  discord.py (and Discord's own documentation) uses a string of digits. Both are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import io
import json
import logging
import math
import mimetypes
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import MultipartReader, WSMsgType, hdrs, web

__all__ = [
    "FakeDiscord",
    "FakeMessage",
    "Interaction",
    "RecordedFile",
    "RecordedRequest",
]

_log = logging.getLogger(__name__)

DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[3] / "shared/discord-api-spec/openapi.json"
DISCORD_EPOCH_MS = 1420070400000
TOKEN_LIFETIME = 15 * 60.0
ATTACHMENT_URL_LIFETIME = 24 * 3600  # seconds a signed attachment URL stays valid
EXPIRED_CONTENT = "This content is no longer available."
ALL_PERMISSIONS = (1 << 51) - 1
EVERYONE_PERMISSIONS = ALL_PERMISSIONS & ~8  # everything but ADMINISTRATOR

FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
_CREATE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
_EDIT_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2

_API_PREFIX = re.compile(r"^/api/v(9|10)(?=/)")
_TRUE = {"1", "true", "True"}


# --------------------------------------------------------------------------------------------
# Records


@dataclass
class RecordedFile:
    """A file part of a multipart request, or an attachment of a message."""

    field_name: str
    filename: str
    content_type: str
    data: bytes
    id: int = 0  # attachment id (0 for request parts)
    description: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class RecordedRequest:
    """One HTTP request the fake received (API requests only) and the status it answered."""

    method: str
    path: str  # after the API base, e.g. "/interactions/5/tok/callback"
    query: dict[str, str]
    json: Any
    files: list[RecordedFile]
    headers: dict[str, str]
    time: float  # time.monotonic() at receipt
    status: int  # 0 while the request is still being answered
    route: str  # e.g. "PATCH /webhooks/{id}/{token}/messages/{mid}"
    params: dict[str, str] = field(default_factory=dict)  # path parameters of `route`


@dataclass
class FakeMessage:
    """A message stored by the fake; ``history`` holds every state, the first is creation."""

    id: int
    channel_id: int
    content: str | None = None
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    attachments: list[RecordedFile] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    interaction_token: str | None = None
    guild_id: int | None = None
    type: int = 0
    author: dict[str, Any] | None = None  # None: the bot user
    interaction_id: int | None = None
    message_reference: dict[str, Any] | None = None
    reactions: list[str] = field(default_factory=list)
    previous_attachments: list[RecordedFile] = field(default_factory=list)  # replaced by edits
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    edited_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other raw fields (registered messages)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    def snapshot(self) -> dict[str, Any]:
        """The state recorded in ``history``."""
        return {
            "content": self.content,
            "embeds": copy.deepcopy(self.embeds),
            "components": copy.deepcopy(self.components),
            "flags": self.flags,
            "attachments": [a.filename for a in self.attachments],
        }


@dataclass
class Interaction:
    """An interaction the fake dispatched, and what the bot answered to it."""

    id: int
    token: str
    payload: dict[str, Any]  # the full `d` of INTERACTION_CREATE
    fake: FakeDiscord | None = field(default=None, repr=False, compare=False)
    sent_at: float = 0.0  # time.monotonic() when dispatched
    response_type: int | None = None  # callback type, once acknowledged
    responded_at: float | None = None  # time.monotonic() of the accepted callback
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    autocomplete_choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    clock_at_send: float = field(default=0.0, repr=False)  # fake clock (with offset) at dispatch

    @property
    def type(self) -> int:
        return int(self.payload["type"])

    def callbacks(self) -> list[RecordedRequest]:
        """POSTs to /interactions/{id}/{token}/callback for this interaction (any status)."""
        assert self.fake is not None
        return [
            r
            for r in self.fake.requests
            if r.route == "POST /interactions/{id}/{token}/callback"
            and r.params.get("id") == str(self.id)
        ]

    def original(self) -> FakeMessage | None:
        """The @original message, once a callback created (or designated) it."""
        if self.fake is None or self.original_message_id is None:
            return None
        return self.fake.message(self.original_message_id)

    def followups(self) -> list[FakeMessage]:
        """Follow-up messages created through POST /webhooks/{app}/{token}."""
        assert self.fake is not None
        return [m for i in self.followup_ids if (m := self.fake.message(i)) is not None]

    def private_answers(self) -> list[str]:
        """What only the member saw: an ephemeral reply as the callback, or ephemeral
        follow-ups (after a deferral), in order. How it was sent is the bot's business."""
        out = []
        for callback in self.callbacks():
            data = callback.json.get("data") or {} if isinstance(callback.json, dict) else {}
            if callback.json.get("type") == 4 and int(data.get("flags") or 0) & FLAG_EPHEMERAL:
                out.append(str(data.get("content") or ""))
        out += [m.content or "" for m in self.followups() if m.ephemeral]
        original = self.original()
        if original is not None and original.ephemeral and not original.deleted:
            out.append(original.content or "")
        return out


class _ApiError(Exception):
    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message}
        if errors is not None:
            self.body["errors"] = errors


def _unknown_message() -> _ApiError:
    return _ApiError(404, 10008, "Unknown Message")


def _unknown_webhook() -> _ApiError:
    return _ApiError(404, 10015, "Unknown Webhook")


def _unknown_channel() -> _ApiError:
    return _ApiError(404, 10003, "Unknown Channel")


def _bad_callback_type(message: str) -> _ApiError:
    return _form_error(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", message)


def _form_error(path: list[str | int], code: str, message: str) -> _ApiError:
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {str(key): errors}
    return _ApiError(400, 50035, "Invalid Form Body", errors)


@dataclass
class _Reply:
    status: int
    body: Any = None  # JSON-serialisable, or None for an empty body


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    body: Any
    headers: dict[str, str]
    delay: float
    applied: bool = False  # handle the request for real, then answer with `status`
    when: Callable[[RecordedRequest], bool] | None = None  # only requests it accepts
    hold_s: float = 0.0  # handle the request for real, then hold its answer this long


@dataclass
class _Bucket:
    reset_at: float
    count: int = 0


@dataclass
class _Session:
    session_id: str
    shard: list[int] | None
    seq: int = 0


@dataclass(eq=False)
class _GatewayConn:
    ws: web.WebSocketResponse
    session: _Session | None = None


# --------------------------------------------------------------------------------------------
# Routes

_ROUTES: list[tuple[str, str, str, bool]] = [
    # method, template, handler, needs "Authorization: Bot ..."
    ("GET", "/users/@me", "_h_me", True),
    ("POST", "/users/@me/channels", "_h_create_dm", True),
    ("GET", "/users/{uid}", "_h_user", True),
    ("GET", "/oauth2/applications/@me", "_h_application", True),
    ("GET", "/gateway", "_h_gateway", False),
    ("GET", "/gateway/bot", "_h_gateway_bot", True),
    ("GET", "/applications/{id}/commands", "_h_list_commands", True),
    ("PUT", "/applications/{id}/commands", "_h_put_commands", True),
    ("POST", "/applications/{id}/commands", "_h_post_command", True),
    ("GET", "/applications/{id}/guilds/{gid}/commands", "_h_list_commands", True),
    ("PUT", "/applications/{id}/guilds/{gid}/commands", "_h_put_commands", True),
    ("POST", "/applications/{id}/guilds/{gid}/commands", "_h_post_command", True),
    ("POST", "/interactions/{id}/{token}/callback", "_h_callback", False),
    ("POST", "/webhooks/{id}/{token}", "_h_followup", False),
    ("GET", "/webhooks/{id}/{token}/messages/{mid}", "_h_webhook_get", False),
    ("PATCH", "/webhooks/{id}/{token}/messages/{mid}", "_h_webhook_edit", False),
    ("DELETE", "/webhooks/{id}/{token}/messages/{mid}", "_h_webhook_delete", False),
    ("GET", "/channels/{cid}", "_h_channel", True),
    ("POST", "/channels/{cid}/typing", "_h_typing", True),
    ("POST", "/channels/{cid}/messages", "_h_channel_post", True),
    ("GET", "/channels/{cid}/messages/{mid}", "_h_channel_get", True),
    ("PATCH", "/channels/{cid}/messages/{mid}", "_h_channel_edit", True),
    ("DELETE", "/channels/{cid}/messages/{mid}", "_h_channel_delete", True),
    ("PUT", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", "_h_reaction", True),
    ("DELETE", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", "_h_reaction", True),
]


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    regex = "".join(
        f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") and p.endswith("}") else re.escape(p)
        for p in parts
    )
    return re.compile(f"^{regex}$")


_COMPILED_ROUTES = [(m, _template_regex(t), t, h, auth) for m, t, h, auth in _ROUTES]


# --------------------------------------------------------------------------------------------
# OpenAPI validation (loaded once per process and path)

_SPEC_URI = "urn:discord-api-spec"
_SPEC_CACHE: dict[Path, _OpenApiSpec | None] = {}


def _relax_spec(doc: dict[str, Any]) -> None:
    """Relax the description where real Discord accepts what discord.py sends (see module doc)."""
    schemas = doc["components"]["schemas"]
    snowflake = schemas["SnowflakeType"]
    schemas["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
    for schema in schemas.values():
        prop = schema.get("properties", {}).get("default_member_permissions")
        if isinstance(prop, dict) and "integer" in (prop.get("type") or []):
            schema["properties"]["default_member_permissions"] = {
                "anyOf": [prop, {"type": "string", "pattern": "^[0-9]+$"}]
            }


def _pointer_escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


class _OpenApiSpec:
    """Request-body validators for the operations of an OpenAPI 3.1 document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        from jsonschema import Draft202012Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012

        _relax_spec(doc)
        self._doc = doc
        self._validator_cls = Draft202012Validator
        self._registry = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(doc))
        paths = []
        for template in doc["paths"]:
            regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
            paths.append((template.count("{"), -len(template), re.compile(f"^{regex}$"), template))
        paths.sort(key=lambda p: (p[0], p[1]))
        self._paths = [(regex, template) for _, _, regex, template in paths]
        self._validators: dict[tuple[str, str], Any] = {}

    def match(self, path: str) -> str | None:
        for regex, template in self._paths:
            if regex.match(path):
                return template
        return None

    def _validator(self, template: str, method: str) -> Any:
        key = (template, method)
        if key not in self._validators:
            validator = None
            op = self._doc["paths"][template].get(method.lower())
            content = ((op or {}).get("requestBody") or {}).get("content") or {}
            for ctype in ("application/json", "multipart/form-data"):
                if ctype in content:
                    pointer = "/".join(
                        _pointer_escape(s)
                        for s in ("paths", template, method.lower(), "requestBody", "content")
                    )
                    ref = f"{_SPEC_URI}#/{pointer}/{_pointer_escape(ctype)}/schema"
                    validator = self._validator_cls({"$ref": ref}, registry=self._registry)
                    break
            self._validators[key] = validator
        return self._validators[key]

    def validate(self, method: str, path: str, body: Any) -> tuple[str, Any] | None:
        """Return (template, best error) for an invalid body, None if valid or not described."""
        from jsonschema.exceptions import best_match

        template = self.match(path)
        if template is None:
            return None
        validator = self._validator(template, method)
        if validator is None:
            return None
        error = best_match(validator.iter_errors(body))
        return None if error is None else (template, error)


def _load_spec(path: Path) -> _OpenApiSpec | None:
    if path not in _SPEC_CACHE:
        spec = None
        if path.is_file():
            try:
                spec = _OpenApiSpec(json.loads(path.read_text(encoding="utf-8")))
            except ImportError:
                _log.warning("jsonschema/referencing missing: OpenAPI validation disabled")
        _SPEC_CACHE[path] = spec
    return _SPEC_CACHE[path]


# --------------------------------------------------------------------------------------------
# Helpers


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _json_response(status: int, body: Any, headers: dict[str, str]) -> web.Response:
    if body is None or status == 204:
        return web.Response(status=status, headers=headers)
    headers = {**headers, "Content-Type": "application/json"}  # exactly; no charset
    return web.Response(status=status, body=json.dumps(body).encode(), headers=headers)


def _error_path(error: Any) -> list[str | int]:
    return list(error.absolute_path)


# --------------------------------------------------------------------------------------------
# The fake


class FakeDiscord:
    """A loopback Discord: REST, gateway, interactions, messages, rate limits, fault injection."""

    def __init__(
        self,
        *,
        spec_path: Path | Literal["auto"] | None = "auto",
        guild_ready_timeout_hint: float = 0.1,
        app_id: int = 1000,
        bot_user_id: int = 1000,
        guild_id: int = 2000,
        channel_id: int = 3000,
        attachment_size_limit: int = 10 * 1024 * 1024,
    ) -> None:
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.owner_id = 4001
        self.attachment_size_limit = attachment_size_limit
        self.max_request_size = 25 * 1024 * 1024
        # what the bot under test should use as guild_ready_timeout
        self.guild_ready_timeout_hint = guild_ready_timeout_hint
        self.ack_deadline: float | None = 3.0  # callbacks later than this -> 10062; None: off
        self.expected_token: str | None = None  # when set, other bot tokens get 401
        self.clock_offset = 0.0  # seconds added to the clocks (tokens, acks, attachment URLs)

        if spec_path == "auto":
            spec_path = DEFAULT_SPEC_PATH if DEFAULT_SPEC_PATH.is_file() else None
        self.spec_path: Path | None = spec_path
        self._spec = _load_spec(spec_path) if spec_path is not None else None

        self.requests: list[RecordedRequest] = []
        self.commands: dict[str, dict[str, Any]] = {}
        self.global_commands: dict[str, dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[str, dict[str, Any]]] = {}
        self.spec_violations: list[str] = []
        self.identified = asyncio.Event()
        self.identify_payloads: list[dict[str, Any]] = []
        self.resume_count = 0
        self.failed_resumes = 0  # RESUMEs of unknown sessions, answered with op 9
        self.interactions: list[Interaction] = []
        self.messages: dict[int, FakeMessage] = {}
        self.deleted_channels: set[int] = set()
        self.nsfw_channels: set[int] = set()  # age-restricted channels
        self.rate_limits: dict[str, tuple[int, float]] = {}
        self.rate_limited_count = 0
        # Attachment paths (``/attachments/{mid}/{name}``) answered with a 302 to the given
        # Location, and the paths that were asked for (a CDN that redirects, for the bot's
        # redirect checks).
        self.attachment_redirects: dict[str, str] = {}
        self.attachment_redirect_hits: list[str] = []

        self._port = 0
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._inflight: set[asyncio.Task[Any]] = set()  # API handlers being answered
        self._injections: list[_Injection] = []
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._waiters: list[tuple[Callable[[RecordedRequest], bool], asyncio.Future[Any]]] = []
        self._by_id: dict[int, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self._dm_channels: dict[int, int] = {}  # channel id -> recipient user id
        self._uploads: dict[int, RecordedFile] = {}  # make_attachment(), served by its own id
        self._nonces: dict[tuple[int, str], int] = {}  # (channel, enforced nonce) -> message
        self._conns: set[_GatewayConn] = set()
        self._sessions: dict[str, _Session] = {}
        self._current: _GatewayConn | None = None
        self._gateway_ready = asyncio.Event()
        self._last_snowflake = 0
        self._component_id = 0
        self._url_key = secrets.token_bytes(32)  # signs attachment URLs

    # ---------------------------------------------------------------- lifecycle and addresses

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", r"/api/{version:v9|v10}/{tail:.*}", self._handle_api)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/attachments/{mid}/{filename}", self._handle_attachment)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        """Close websockets and the server; pending waits and delayed answers end at once."""
        self._closing.set()
        for conn in list(self._conns):
            with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
                await conn.ws.close(code=1001, message=b"fake shutting down")
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(RuntimeError("the fake Discord was closed"))
        if self._inflight:  # delayed answers wake up on _closing; let them be written
            await asyncio.wait(list(self._inflight), timeout=1.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    def clock(self) -> float:
        """The (shiftable) clock used for token lifetime and the 3 s acknowledgement window."""
        return time.monotonic() + self.clock_offset

    # ---------------------------------------------------------------- signed attachment URLs

    def signed_url(self, url: str) -> str:
        """An attachment URL of this fake (signed or not) signed afresh: what Discord would hand
        out for it now."""
        return self._sign(urlsplit(url).path)

    @staticmethod
    def unsigned(url: str) -> str:
        """``url`` without its query (the signature): stable across re-signing."""
        return urlsplit(url)._replace(query="", fragment="").geturl()

    def _sign(self, path: str) -> str:
        issued = int(self._now().timestamp())
        query = f"ex={issued + ATTACHMENT_URL_LIFETIME:x}&is={issued:x}"
        return f"{self.base_url}{path}?{query}&hm={self._signature(path, query)}&"

    def _signature(self, path: str, query: str) -> str:
        return hmac.new(self._url_key, f"{path}?{query}".encode(), hashlib.sha256).hexdigest()

    def _signature_valid(self, path: str, query: Any) -> bool:
        """The ``ex``/``is``/``hm`` parameters sign ``path`` and have not expired."""
        ex, issued, hm = query.get("ex"), query.get("is"), query.get("hm")
        if not (ex and issued and hm):
            return False
        try:
            expires = int(ex, 16)
            int(issued, 16)
        except ValueError:
            return False
        expected = self._signature(path, f"ex={ex}&is={issued}")
        return hmac.compare_digest(expected, hm) and self._now().timestamp() < expires

    def _refresh_resolved(self, d: dict[str, Any]) -> None:
        """Re-sign this fake's attachment URLs in an interaction's resolved data, as Discord
        signs every payload it delivers."""
        if not isinstance(d.get("data"), dict) or not d["data"].get("resolved"):
            return
        d["data"] = copy.deepcopy(d["data"])  # the caller's payload stays as it was
        resolved = d["data"]["resolved"]
        attachments = list((resolved.get("attachments") or {}).values())
        for message in (resolved.get("messages") or {}).values():
            attachments += message.get("attachments") or []
        for att in attachments:
            for key in ("url", "proxy_url"):
                url = att.get(key)
                if isinstance(url, str) and url.startswith(f"{self.base_url}/attachments/"):
                    att[key] = self.signed_url(url)

    # ---------------------------------------------------------------- test-facing helpers

    def message(self, message_id_or_token: int | str) -> FakeMessage | None:
        """A message by id, or the @original message of an interaction token."""
        if isinstance(message_id_or_token, str):
            inter = self._by_token.get(message_id_or_token)
            if inter is None or inter.original_message_id is None:
                return None
            return self.messages.get(inter.original_message_id)
        return self.messages.get(message_id_or_token)

    def interaction(self, id_or_token: int | str) -> Interaction | None:
        if isinstance(id_or_token, str):
            return self._by_token.get(id_or_token)
        return self._by_id.get(id_or_token)

    def channel_messages(self, channel_id: int | None = None) -> list[FakeMessage]:
        """Non-deleted messages of a channel (default: the guild's text channel), oldest first."""
        cid = self.channel_id if channel_id is None else channel_id
        return [m for m in self.messages.values() if m.channel_id == cid and not m.deleted]

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool],
        timeout: float = 10,
    ) -> RecordedRequest:
        """The first recorded or future request matching ``predicate``.

        The predicate sees each request when it arrives (status 0) and again once answered;
        exceptions like KeyError/TypeError in the predicate count as "no match".
        """
        for rec in self.requests:
            if self._matches(predicate, rec):
                return rec
        future: asyncio.Future[RecordedRequest] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            seen = [f"{r.route} -> {r.status}" for r in self.requests[-20:]]
            raise TimeoutError(f"no matching request within {timeout}s; last: {seen}") from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def inject(
        self,
        method: str,
        path_regex: str,
        *,
        status: int,
        times: int = 1,
        json: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        applied: bool = False,
        when: Callable[[RecordedRequest], bool] | None = None,
        hold_s: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests matching (method, re.search on the path, and
        ``when`` if given: e.g. ``lambda r: bool(r.files)`` for requests that upload files).

        The injected answer replaces the real handling (no state changes), unless ``applied``:
        then the request is handled for real first and its answer is replaced by the injected
        one, as when Discord applied a request but its answer was lost (a 502 from its edge,
        a dropped connection). Defaults when
        ``json`` is None: 429 -> rate-limit body with ``retry_after`` 0.1 (plus ``Via``,
        ``Retry-After`` and ``X-RateLimit-Scope`` headers; pass ``{"Via": ""}`` to simulate a
        Cloudflare ban), 404 -> Unknown Message, other errors -> a generic Discord error body, 2xx
        -> the request is handled normally after ``delay`` (useful to simulate a slow Discord).
        ``method`` "*" matches any method. ``hold_s`` (with a 2xx ``status``) handles the
        request for real at once and holds its answer back that long: the bot's request has
        taken effect but the bot does not know it yet (e.g. to kill it at that moment).
        """
        self._injections.append(
            _Injection(
                method=method.upper(),
                pattern=re.compile(path_regex),
                status=status,
                times=times,
                body=json,
                headers=dict(headers or {}),
                delay=delay,
                applied=applied,
                when=when,
                hold_s=hold_s,
            )
        )

    def clear_injections(self) -> None:
        """Drop every injected answer not yet used (e.g. one meant for a process now gone)."""
        self._injections.clear()

    def make_attachment(
        self, filename: str, data: bytes, content_type: str | None = None
    ) -> dict[str, Any]:
        """Store user-uploaded bytes and return a Discord attachment object serving them.

        Use it as an attachment option's ``value`` in ``send_interaction`` (it is moved into
        ``data.resolved.attachments``), or in raw payloads.
        """
        att = self._new_attachment("upload", filename, data, content_type)
        self._uploads[att.id] = att
        holder = FakeMessage(id=att.id, channel_id=self.channel_id)
        return self._attachment_json(holder, att)

    # ---------------------------------------------------------------- gateway-facing helpers

    async def dispatch(self, event: str, d: dict[str, Any], *, wait: float = 10.0) -> None:
        """Send a DISPATCH (op 0) to the current identified/resumed connection.

        Waits up to ``wait`` seconds for one (e.g. while the client resumes).
        """
        conn = await self._ready_conn(wait)
        await self._gw_send(conn, 0, d, event)

    async def disconnect_gateway(self, code: int = 4000, *, resumable: bool = True) -> None:
        """Close the current gateway connection; the client reconnects and RESUMEs.

        With ``resumable=False`` the session is forgotten first, so the RESUME is answered with
        op 9 INVALID_SESSION (``d: false``) and the client has to IDENTIFY anew.
        """
        conn = self._current
        self._current = None
        self._gateway_ready.clear()
        if conn is not None:
            if not resumable and conn.session is not None:
                self._sessions.pop(conn.session.session_id, None)
            await conn.ws.close(code=code, message=b"fake disconnect")

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION to the current connection, as Discord does.

        ``d`` is ``resumable``: when false the session is forgotten (a RESUME of it gets op 9
        again), so the client has to open a new connection and IDENTIFY. The fake leaves closing
        the socket to the client; dispatches wait for the next READY or RESUMED.
        """
        conn = await self._ready_conn(10.0)
        self._current = None
        self._gateway_ready.clear()
        if not resumable and conn.session is not None:
            self._sessions.pop(conn.session.session_id, None)
        await self._gw_send(conn, 9, resumable)

    async def send_interaction(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        user_id: int = 4000,
        channel_id: int | None = None,
        guild_id: int | None = None,
        permissions: str = "2147483647",
        attachment_size_limit: int | None = None,
        member_roles: list[int] | None = None,
        resolved: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """Dispatch a chat-input command (interaction type 2)."""
        data = self._command_data(name, options, guild_id, resolved)
        return await self.send_raw_interaction(
            self._interaction_base(
                2,
                data,
                user_id=user_id,
                channel_id=channel_id,
                guild_id=guild_id,
                permissions=permissions,
                attachment_size_limit=attachment_size_limit,
                member_roles=member_roles,
                locale=locale,
            )
        )

    async def send_autocomplete(
        self,
        name: str,
        options: list[dict[str, Any]],
        *,
        user_id: int = 4000,
        channel_id: int | None = None,
        guild_id: int | None = None,
    ) -> Interaction:
        """Dispatch an autocomplete interaction (type 4); mark the typed option ``focused``."""
        data = self._command_data(name, options, guild_id, None)
        return await self.send_raw_interaction(
            self._interaction_base(
                4, data, user_id=user_id, channel_id=channel_id, guild_id=guild_id
            )
        )

    async def send_component(
        self,
        message: FakeMessage | int,
        custom_id: str,
        *,
        component_type: int = 2,
        values: list[str] | None = None,
        user_id: int = 4000,
        permissions: str = "2147483647",
        message_overrides: dict[str, Any] | None = None,
    ) -> Interaction:
        """Dispatch a component interaction (type 3) on a stored message (button by default).
        ``message_overrides`` replaces fields of the message the client claims to click on
        (e.g. stale or forged ``components``)."""
        msg = message if isinstance(message, FakeMessage) else self.messages.get(message)
        if msg is None:
            raise KeyError(f"unknown message {message!r}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        d = self._interaction_base(
            3,
            data,
            user_id=user_id,
            channel_id=msg.channel_id,
            guild_id=msg.guild_id,
            permissions=permissions,
        )
        d["message"] = {**self._message_json(msg), **(message_overrides or {})}
        return await self.send_raw_interaction(d)

    async def send_modal_submit(
        self,
        custom_id: str,
        values: dict[str, str],
        *,
        message: FakeMessage | int | None = None,
        user_id: int = 4000,
    ) -> Interaction:
        """Dispatch a modal submission (type 5) with text inputs ``{custom_id: value}``."""
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": cid, "value": value}]}
            for cid, value in values.items()
        ]
        d = self._interaction_base(5, {"custom_id": custom_id, "components": rows}, user_id=user_id)
        if message is not None:
            msg = message if isinstance(message, FakeMessage) else self.messages[message]
            d["message"] = self._message_json(msg)
        return await self.send_raw_interaction(d)

    async def send_raw_interaction(self, d: dict[str, Any]) -> Interaction:
        """Dispatch an INTERACTION_CREATE; missing standard fields are filled in.

        A ``message`` whose id the fake does not know is registered as a stored message, and a
        known one is completed from the store, so callbacks 6/7 can update it.
        """
        d = dict(d)
        d.setdefault("id", str(self._snowflake()))
        d.setdefault("token", secrets.token_urlsafe(48))
        d.setdefault("application_id", str(self.app_id))
        d.setdefault("version", 1)
        d.setdefault("type", 2)
        d.setdefault("attachment_size_limit", self.attachment_size_limit)
        d.setdefault("locale", "en-US")
        d.setdefault("entitlements", [])
        d.setdefault("app_permissions", str(ALL_PERMISSIONS))
        if "user" in d and "guild_id" not in d:  # a DM
            uid = int(d["user"]["id"])
            d.setdefault("channel_id", str(self._dm_channel_for(uid)))
            d.setdefault("channel", self.channel_json(int(d["channel_id"])))
            d.setdefault("context", 1)
            d.setdefault("authorizing_integration_owners", {"1": str(uid)})
        else:
            base = self._interaction_base(int(d["type"]), d.get("data"))
            for key, value in base.items():
                d.setdefault(key, value)
        self._refresh_resolved(d)
        if isinstance(d.get("message"), dict) and "id" in d["message"]:
            mid = int(d["message"]["id"])
            known = self.messages.get(mid)
            if known is None:
                self._register_message(d["message"], int(d["channel_id"]))
            else:
                d["message"] = {**self._message_json(known), **d["message"]}

        inter = Interaction(
            id=int(d["id"]),
            token=str(d["token"]),
            payload=d,
            fake=self,
            sent_at=time.monotonic(),
            clock_at_send=self.clock(),
        )
        self.interactions.append(inter)
        self._by_id[inter.id] = inter
        self._by_token[inter.token] = inter
        await self.dispatch("INTERACTION_CREATE", d)
        return inter

    # ---------------------------------------------------------------- JSON builders

    def _snowflake(self) -> int:
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        value = max(value, self._last_snowflake + 1)
        self._last_snowflake = value
        return value

    def _now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset)

    def bot_user_json(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_user_id),
            "username": "Art Factory",
            "discriminator": "0",
            "global_name": "Art Factory",
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "bot": True,
            "system": False,
            "flags": 0,
            "public_flags": 0,
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
        }

    def user_json(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_user_id:
            return self.bot_user_json()
        return {
            "id": str(user_id),
            "username": f"user{user_id}",
            "discriminator": "0",
            "global_name": f"User {user_id}",
            "avatar": None,
            "public_flags": 0,
            "bot": False,
        }

    def member_json(
        self, user_id: int, roles: list[int] | None = None, permissions: str | None = None
    ) -> dict[str, Any]:
        member: dict[str, Any] = {
            "user": self.user_json(user_id),
            "roles": [str(r) for r in roles or []],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "nick": None,
            "avatar": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            member["permissions"] = permissions
        return member

    def channel_json(self, channel_id: int) -> dict[str, Any]:
        if channel_id in self._dm_channels:
            uid = self._dm_channels[channel_id]
            return {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "recipients": [self.user_json(uid)],
                "flags": 0,
            }
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": "art" if channel_id == self.channel_id else f"channel-{channel_id}",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": channel_id in self.nsfw_channels,
            "topic": None,
            "parent_id": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def guild_json(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": "Art Factory Test Guild",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "application_id": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "features": [],
            "roles": [
                {
                    "id": str(self.guild_id),
                    "name": "@everyone",
                    "permissions": str(EVERYONE_PERMISSIONS),
                    "position": 0,
                    "color": 0,
                    "colors": {
                        "primary_color": 0,
                        "secondary_color": None,
                        "tertiary_color": None,
                    },
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "icon": None,
                    "unicode_emoji": None,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "channels": [self.channel_json(self.channel_id)],
            "threads": [],
            "members": [self.member_json(self.bot_user_id)],
            "member_count": 2,
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "lazy": True,
            "nsfw": False,
            "incidents_data": None,
        }

    def _dm_channel_for(self, user_id: int) -> int:
        for cid, uid in self._dm_channels.items():
            if uid == user_id:
                return cid
        cid = self._snowflake()
        self._dm_channels[cid] = user_id
        return cid

    def _interaction_base(
        self,
        itype: int,
        data: Any,
        *,
        user_id: int = 4000,
        channel_id: int | None = None,
        guild_id: int | None = None,
        permissions: str = "2147483647",
        attachment_size_limit: int | None = None,
        member_roles: list[int] | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        gid = self.guild_id if guild_id is None else guild_id
        cid = self.channel_id if channel_id is None else channel_id
        channel = self.channel_json(cid)
        channel["guild_id"] = str(gid)
        channel["permissions"] = str(ALL_PERMISSIONS)
        d: dict[str, Any] = {
            "type": itype,
            "guild_id": str(gid),
            "channel_id": str(cid),
            "channel": channel,
            "guild": {"id": str(gid), "locale": "en-US", "features": []},
            "member": self.member_json(user_id, member_roles, permissions),
            "app_permissions": str(ALL_PERMISSIONS),
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(gid)},
            "context": 0,
            "attachment_size_limit": (
                self.attachment_size_limit
                if attachment_size_limit is None
                else attachment_size_limit
            ),
        }
        if data is not None:
            d["data"] = data
        return d

    def _command_data(
        self,
        name: str,
        options: list[dict[str, Any]] | None,
        guild_id: int | None,
        resolved: dict[str, Any] | None,
    ) -> dict[str, Any]:
        gid = self.guild_id if guild_id is None else guild_id
        command = self.guild_commands.get(gid, {}).get(name)
        scope_gid: int | None = gid
        if command is None and name in self.global_commands:
            command, scope_gid = self.global_commands[name], None
        # an unsynced command keeps guild_id: discord.py then looks in guild and global commands
        data: dict[str, Any] = {
            "id": command["id"] if command else str(self._command_id(scope_gid, name, 1)),
            "name": name,
            "type": int(command.get("type", 1)) if command else 1,
        }
        if scope_gid is not None:
            data["guild_id"] = str(scope_gid)
        resolved = copy.deepcopy(resolved) if resolved else {}
        if options is not None:
            data["options"] = self._resolve_options(copy.deepcopy(options), resolved)
        if resolved:
            data["resolved"] = resolved
        return data

    def _resolve_options(
        self, options: list[dict[str, Any]], resolved: dict[str, Any]
    ) -> list[dict[str, Any]]:
        for option in options:
            if "options" in option:
                self._resolve_options(option["options"], resolved)
            value = option.get("value")
            if option.get("type") == 11 and isinstance(value, dict):
                resolved.setdefault("attachments", {})[str(value["id"])] = value
                option["value"] = str(value["id"])
        return options

    def _command_id(self, guild_id: int | None, name: str, ctype: int) -> int:
        key = (guild_id, name, ctype)
        if key not in self._command_ids:
            self._command_ids[key] = self._snowflake()
        return self._command_ids[key]

    def _attachment_url(self, msg: FakeMessage, att: RecordedFile) -> str:
        """The attachment's unsigned URL (what ``FakeMessage.embeds`` keeps)."""
        return f"{self.base_url}/attachments/{msg.id}/{att.filename}"

    def _attachment_json(self, msg: FakeMessage, att: RecordedFile) -> dict[str, Any]:
        url = self.signed_url(self._attachment_url(msg, att))
        out: dict[str, Any] = {
            "id": str(att.id),
            "filename": att.filename,
            "size": len(att.data),
            "url": url,
            "proxy_url": url,
            "content_type": att.content_type,
            "flags": 0,
        }
        if att.width is not None:
            out["width"], out["height"] = att.width, att.height
        if att.description is not None:
            out["description"] = att.description
        if msg.ephemeral:
            out["ephemeral"] = True
        return out

    def _message_json(self, msg: FakeMessage) -> dict[str, Any]:
        out: dict[str, Any] = copy.deepcopy(msg.extra)
        out.update(
            {
                "id": str(msg.id),
                "channel_id": str(msg.channel_id),
                "author": msg.author or self.bot_user_json(),
                "content": msg.content or "",
                "timestamp": _iso(msg.created_at),
                "edited_timestamp": _iso(msg.edited_at),
                "tts": False,
                "mention_everyone": False,
                "mentions": [],
                "mention_roles": [],
                "attachments": [self._attachment_json(msg, a) for a in msg.attachments],
                "embeds": self._embeds_json(msg),
                "components": copy.deepcopy(msg.components),
                "flags": msg.flags,
                "type": msg.type,
                "pinned": False,
            }
        )
        if msg.guild_id is not None:
            out["guild_id"] = str(msg.guild_id)
        if msg.reactions:
            out["reactions"] = [
                {"emoji": {"id": None, "name": e}, "count": 1, "me": True} for e in msg.reactions
            ]
        if msg.message_reference is not None:
            out["message_reference"] = msg.message_reference
            ref = self.messages.get(int(msg.message_reference.get("message_id", 0) or 0))
            if ref is not None and not ref.deleted:
                out["referenced_message"] = self._message_json(ref)
        inter = self._by_id.get(msg.interaction_id) if msg.interaction_id else None
        if inter is not None:
            out["webhook_id"] = str(self.app_id)
            out["application_id"] = str(self.app_id)
            user = (inter.payload.get("member") or {}).get("user") or inter.payload.get("user")
            meta: dict[str, Any] = {
                "id": str(inter.id),
                "type": inter.type,
                "user": user,
                "authorizing_integration_owners": inter.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            data = inter.payload.get("data") or {}
            if inter.type == 2:
                meta["name"] = data.get("name")
                meta["command_type"] = data.get("type", 1)
                out["interaction"] = {
                    "id": str(inter.id),
                    "type": inter.type,
                    "name": data.get("name"),
                    "user": user,
                }
            if msg.id != inter.original_message_id and inter.original_message_id is not None:
                meta["original_response_message_id"] = str(inter.original_message_id)
            if isinstance(inter.payload.get("message"), dict):
                meta["interacted_message_id"] = str(inter.payload["message"]["id"])
            out["interaction_metadata"] = meta
        return out

    def _embeds_json(self, msg: FakeMessage) -> list[dict[str, Any]]:
        """The message's embeds, their images of its own attachments freshly signed (other URLs
        are the sender's and stay as they were sent)."""
        embeds = copy.deepcopy(msg.embeds)
        own = {self._attachment_url(msg, a) for a in msg.attachments}
        for embed in embeds:
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                if isinstance(media, dict) and media.get("url") in own:
                    url = self.signed_url(media["url"])
                    media.update(url=url, proxy_url=url)
        return embeds

    def _register_message(self, raw: dict[str, Any], channel_id: int) -> FakeMessage:
        known = {
            "id",
            "channel_id",
            "content",
            "embeds",
            "components",
            "flags",
            "attachments",
            "author",
            "type",
            "guild_id",
        }
        author = raw.get("author")
        msg = FakeMessage(
            id=int(raw["id"]),
            channel_id=int(raw.get("channel_id", channel_id)),
            content=raw.get("content", ""),
            embeds=copy.deepcopy(raw.get("embeds", [])),
            components=copy.deepcopy(raw.get("components", [])),
            flags=int(raw.get("flags", 0)),
            guild_id=int(raw["guild_id"]) if raw.get("guild_id") else self._guild_of(channel_id),
            type=int(raw.get("type", 0)),
            author=None if not author or int(author["id"]) == self.bot_user_id else author,
            extra={k: v for k, v in raw.items() if k not in known},
        )
        msg.history.append(msg.snapshot())
        self.messages[msg.id] = msg
        return msg

    def _guild_of(self, channel_id: int) -> int | None:
        return None if channel_id in self._dm_channels else self.guild_id

    # ---------------------------------------------------------------- HTTP plumbing

    @staticmethod
    def _matches(predicate: Callable[[RecordedRequest], bool], rec: RecordedRequest) -> bool:
        try:
            return bool(predicate(rec))
        except (KeyError, TypeError, IndexError, AttributeError):
            return False

    def _notify(self, rec: RecordedRequest) -> None:
        for predicate, future in list(self._waiters):
            if not future.done() and self._matches(predicate, rec):
                future.set_result(rec)

    async def _sleep(self, delay: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    async def _read_body(
        self, request: web.Request
    ) -> tuple[Any, list[RecordedFile], int, str | None]:
        """(json, files, size, error) of a request body; error is set for malformed JSON."""
        files: list[RecordedFile] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            payload: Any = None
            fields: dict[str, str] = {}
            size = 0
            while True:
                part = await reader.next()
                if part is None:
                    break
                if isinstance(part, MultipartReader):
                    continue
                data = bytes(await part.read(decode=False))
                size += len(data)
                name = part.name or ""
                if name == "payload_json":
                    try:
                        payload = json.loads(data.decode("utf-8"))
                    except ValueError:
                        return None, files, size, "payload_json is not valid JSON"
                elif part.filename is not None or name.startswith("file"):
                    ctype = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
                    files.append(RecordedFile(name, part.filename or name, ctype, data))
                else:
                    fields[name] = data.decode("utf-8", "replace")
            if payload is None and fields:
                payload = fields
            return payload, files, size, None
        raw = await request.read()
        if not raw:
            return None, files, 0, None
        try:
            return json.loads(raw), files, len(raw), None
        except ValueError:
            return None, files, len(raw), "body is not valid JSON"

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = _API_PREFIX.sub("", request.path)
        method = request.method.upper()
        body, files, size, body_error = await self._read_body(request)
        route, params, handler, needs_auth = f"{method} {path}", {}, None, False
        for m, regex, template, hname, auth in _COMPILED_ROUTES:
            found = regex.match(path)
            if m == method and found:
                route, params = f"{method} {template}", found.groupdict()
                handler, needs_auth = getattr(self, hname), auth
                break
        rec = RecordedRequest(
            method=method,
            path=path,
            query={k: request.query[k] for k in request.query},
            json=body,
            files=files,
            headers=dict(request.headers),
            time=time.monotonic(),
            status=0,
            route=route,
            params=params,
        )
        self.requests.append(rec)
        self._notify(rec)
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            response = await self._answer(rec, handler, needs_auth, size, body_error)
        finally:
            self._inflight.discard(task)  # type: ignore[arg-type]
        rec.status = response.status
        self._notify(rec)
        return response

    async def _answer(
        self,
        rec: RecordedRequest,
        handler: Callable[[RecordedRequest], Any] | None,
        needs_auth: bool,
        size: int,
        body_error: str | None,
    ) -> web.Response:
        rl_headers = self._default_ratelimit_headers(rec.route)
        auth = rec.headers.get("Authorization") or rec.headers.get("authorization")
        if needs_auth and (
            not auth
            or not auth.startswith("Bot ")
            or (self.expected_token is not None and auth != f"Bot {self.expected_token}")
        ):
            return _json_response(401, {"message": "401: Unauthorized", "code": 0}, rl_headers)
        if body_error is not None:
            body = {"code": 50109, "message": "The request body contains invalid JSON."}
            return _json_response(400, body, rl_headers)
        invalid = self._validate(rec)
        if invalid is not None:
            return _json_response(400, invalid.body, rl_headers)

        injection = self._take_injection(rec)
        if injection is not None:
            if injection.delay > 0:
                await self._sleep(injection.delay)
            answer_now = not (200 <= injection.status < 300 and injection.body is None)
            if answer_now and not injection.applied:
                return self._injected_response(injection, rl_headers)

        limited, rl_headers = self._rate_limit(rec)
        if limited is not None:
            return limited
        if size > max(self.max_request_size, self.attachment_size_limit):
            body = {"code": 40005, "message": "Request entity too large"}
            return _json_response(413, body, rl_headers)
        if handler is None:
            return _json_response(404, {"message": "404: Not Found", "code": 0}, rl_headers)
        try:
            reply: _Reply = await handler(rec)
        except _ApiError as exc:
            return _json_response(exc.status, exc.body, rl_headers)
        except Exception as exc:  # a bug in the fake or a body it cannot digest
            _log.exception("fake Discord failed on %s", rec.route)
            self.spec_violations.append(f"[fake error] {rec.route}: {exc!r}")
            # 400, not 500: discord.py retries 5xx for ~25 s before giving up
            body = {"code": 0, "message": f"fake Discord error: {exc!r}"}
            return _json_response(400, body, rl_headers)
        if injection is not None and injection.hold_s > 0:
            await self._sleep(injection.hold_s)
        if injection is not None and injection.applied:
            return self._injected_response(injection, rl_headers)  # applied, answer lost
        return _json_response(reply.status, reply.body, rl_headers)

    def _validate(self, rec: RecordedRequest) -> _ApiError | None:
        if self._spec is None or rec.json is None:
            return None
        result = self._spec.validate(rec.method, rec.path, rec.json)
        if result is None:
            return None
        template, error = result
        where = "".join(f"[{p!r}]" for p in error.absolute_path) or "(body)"
        message = error.message if len(error.message) < 300 else error.message[:300] + "..."
        self.spec_violations.append(
            f"{rec.method} {template}: {where}: {message} (schema: {error.validator})"
        )
        return _form_error(_error_path(error), "BASE_TYPE_BAD", message)

    def _rule_violation(self, rec: RecordedRequest, path: list[str | int], message: str) -> None:
        where = "".join(f"[{p!r}]" for p in path) or "(body)"
        self.spec_violations.append(f"[discord rule] {rec.route}: {where}: {message}")
        raise _form_error(path, "BASE_TYPE_BAD", message)

    def _take_injection(self, rec: RecordedRequest) -> _Injection | None:
        for injection in self._injections:
            if injection.when is not None and not injection.when(rec):
                continue
            if injection.method in ("*", rec.method) and injection.pattern.search(rec.path):
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
                return injection
        return None

    def _injected_response(self, injection: _Injection, rl_headers: dict[str, str]) -> web.Response:
        status, body = injection.status, injection.body
        headers = dict(rl_headers)
        if status == 429:
            if body is None:
                body = {"message": "You are being rate limited.", "retry_after": 0.1}
                body["global"] = False
            retry = float(body.get("retry_after", 0.1)) if isinstance(body, dict) else 0.1
            headers.update(self._429_headers(retry, rl_headers))
            self.rate_limited_count += 1
        elif body is None:
            defaults = {
                400: {"code": 50035, "message": "Invalid Form Body", "errors": {}},
                401: {"code": 0, "message": "401: Unauthorized"},
                403: {"code": 50013, "message": "Missing Permissions"},
                404: {"code": 10008, "message": "Unknown Message"},
            }
            body = defaults.get(status, {"code": 0, "message": f"{status}: Injected error"})
        headers.update(injection.headers)
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return _json_response(status, body, headers)

    @staticmethod
    def _bucket_hash(route: str) -> str:
        return hashlib.sha1(route.encode()).hexdigest()[:32]

    def _default_ratelimit_headers(self, route: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1.0:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": self._bucket_hash(route),
        }

    @staticmethod
    def _429_headers(retry_after: float, base: dict[str, str]) -> dict[str, str]:
        return {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Scope": "user",
            "X-RateLimit-Global": "false",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "Via": "1.1 google",
            "X-RateLimit-Bucket": base.get("X-RateLimit-Bucket", ""),
            "X-RateLimit-Limit": base.get("X-RateLimit-Limit", "50"),
        }

    def _rate_limit(self, rec: RecordedRequest) -> tuple[web.Response | None, dict[str, str]]:
        """Apply ``rate_limits`` (fixed windows per route and major parameters)."""
        headers = self._default_ratelimit_headers(rec.route)
        conf = self.rate_limits.get(rec.route)
        if conf is None:
            return None, headers
        limit, per = conf
        major = "/".join(rec.params.get(k, "") for k in ("cid", "gid", "id", "token"))
        now = time.monotonic()
        bucket = self._buckets.get((rec.route, major))
        if bucket is None or now >= bucket.reset_at:
            bucket = self._buckets[(rec.route, major)] = _Bucket(reset_at=now + per)
        reset_after = max(bucket.reset_at - now, 0.0)
        headers["X-RateLimit-Limit"] = str(limit)
        headers["X-RateLimit-Reset-After"] = f"{reset_after:.3f}"
        headers["X-RateLimit-Reset"] = f"{time.time() + reset_after:.3f}"
        if bucket.count >= limit:
            self.rate_limited_count += 1
            retry = round(reset_after, 3)
            body = {"message": "You are being rate limited.", "retry_after": retry, "global": False}
            headers.update(self._429_headers(retry, headers))
            return _json_response(429, body, headers), headers
        bucket.count += 1
        headers["X-RateLimit-Remaining"] = str(limit - bucket.count)
        return None, headers

    async def _handle_attachment(self, request: web.Request) -> web.StreamResponse:
        mid, name = request.match_info["mid"], request.match_info["filename"]
        location = self.attachment_redirects.get(request.path)
        if location is not None:
            self.attachment_redirect_hits.append(request.path)
            return web.Response(status=302, headers={"Location": location})
        candidates: list[RecordedFile] = []
        if mid.isdigit():
            msg = self.messages.get(int(mid))
            if msg is not None:
                candidates = msg.attachments + msg.previous_attachments
            if int(mid) in self._uploads:
                candidates.append(self._uploads[int(mid)])
        for att in candidates:
            if att.filename == name:
                if not self._signature_valid(f"/attachments/{mid}/{name}", request.query):
                    return web.Response(status=404, text=EXPIRED_CONTENT)
                return web.Response(body=att.data, content_type=att.content_type)
        return web.Response(status=404, text="404: Not Found")

    # ---------------------------------------------------------------- gateway

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0, timeout=2.0)
        await ws.prepare(request)
        conn = _GatewayConn(ws)
        self._conns.add(conn)
        try:
            await self._gw_send(conn, 10, {"heartbeat_interval": 41250, "_trace": ["fake"]})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_message(conn, json.loads(msg.data))
        except ConnectionError:
            pass
        finally:
            self._conns.discard(conn)
            if self._current is conn:
                self._current = None
                self._gateway_ready.clear()
        return ws

    async def _gw_send(self, conn: _GatewayConn, op: int, d: Any, t: str | None = None) -> None:
        seq = None
        if op == 0 and conn.session is not None:
            conn.session.seq += 1
            seq = conn.session.seq
        await conn.ws.send_str(json.dumps({"op": op, "d": d, "s": seq, "t": t}))

    async def _on_gateway_message(self, conn: _GatewayConn, msg: dict[str, Any]) -> None:
        op, d = msg.get("op"), msg.get("d")
        if op == 1:
            await self._gw_send(conn, 11, None)
        elif op == 2:
            self.identify_payloads.append(d)
            session = _Session(session_id=secrets.token_hex(16), shard=d.get("shard"))
            self._sessions[session.session_id] = session
            conn.session = session
            ready: dict[str, Any] = {
                "v": 10,
                "user": self.bot_user_json(),
                "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                "session_id": session.session_id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.app_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "_trace": ["fake"],
            }
            if session.shard is not None:
                ready["shard"] = session.shard
            await self._gw_send(conn, 0, ready, "READY")
            await self._gw_send(conn, 0, self.guild_json(), "GUILD_CREATE")
            self._current = conn
            self._gateway_ready.set()
            self.identified.set()
        elif op == 6:
            session = self._sessions.get((d or {}).get("session_id", ""))
            if session is None:
                self.failed_resumes += 1
                await self._gw_send(conn, 9, False)
                return
            conn.session = session
            self.resume_count += 1
            await self._gw_send(conn, 0, {"_trace": ["fake"]}, "RESUMED")
            self._current = conn
            self._gateway_ready.set()
        elif op == 8:
            chunk = {
                "guild_id": str(self.guild_id),
                "members": [self.member_json(self.bot_user_id)],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if isinstance(d, dict) and d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            await self._gw_send(conn, 0, chunk, "GUILD_MEMBERS_CHUNK")
        # op 3 presence, op 4 voice state and anything else: accepted silently

    async def _ready_conn(self, wait: float) -> _GatewayConn:
        deadline = time.monotonic() + wait
        while self._current is None or self._current.ws.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no identified gateway connection")
            self._gateway_ready.clear()
            try:
                await asyncio.wait_for(self._gateway_ready.wait(), remaining)
            except TimeoutError:
                raise TimeoutError("no identified gateway connection") from None
        return self._current

    # ---------------------------------------------------------------- message logic

    def _new_attachment(
        self, field_name: str, filename: str, data: bytes, content_type: str | None = None
    ) -> RecordedFile:
        ctype = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        att = RecordedFile(field_name, filename, ctype, data, id=self._snowflake())
        if ctype.startswith("image/"):
            size = _image_size(data)
            if size is not None:
                att.width, att.height = size
        return att

    def _check_uploads(self, files: list[RecordedFile], limit: int) -> None:
        if len(files) > 10:
            raise _form_error(["files"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        for f in files:
            if len(f.data) > limit:
                raise _ApiError(413, 40005, "Request entity too large")

    def _resolve_attachments(
        self,
        rec: RecordedRequest,
        body: dict[str, Any],
        current: list[RecordedFile],
        limit: int,
    ) -> list[RecordedFile] | None:
        """New attachment list, or None when the request leaves attachments unchanged."""
        self._check_uploads(rec.files, limit)
        uploads: dict[int, RecordedFile] = {}
        for pos, f in enumerate(rec.files):
            m = re.fullmatch(r"files\[(\d+)\]", f.field_name)
            uploads[int(m.group(1)) if m else pos] = f
        listed = body.get("attachments")
        if listed is None:
            if not uploads:
                return None
            return current + [
                self._new_attachment(f.field_name, f.filename, f.data) for f in uploads.values()
            ]
        result: list[RecordedFile] = []
        used: set[int] = set()
        by_id = {a.id: a for a in current}
        for index, entry in enumerate(listed):
            try:
                aid = int(entry["id"])
            except (KeyError, TypeError, ValueError):
                raise _form_error(
                    ["attachments", index, "id"], "BASE_TYPE_REQUIRED", "Invalid attachment id"
                ) from None
            if aid in by_id:
                kept = by_id[aid]
                if entry.get("description") is not None:
                    kept.description = entry["description"]
                result.append(kept)
            elif aid in uploads:
                f = uploads[aid]
                name = entry.get("filename") or f.filename
                att = self._new_attachment(f.field_name, name, f.data)
                att.description = entry.get("description")
                result.append(att)
                used.add(aid)
            else:
                raise _form_error(
                    ["attachments", index, "id"],
                    "ATTACHMENT_NOT_FOUND",
                    f"Unknown attachment id {aid}",
                )
        for key, f in uploads.items():
            if key not in used:
                result.append(self._new_attachment(f.field_name, f.filename, f.data))
        if len(result) > 10:
            raise _form_error(
                ["attachments"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
        return result

    def _number_components(self, components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copy components, giving each a numeric ``id`` like Discord does."""
        out = []
        for comp in components:
            comp = dict(comp)
            if comp.get("id") is None:
                self._component_id += 1
                comp["id"] = self._component_id
            for key in ("components", "items"):
                if isinstance(comp.get(key), list) and all(isinstance(c, dict) for c in comp[key]):
                    comp[key] = self._number_components(comp[key])
            if isinstance(comp.get("accessory"), dict):
                comp["accessory"] = self._number_components([comp["accessory"]])[0]
            out.append(comp)
        return out

    def _resolve_embed_urls(self, embeds: list[dict[str, Any]], msg: FakeMessage) -> None:
        names = {a.filename: a for a in msg.attachments}
        for embed in embeds:
            embed.setdefault("type", "rich")
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                if isinstance(media, dict) and str(media.get("url", "")).startswith(
                    "attachment://"
                ):
                    att = names.get(media["url"][len("attachment://") :])
                    if att is not None:
                        url = self._attachment_url(msg, att)
                        media.update(url=url, proxy_url=url)
                        if att.width is not None:
                            media.update(width=att.width, height=att.height)

    def _check_rules(self, rec: RecordedRequest, body: dict[str, Any], flags: int) -> None:
        """Discord limits the OpenAPI description does not express."""
        content = body.get("content")
        if isinstance(content, str) and len(content) > 2000:
            self._rule_violation(rec, ["content"], "Must be 2000 or fewer in length.")
        embeds = body.get("embeds") or []
        total = 0
        for embed in embeds:
            if not isinstance(embed, dict):
                continue
            total += len(str(embed.get("title") or "")) + len(str(embed.get("description") or ""))
            total += len(str((embed.get("footer") or {}).get("text") or ""))
            total += len(str((embed.get("author") or {}).get("name") or ""))
            for fld in embed.get("fields") or []:
                total += len(str(fld.get("name") or "")) + len(str(fld.get("value") or ""))
        if total > 6000:
            self._rule_violation(rec, ["embeds"], "Embed size exceeds maximum size of 6000")
        components = body.get("components") or []
        if flags & FLAG_COMPONENTS_V2:
            if content or embeds:
                self._rule_violation(
                    rec,
                    ["content"],
                    "The 'content' and 'embeds' fields cannot be used with IS_COMPONENTS_V2",
                )
        elif len(components) > 5:
            self._rule_violation(rec, ["components"], "Must be 5 or fewer in length.")

    def _apply(
        self,
        rec: RecordedRequest,
        msg: FakeMessage,
        body: dict[str, Any],
        *,
        creating: bool,
        limit: int,
    ) -> None:
        """Apply a create/edit body (and the request's files) to ``msg``, all or nothing."""
        if creating:
            flags = msg.flags | (int(body.get("flags") or 0) & _CREATE_FLAGS)
        else:
            flags = msg.flags & ~FLAG_LOADING
            if body.get("flags") is not None:
                flags = (flags & ~_EDIT_FLAGS) | (int(body["flags"]) & _EDIT_FLAGS)
        self._check_rules(rec, body, flags)
        resolved = self._resolve_attachments(rec, body, msg.attachments, limit)
        attachments = msg.attachments if resolved is None else resolved
        content = body.get("content", msg.content)
        embeds = copy.deepcopy(body["embeds"] or []) if "embeds" in body else msg.embeds
        components = msg.components
        if "components" in body:
            components = self._number_components(body["components"] or [])
        poll = body.get("poll") if creating else msg.extra.get("poll")
        has_body = content or embeds or attachments or components or poll or body.get("sticker_ids")
        if not has_body and not flags & FLAG_LOADING:
            raise _ApiError(400, 50006, "Cannot send an empty message")
        msg.previous_attachments.extend(a for a in msg.attachments if a not in attachments)
        msg.content, msg.embeds, msg.components = content, embeds, components
        msg.attachments, msg.flags = attachments, flags
        if poll is not None:
            msg.extra["poll"] = poll
        self._resolve_embed_urls(msg.embeds, msg)
        if not creating:
            msg.edited_at = self._now()
        msg.history.append(msg.snapshot())

    def _create_message(
        self,
        rec: RecordedRequest,
        body: dict[str, Any],
        *,
        channel_id: int,
        limit: int,
        flags: int = 0,
        inter: Interaction | None = None,
        mtype: int = 0,
    ) -> FakeMessage:
        msg = FakeMessage(
            id=self._snowflake(),
            channel_id=channel_id,
            content="",
            flags=flags,
            guild_id=self._guild_of(channel_id),
            type=mtype,
            created_at=self._now(),
        )
        if inter is not None:
            msg.interaction_token = inter.token
            msg.interaction_id = inter.id
        self._apply(rec, msg, body, creating=True, limit=limit)
        self.messages[msg.id] = msg
        return msg

    # ---------------------------------------------------------------- simple endpoints

    async def _h_me(self, rec: RecordedRequest) -> _Reply:
        return _Reply(200, self.bot_user_json())

    async def _h_user(self, rec: RecordedRequest) -> _Reply:
        uid = rec.params["uid"]
        if not uid.isdigit():
            raise _ApiError(404, 10013, "Unknown User")
        return _Reply(200, self.user_json(int(uid)))

    async def _h_create_dm(self, rec: RecordedRequest) -> _Reply:
        body = rec.json if isinstance(rec.json, dict) else {}
        try:
            uid = int(body["recipient_id"])
        except (KeyError, TypeError, ValueError):
            raise _form_error(["recipient_id"], "BASE_TYPE_REQUIRED", "required") from None
        return _Reply(200, self.channel_json(self._dm_channel_for(uid)))

    async def _h_application(self, rec: RecordedRequest) -> _Reply:
        return _Reply(
            200,
            {
                "id": str(self.app_id),
                "name": "Art Factory",
                "description": "",
                "icon": None,
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.user_json(self.owner_id),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "tags": [],
                "rpc_origins": [],
                "redirect_uris": [],
                "hook": True,
                "approximate_guild_count": 1,
                "bot": self.bot_user_json(),
                "integration_types_config": {"0": {}},
            },
        )

    async def _h_gateway(self, rec: RecordedRequest) -> _Reply:
        return _Reply(200, {"url": self.gateway_url})

    async def _h_gateway_bot(self, rec: RecordedRequest) -> _Reply:
        return _Reply(
            200,
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            },
        )

    # ---------------------------------------------------------------- application commands

    def _check_app(self, rec: RecordedRequest) -> int | None:
        if rec.params["id"] != str(self.app_id):
            raise _ApiError(403, 50001, "Missing Access")
        gid = rec.params.get("gid")
        if gid is not None and gid != str(self.guild_id):
            raise _ApiError(403, 50001, "Missing Access")
        return int(gid) if gid is not None else None

    def _echo_command(self, cmd: dict[str, Any], gid: int | None) -> dict[str, Any]:
        ctype = int(cmd.get("type") or 1)
        perms = cmd.get("default_member_permissions")
        out: dict[str, Any] = {
            "id": str(self._command_id(gid, cmd["name"], ctype)),
            "application_id": str(self.app_id),
            "version": str(self._snowflake()),
            "type": ctype,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description") or "",
            "description_localizations": cmd.get("description_localizations"),
            "default_member_permissions": None if perms is None else str(perms),
            "nsfw": bool(cmd.get("nsfw", False)),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
        }
        if cmd.get("options"):
            out["options"] = copy.deepcopy(cmd["options"])
        if gid is None:
            out["dm_permission"] = cmd.get("dm_permission", True) is not False
        else:
            out["guild_id"] = str(gid)
        return out

    def _store_commands(self, gid: int | None, commands: dict[str, dict[str, Any]]) -> None:
        if gid is None:
            self.global_commands = commands
        else:
            self.guild_commands[gid] = commands
        merged = dict(self.global_commands)
        for guild_cmds in self.guild_commands.values():
            merged.update(guild_cmds)
        self.commands = merged

    async def _h_list_commands(self, rec: RecordedRequest) -> _Reply:
        gid = self._check_app(rec)
        stored = self.global_commands if gid is None else self.guild_commands.get(gid, {})
        return _Reply(200, list(stored.values()))

    async def _h_put_commands(self, rec: RecordedRequest) -> _Reply:
        gid = self._check_app(rec)
        body = rec.json if isinstance(rec.json, list) else []
        seen: set[tuple[str, int]] = set()
        echoed: dict[str, dict[str, Any]] = {}
        for index, cmd in enumerate(body):
            if not isinstance(cmd, dict) or not isinstance(cmd.get("name"), str):
                raise _form_error([index, "name"], "BASE_TYPE_REQUIRED", "This field is required")
            key = (cmd["name"], int(cmd.get("type") or 1))
            if key in seen:
                self._rule_violation(rec, [index, "name"], "Command names must be unique")
            seen.add(key)
            echo = self._echo_command(cmd, gid)
            echoed[echo["name"]] = echo
        self._store_commands(gid, echoed)
        return _Reply(200, list(echoed.values()))

    async def _h_post_command(self, rec: RecordedRequest) -> _Reply:
        gid = self._check_app(rec)
        if not isinstance(rec.json, dict) or not isinstance(rec.json.get("name"), str):
            raise _form_error(["name"], "BASE_TYPE_REQUIRED", "This field is required")
        echo = self._echo_command(rec.json, gid)
        stored = dict(self.global_commands if gid is None else self.guild_commands.get(gid, {}))
        created = echo["name"] not in stored
        stored[echo["name"]] = echo
        self._store_commands(gid, stored)
        return _Reply(201 if created else 200, echo)

    # ---------------------------------------------------------------- interactions

    def _interaction_limit(self, inter: Interaction) -> int:
        return int(inter.payload.get("attachment_size_limit") or self.attachment_size_limit)

    def _message_type_for(self, inter: Interaction) -> int:
        return 20 if inter.type == 2 else 0

    async def _h_callback(self, rec: RecordedRequest) -> _Reply:
        iid = rec.params["id"]
        inter = self._by_id.get(int(iid)) if iid.isdigit() else None
        if inter is None or inter.token != rec.params["token"]:
            raise _ApiError(404, 10062, "Unknown interaction")
        if inter.response_type is not None:
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        age = self.clock() - inter.clock_at_send
        if age > TOKEN_LIFETIME or (self.ack_deadline is not None and age > self.ack_deadline):
            raise _ApiError(404, 10062, "Unknown interaction")
        body = rec.json if isinstance(rec.json, dict) else {}
        ctype = body.get("type")
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        limit = self._interaction_limit(inter)
        channel_id = int(inter.payload.get("channel_id") or self.channel_id)
        msg: FakeMessage | None = None
        source = inter.payload.get("message")
        if ctype == 1:
            if inter.type != 1:
                raise _bad_callback_type("PONG only answers PING interactions")
        elif ctype in (4, 5):
            if inter.type == 1:
                raise _bad_callback_type("PING interactions are answered with PONG")
            ephemeral = int(data.get("flags") or 0) & FLAG_EPHEMERAL
            mtype = self._message_type_for(inter)
            if ctype == 5:
                msg = self._create_message(
                    rec,
                    {},
                    channel_id=channel_id,
                    limit=limit,
                    flags=FLAG_LOADING | ephemeral,
                    inter=inter,
                    mtype=mtype,
                )
            else:
                msg = self._create_message(
                    rec,
                    data,
                    channel_id=channel_id,
                    limit=limit,
                    flags=ephemeral,
                    inter=inter,
                    mtype=mtype,
                )
            inter.original_message_id = msg.id
        elif ctype in (6, 7):
            if not isinstance(source, dict):
                raise _bad_callback_type("Only valid for component interactions")
            msg = self.messages.get(int(source["id"]))
            if msg is None or msg.deleted:
                raise _unknown_message()
            if ctype == 7:
                self._apply(rec, msg, data, creating=False, limit=limit)
            inter.original_message_id = msg.id
        elif ctype == 8:
            if inter.type != 4:
                raise _bad_callback_type("Only valid for autocomplete interactions")
            inter.autocomplete_choices = list(data.get("choices") or [])
        elif ctype == 9:
            if inter.type in (1, 5):
                raise _bad_callback_type("A modal cannot answer a ping or a modal submission")
            inter.modal = data
        else:
            raise _form_error(["type"], "BASE_TYPE_CHOICES", f"Value {ctype!r} is not valid")
        inter.response_type = int(ctype)
        inter.responded_at = rec.time
        if rec.query.get("with_response") not in _TRUE:
            return _Reply(204)
        resource: dict[str, Any] = {"type": ctype}
        if msg is not None and ctype in (4, 5, 7):
            resource["message"] = self._message_json(msg)
        return _Reply(
            200,
            {
                "interaction": {
                    "id": str(inter.id),
                    "type": inter.type,
                    "activity_instance_id": None,
                    "response_message_id": str(msg.id) if msg is not None else None,
                    "response_message_loading": bool(msg is not None and msg.loading),
                    "response_message_ephemeral": bool(msg is not None and msg.ephemeral),
                },
                "resource": resource,
            },
        )

    def _webhook_interaction(self, rec: RecordedRequest) -> Interaction:
        if rec.params["id"] != str(self.app_id):
            raise _unknown_webhook()
        inter = self._by_token.get(rec.params["token"])
        if inter is None:
            raise _unknown_webhook()
        if self.clock() - inter.clock_at_send > TOKEN_LIFETIME:
            raise _ApiError(401, 50027, "Invalid Webhook Token")
        return inter

    def _webhook_message(self, rec: RecordedRequest, inter: Interaction) -> FakeMessage:
        mid = rec.params["mid"]
        if mid == "@original":
            if inter.original_message_id is None:
                raise _unknown_message()
            target = inter.original_message_id
        elif mid.isdigit() and (
            int(mid) == inter.original_message_id or int(mid) in inter.followup_ids
        ):
            target = int(mid)
        else:
            raise _unknown_message()
        msg = self.messages.get(target)
        if msg is None or msg.deleted:
            raise _unknown_message()
        return msg

    async def _h_followup(self, rec: RecordedRequest) -> _Reply:
        inter = self._webhook_interaction(rec)
        if inter.response_type is None:
            raise _unknown_webhook()
        body = rec.json if isinstance(rec.json, dict) else {}
        limit = self._interaction_limit(inter)
        original = inter.original()
        if (
            original is not None
            and not original.deleted
            and original.loading
            and inter.response_type == 5
        ):
            # Documented: the first follow-up after a deferred response edits the loading
            # message instead (its ephemeral flag stays as deferred).
            self._apply(rec, original, body, creating=False, limit=limit)
            msg = original
        else:
            ephemeral = int(body.get("flags") or 0) & FLAG_EPHEMERAL
            msg = self._create_message(
                rec,
                body,
                channel_id=int(inter.payload.get("channel_id") or self.channel_id),
                limit=limit,
                flags=ephemeral,
                inter=inter,
                mtype=self._message_type_for(inter),
            )
            inter.followup_ids.append(msg.id)
        if rec.query.get("wait") not in _TRUE:
            return _Reply(204)
        return _Reply(200, self._message_json(msg))

    async def _h_webhook_get(self, rec: RecordedRequest) -> _Reply:
        inter = self._webhook_interaction(rec)
        return _Reply(200, self._message_json(self._webhook_message(rec, inter)))

    async def _h_webhook_edit(self, rec: RecordedRequest) -> _Reply:
        inter = self._webhook_interaction(rec)
        msg = self._webhook_message(rec, inter)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._apply(rec, msg, body, creating=False, limit=self._interaction_limit(inter))
        return _Reply(200, self._message_json(msg))

    async def _h_webhook_delete(self, rec: RecordedRequest) -> _Reply:
        inter = self._webhook_interaction(rec)
        self._webhook_message(rec, inter).deleted = True
        return _Reply(204)

    # ---------------------------------------------------------------- channels

    def _channel_id(self, rec: RecordedRequest) -> int:
        cid = rec.params["cid"]
        if not cid.isdigit() or int(cid) in self.deleted_channels:
            raise _unknown_channel()
        return int(cid)

    def _channel_message(self, rec: RecordedRequest) -> FakeMessage:
        cid = self._channel_id(rec)
        mid = rec.params["mid"]
        msg = self.messages.get(int(mid)) if mid.isdigit() else None
        if msg is None or msg.deleted or msg.ephemeral or msg.channel_id != cid:
            raise _unknown_message()
        return msg

    async def _h_channel(self, rec: RecordedRequest) -> _Reply:
        return _Reply(200, self.channel_json(self._channel_id(rec)))

    async def _h_typing(self, rec: RecordedRequest) -> _Reply:
        self._channel_id(rec)
        return _Reply(204)

    async def _h_channel_post(self, rec: RecordedRequest) -> _Reply:
        cid = self._channel_id(rec)
        body = rec.json if isinstance(rec.json, dict) else {}
        ref = body.get("message_reference")
        mtype = 0
        if isinstance(ref, dict) and ref.get("message_id") is not None:
            target = self.messages.get(int(ref["message_id"]))
            if (target is None or target.deleted) and ref.get("fail_if_not_exists", True):
                raise _form_error(
                    ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            ref = {
                "type": ref.get("type", 0),
                "message_id": str(ref["message_id"]),
                "channel_id": str(ref.get("channel_id") or cid),
            }
            if self._guild_of(cid) is not None:
                ref["guild_id"] = str(self._guild_of(cid))
            mtype = 19
        # Documented: with `enforce_nonce`, a nonce this author used in the past few minutes
        # returns that message instead of creating another (here: for the fake's life).
        nonce = (cid, str(body["nonce"])) if body.get("enforce_nonce") and "nonce" in body else None
        earlier = self.messages.get(self._nonces.get(nonce, 0)) if nonce else None
        if earlier is not None and not earlier.deleted:
            return _Reply(200, self._message_json(earlier))
        msg = self._create_message(
            rec, body, channel_id=cid, limit=self.attachment_size_limit, mtype=mtype
        )
        if mtype == 19:
            msg.message_reference = ref
        if nonce is not None:
            self._nonces[nonce] = msg.id
        return _Reply(200, self._message_json(msg))

    async def _h_channel_get(self, rec: RecordedRequest) -> _Reply:
        return _Reply(200, self._message_json(self._channel_message(rec)))

    async def _h_channel_edit(self, rec: RecordedRequest) -> _Reply:
        msg = self._channel_message(rec)
        body = rec.json if isinstance(rec.json, dict) else {}
        if msg.author is not None and set(body) - {"flags"}:
            raise _ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._apply(rec, msg, body, creating=False, limit=self.attachment_size_limit)
        return _Reply(200, self._message_json(msg))

    async def _h_channel_delete(self, rec: RecordedRequest) -> _Reply:
        self._channel_message(rec).deleted = True
        return _Reply(204)

    async def _h_reaction(self, rec: RecordedRequest) -> _Reply:
        msg = self._channel_message(rec)
        emoji = rec.params["emoji"]
        if rec.method == "PUT" and emoji not in msg.reactions:
            msg.reactions.append(emoji)
        elif rec.method == "DELETE" and emoji in msg.reactions:
            msg.reactions.remove(emoji)
        return _Reply(204)
