"""Signing in with Discord: OAuth2's authorization-code flow with the `identify guilds` scopes
(who the member is, and which servers they are in: a server's gallery that is not public is
shown to its members only). The access token is used once, at sign-in, and not kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

SCOPES = "identify guilds"
TIMEOUT = aiohttp.ClientTimeout(total=15)


class SignInFailed(Exception):
    """Discord refused the code or did not answer; the member may try again."""


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    guilds: frozenset[int]


class DiscordOAuth:
    def __init__(
        self, session: aiohttp.ClientSession, base: str, client_id: int, client_secret: str
    ) -> None:
        self._session = session
        self._base = base.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = {
            "response_type": "code",
            "client_id": str(self._client_id),
            "scope": SCOPES,
            "state": state,
            "redirect_uri": redirect_uri,
            "prompt": "none",  # no consent screen again for a member who already agreed
        }
        return f"{self._base}/oauth2/authorize?{urlencode(query)}"

    async def sign_in(self, code: str, redirect_uri: str) -> Member:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": str(self._client_id),
            "client_secret": self._secret,
        }
        try:
            token = await self._call("POST", "/oauth2/token", data=form)
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            user = await self._call("GET", "/users/@me", headers=auth)
            guilds = await self._call("GET", "/users/@me/guilds", headers=auth)
            return Member(
                user_id=int(user["id"]),
                name=str(user.get("global_name") or user["username"]),
                guilds=frozenset(int(g["id"]) for g in guilds),
            )
        except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError) as exc:
            raise SignInFailed(repr(exc)) from exc

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self._base}/api/v10{path}"
        async with self._session.request(method, url, timeout=TIMEOUT, **kwargs) as response:
            if response.status != 200:
                raise SignInFailed(f"{method} {path}: HTTP {response.status}")
            return await response.json()
