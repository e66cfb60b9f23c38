"""A fake of Discord's OAuth2 authorization-code flow, on its own plain-HTTP loopback port, for
the web gallery's sign-in (bot/web/gallery/oauth.py).

- ``GET /oauth2/authorize?response_type=code&client_id&scope&state&redirect_uri`` stands for
  Discord's consent screen with ``signed_in`` (a user id) already agreeing: it answers 302 to
  ``redirect_uri?code=…&state=…`` (the state echoed as given). A request with the wrong
  client, response type or scopes gets 400, as Discord shows an error page then. Every request
  is kept in ``authorizations``.
- ``POST /api/v10/oauth2/token`` (form: ``grant_type=authorization_code``, ``code``,
  ``redirect_uri``, ``client_id``, ``client_secret``): ``{access_token, token_type: "Bearer",
  expires_in, refresh_token, scope}``. A code works once, within 10 minutes, with the
  ``redirect_uri`` it was issued for; otherwise 400 ``{"error": "invalid_grant"}``; a wrong
  client secret gets 401 ``{"error": "invalid_client"}``.
- ``GET /api/v10/users/@me`` and ``GET /api/v10/users/@me/guilds`` with ``Authorization:
  Bearer <token>``: the user (``{id, username, global_name, avatar, discriminator}``) and
  their partial guilds (``[{id, name, icon, owner, permissions}]``, from ``guilds_of``);
  401 ``{"message": "401: Unauthorized", "code": 0}`` without a valid token.
"""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

CLIENT_ID = 1_111_111_111_111_111
CLIENT_SECRET = "oauth-test-secret"
CODE_TTL_S = 600


@dataclass
class _Grant:
    user_id: int
    redirect_uri: str
    issued: float


class FakeDiscordOAuth:
    def __init__(self, client_id: int = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.signed_in: int | None = None  # the user agreeing on the consent screen
        self.names: dict[int, str] = {}
        self.guilds_of: dict[int, list[int]] = {}
        self.authorizations: list[dict[str, str]] = []
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_post("/api/v10/oauth2/token", self._token)
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/users/@me/guilds", self._guilds)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _authorize(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.authorizations.append(query)
        scopes = set(query.get("scope", "").split())
        if (
            query.get("client_id") != str(self.client_id)
            or query.get("response_type") != "code"
            or not {"identify", "guilds"} <= scopes
            or not query.get("redirect_uri")
            or self.signed_in is None
        ):
            return web.Response(status=400, text="Invalid OAuth2 request")
        code = secrets.token_urlsafe(16)
        self._codes[code] = _Grant(self.signed_in, query["redirect_uri"], time.monotonic())
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        raise web.HTTPFound(f"{query['redirect_uri']}?{urlencode(back)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != str(self.client_id) or form.get("client_secret") != (
            self.client_secret
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self._codes.pop(str(form.get("code", "")), None)
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != grant.redirect_uri
            or time.monotonic() - grant.issued > CODE_TTL_S
        ):
            return web.json_response({"error": "invalid_grant"}, status=400)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = grant.user_id
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 604800,
                "refresh_token": secrets.token_urlsafe(24),
                "scope": "identify guilds",
            }
        )

    def _user(self, request: web.Request) -> int:
        auth = request.headers.get("Authorization", "")
        user = (
            self._tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        )
        if user is None:
            raise web.HTTPUnauthorized(
                text='{"message": "401: Unauthorized", "code": 0}', content_type="application/json"
            )
        return user

    async def _me(self, request: web.Request) -> web.Response:
        user = self._user(request)
        name = self.names.get(user, f"member{user}")
        return web.json_response(
            {
                "id": str(user),
                "username": name.lower(),
                "global_name": name,
                "avatar": None,
                "discriminator": "0",
            }
        )

    async def _guilds(self, request: web.Request) -> web.Response:
        user = self._user(request)
        return web.json_response(
            [
                {
                    "id": str(g),
                    "name": f"Server {g}",
                    "icon": None,
                    "owner": False,
                    "permissions": "0",
                }
                for g in self.guilds_of.get(user, [])
            ]
        )
