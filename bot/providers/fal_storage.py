"""fal's file storage, for input images too large to send inline.

fal-client has an `upload` of its own, but it sends to fixed hosts (`rest.fal.ai` for the token,
`v3.fal.media` for the file) that `FAL_RUN_HOST` does not move, so an operator behind a proxy (or
a test against a fake) could not point it elsewhere, and it retries on its own. This is the same
exchange as fal's clients (fal-client's `AsyncCDNTokenManager`, fal-js `cdn.ts`) against the
configurable `[providers.fal] storage_url`, on fal-client's own httpx client (its key, user
agent, proxies and trust store):

1. `POST {storage_url}/storage/auth/token?storage_type=fal-cdn-v3` with `Authorization: Key …`
   and `{}` → `{token, token_type, base_url, expires_at}`, kept until shortly before it expires;
2. `POST {base_url}/files/upload` with `Authorization: {token_type} {token}`, the file's
   `Content-Type` and `X-Fal-File-Name` → `{"access_url": …}`, the URL the job sends.

Errors are raised as they come (fal-client's `FalClientHTTPError`, httpx's); the provider maps
them like its other calls.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import fal_client
import httpx

# A token this close to its expiry is renewed first, so an upload never starts on a dying one.
TOKEN_MARGIN = timedelta(seconds=60)
UPLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


@dataclass(frozen=True)
class _Token:
    token: str
    token_type: str
    base_url: str
    expires_at: datetime

    @property
    def header(self) -> str:
        return f"{self.token_type} {self.token}"

    def fresh(self) -> bool:
        return datetime.now(UTC) < self.expires_at - TOKEN_MARGIN


class FalStorage:
    def __init__(self, client: fal_client.AsyncClient, storage_url: str) -> None:
        self._client = client
        self._token_url = f"{storage_url.rstrip('/')}/storage/auth/token"
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def upload(self, data: bytes, content_type: str, file_name: str) -> str:
        """Store `data` on fal's CDN and return its URL."""
        http: httpx.AsyncClient = await self._client._client  # fal-client's cached client
        token = await self._current_token(http)
        response = await self._send(http, token, data, content_type, file_name)
        if response.status_code == 401:  # a token revoked before its time: one fresh try
            self._token = None
            token = await self._current_token(http)
            response = await self._send(http, token, data, content_type, file_name)
        fal_client.client._raise_for_status(response)
        url = response.json().get("access_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ValueError(f"fal's storage answered without a file URL ({url!r})")
        return url

    async def _send(
        self, http: httpx.AsyncClient, token: _Token, data: bytes, content_type: str, name: str
    ) -> httpx.Response:
        return await http.post(
            f"{token.base_url.rstrip('/')}/files/upload",
            content=data,
            headers={
                "Authorization": token.header,  # replaces the client's `Key …`
                "Content-Type": content_type,
                "X-Fal-File-Name": name,
            },
            timeout=UPLOAD_TIMEOUT,
        )

    async def _current_token(self, http: httpx.AsyncClient) -> _Token:
        async with self._lock:  # concurrent uploads share one token request
            if self._token is None or not self._token.fresh():
                response = await http.post(
                    self._token_url,
                    params={"storage_type": "fal-cdn-v3"},
                    json={},
                    headers={"Accept": "application/json"},
                    timeout=UPLOAD_TIMEOUT,
                )
                fal_client.client._raise_for_status(response)
                body = response.json()
                expires_at = datetime.fromisoformat(body["expires_at"])
                if expires_at.tzinfo is None:
                    expires_at = expires_at.replace(tzinfo=UTC)
                self._token = _Token(
                    token=body["token"],
                    token_type=body.get("token_type") or "Bearer",
                    base_url=body["base_url"],
                    expires_at=expires_at,
                )
            return self._token
