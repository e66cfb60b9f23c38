"""Who is looking: the signed-in member, kept in a signed cookie, and the OAuth2 `state` that
binds a sign-in to the browser that started it.

Both cookies are signed with itsdangerous (a timestamped HMAC), `HttpOnly` (no script reads
them), `Secure` (never sent in the clear; Chromium also keeps them for http://localhost) and
`SameSite=Lax` (sent when a member follows a link here, not on another site's form posts). The
session keeps the member's servers as Discord listed them at sign-in, so a member who left a
server keeps its pages until the session ends (`SESSION_S`).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

log = logging.getLogger(__name__)

SESSION_COOKIE = "af_session"
STATE_COOKIE = "af_oauth_state"
SESSION_S = 86_400
STATE_S = 600
MAX_GUILDS = 100  # a cookie holds about 4 KB


@dataclass(frozen=True)
class Viewer:
    user_id: int
    name: str
    guilds: frozenset[int]
    csrf: str  # the token every form of this session posts back


class Sessions:
    def __init__(self, secret: str | None) -> None:
        if not secret:
            log.warning(
                "WEB_SESSION_SECRET is not set: web sign-ins last until the bot restarts "
                "(export WEB_SESSION_SECRET=<a long random string> to keep them)"
            )
            secret = secrets.token_urlsafe(32)
        self._session = URLSafeTimedSerializer(secret, salt="af-session")
        self._state = URLSafeTimedSerializer(secret, salt="af-oauth-state")

    def viewer(self, request: web.Request) -> Viewer | None:
        data = self._load(self._session, request.cookies.get(SESSION_COOKIE), SESSION_S)
        if not isinstance(data, dict):
            return None
        return Viewer(int(data["u"]), str(data["n"]), frozenset(data["g"]), str(data["c"]))

    def sign_in(
        self, response: web.StreamResponse, user_id: int, name: str, guilds: set[int]
    ) -> None:
        value = {
            "u": user_id,
            "n": name,
            "g": sorted(guilds)[:MAX_GUILDS],
            "c": secrets.token_urlsafe(16),
        }
        _set(response, SESSION_COOKIE, self._session.dumps(value), SESSION_S)

    def sign_out(self, response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path="/")

    def begin(self, response: web.StreamResponse, next_path: str) -> str:
        """A fresh `state` for a sign-in, remembered (with where to go after) in this browser."""
        state = secrets.token_urlsafe(24)
        _set(response, STATE_COOKIE, self._state.dumps({"s": state, "n": next_path}), STATE_S)
        return state

    def finish(self, request: web.Request, response: web.StreamResponse) -> str | None:
        """Where to go after a sign-in whose `state` is the one this browser started with;
        None for any other (a forged or replayed callback, or one older than `STATE_S`)."""
        data = self._load(self._state, request.cookies.get(STATE_COOKIE), STATE_S)
        response.del_cookie(STATE_COOKIE, path="/")
        given = request.query.get("state", "")
        if not isinstance(data, dict) or not secrets.compare_digest(str(data["s"]), given):
            return None
        return str(data["n"])

    @staticmethod
    def _load(serializer: URLSafeTimedSerializer, value: str | None, max_age: int) -> object:
        if not value:
            return None
        try:
            return serializer.loads(value, max_age=max_age)
        except (BadSignature, KeyError, TypeError, ValueError):
            return None


def _set(response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, secure=True, samesite="Lax"
    )


def safe_next(path: str | None) -> str:
    """A path on this site to return to after signing in (never another site's address)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/me"
    return path
