"""fal's queue API over one aiohttp session: submit, result, cancel, and the session the
status streams (`fal_stream.py`) are read on.

fal-client does these calls through two nested httpx clients (its `AsyncBackupDomainTransport`
wraps a second one), and httpcore's pool checks every pooled connection on each request (a
`getpeername` and a `poll` per connection: `has_expired`). In the 0 s-provider benchmark that
was a third of the event loop's time, half of it in that scan (issue 14, bench/README.md).
aiohttp's connector finds an idle connection per host in constant time. The calls send what
fal-client sends (its credentials, user agent and queue URLs, read from the client itself) and
keep its backup-domain fallback; fal-client still makes the handles, polls when a stream is
unavailable, and uploads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from typing import Any
from urllib.parse import urlencode

import aiohttp
import certifi
import fal_client
from aiohttp.helpers import get_env_proxy_for_url
from fal_client.client import AsyncRequestHandle
from yarl import URL

from bot.errors import ProviderError
from bot.i18n import _
from bot.providers.base import parse_retry_after, trim_reason

log = logging.getLogger(__name__)

# A status stream is idle between changes; fal sends a comment every 15 s to keep it open, so a
# minute of silence means the connection is dead and polling takes over.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15, sock_read=60)

# fal-client's read timeout for results and cancels (its QUEUE_POLL_TIMEOUT).
QUEUE_TIMEOUT_S = 120.0


class FalHttp:
    """The aiohttp session for fal's queue host, made in the running loop on first use."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, dict[str, Any]] = {}
        self.traces: list[aiohttp.TraceConfig] = []  # the metrics' (Provider.observe_http)

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Loading a CA bundle takes tens of milliseconds: not on the event loop.
            context = await asyncio.to_thread(_tls_context)
            if self._session is not None and not self._session.closed:
                return self._session  # another job made it meanwhile
            self._session = aiohttp.ClientSession(
                # No cap here: one connection per open status stream; the provider's own
                # semaphore caps the calls.
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=15, ssl=context),
                timeout=STREAM_TIMEOUT,
                # Proxies from the environment, as httpx honours them, but looked up once per
                # host (`proxy_for`): aiohttp's trust_env reads the environment and ~/.netrc on
                # a worker thread for every request, two thread hand-offs per call.
                trust_env=False,
                trace_configs=self.traces or None,
            )
        return self._session

    def proxy_for(self, url: URL) -> dict[str, Any]:
        """`proxy`/`proxy_auth` for a request to `url`, from HTTPS_PROXY/NO_PROXY & co."""
        host = url.host or ""
        if host not in self._proxies:
            try:
                proxy, auth = get_env_proxy_for_url(url)
                self._proxies[host] = {"proxy": proxy, "proxy_auth": auth}
            except LookupError:
                self._proxies[host] = {}
        return self._proxies[host]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def submit(
        self,
        client: fal_client.AsyncClient,
        model: str,
        arguments: dict[str, Any],
        webhook_url: str | None = None,
    ) -> AsyncRequestHandle:
        """fal-client's `AsyncClient.submit`: POST the input to the model's queue URL (with
        `?fal_webhook=` when a webhook is wanted, as fal-client adds it)."""
        httpx_client = await client._client
        address = fal_client.client.QUEUE_URL_FORMAT + model
        if webhook_url is not None:
            address += "?" + urlencode({"fal_webhook": webhook_url})
        data = await self._call(
            "POST",
            address,
            credentials(httpx_client.headers),
            body=json.dumps(arguments, separators=(",", ":"), allow_nan=False).encode(),
            timeout_s=client.default_timeout,
        )
        return AsyncRequestHandle(
            request_id=data["request_id"],
            response_url=data["response_url"],
            status_url=data["status_url"],
            cancel_url=data["cancel_url"],
            client=httpx_client,
        )

    async def result(self, handle: AsyncRequestHandle) -> Any:
        return await self._call(
            "GET",
            handle.response_url,
            credentials(handle.client.headers),
            timeout_s=QUEUE_TIMEOUT_S,
        )

    async def cancel(self, handle: AsyncRequestHandle) -> None:
        await self._call(
            "PUT",
            handle.cancel_url,
            credentials(handle.client.headers),
            timeout_s=QUEUE_TIMEOUT_S,
        )

    async def _call(
        self,
        method: str,
        address: str,
        headers: dict[str, str],
        *,
        timeout_s: float,
        body: bytes = b"",
    ) -> Any:
        session = await self.session()
        url = URL(address)
        timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=_connect_timeout(url))
        if body:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            return await _exchange(
                session, method, url, headers, body, timeout, self.proxy_for(url)
            )
        except aiohttp.ClientConnectorError as exc:
            backup = _backup_url(url)
            if backup is None:
                raise _transport_error(exc) from exc
            log.warning("Connection to %s failed (%s); trying %s", url, exc, backup)
            try:
                return await _exchange(
                    session, method, backup, headers, body, timeout, self.proxy_for(backup)
                )
            except aiohttp.ClientConnectorError:
                raise _transport_error(exc) from exc  # the primary's error, as fal-client does
            except (aiohttp.ClientError, TimeoutError) as second:
                raise _transport_error(second) from second
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _transport_error(exc) from exc


async def _exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    headers: dict[str, str],
    body: bytes,
    limits: aiohttp.ClientTimeout,
    proxy: dict[str, Any],
) -> Any:
    async with session.request(
        method, url, headers=headers, data=body or None, timeout=limits, **proxy
    ) as response:
        raw = await response.read()
        if response.status >= 400:
            raise http_error(response.status, dict(response.headers), raw)
    try:
        return json.loads(raw) if raw else None
    except ValueError as exc:
        raise ProviderError(
            "fal", _("fal answered with something other than JSON"), retryable=True
        ) from exc


def credentials(client_headers: Any) -> dict[str, str]:
    """fal-client's own credentials and user agent, from its authenticated httpx client."""
    return {
        "Authorization": client_headers.get("authorization", ""),
        "User-Agent": client_headers.get("user-agent", ""),
    }


def _connect_timeout(url: URL) -> float | None:
    """fal-client caps connecting to a host with a backup domain, so an unreachable one fails
    over quickly."""
    domains = fal_client.client._BACKUP_DOMAINS
    if url.host in domains or url.host in domains.values():
        return float(fal_client.client._BACKUP_DOMAIN_CONNECT_TIMEOUT)
    return None


def _backup_url(url: URL) -> URL | None:
    backup = fal_client.client._BACKUP_DOMAINS.get(url.host or "")
    return url.with_host(backup) if backup else None


def http_error(status: int, headers: dict[str, str], raw: bytes) -> ProviderError:
    """fal's error answer as the bot's error: `detail` of a JSON body (FastAPI's list of
    validation errors, or a string), `x-fal-retryable` deciding a retry where fal sends it."""
    text = raw.decode("utf-8", "replace")
    detail: Any = text
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail", text)
    return error_for(status, headers, detail)


def error_for(status: int, headers: dict[str, str], detail: Any) -> ProviderError:
    headers = {k.lower(): v for k, v in headers.items()}
    header = headers.get("x-fal-retryable")
    if header is not None:
        retryable = header.strip().lower() == "true"
    else:
        retryable = status in (408, 409, 429) or status >= 500
    return ProviderError(
        "fal",
        describe_detail(detail, status),
        retryable=retryable,
        status=status,
        retry_after=parse_retry_after(headers),
    )


def describe_detail(detail: Any, status: int) -> str:
    if status in (401, 403):
        return _("fal refused the bot's API key (the bot owner must check FAL_KEY)")
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = item.get("loc") or []
                field = ".".join(str(p) for p in loc if p != "body")
                msg = item.get("msg", _("invalid value"))
                parts.append(f"{field}: {msg}" if field else str(msg))
            else:
                parts.append(str(item))
        return trim_reason("; ".join(parts) or f"HTTP {status}")
    return trim_reason(str(detail) or f"HTTP {status}")


def _transport_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return ProviderError(
            "fal", _("could not reach fal ({error})", error=type(exc).__name__), retryable=True
        )
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return ProviderError(
            "fal", _("fal did not answer in time"), retryable=True, maybe_accepted=True
        )
    return ProviderError(
        "fal",
        _("the connection to fal broke ({error})", error=type(exc).__name__),
        retryable=True,
        maybe_accepted=True,
    )


def _tls_context() -> ssl.SSLContext:
    """The trust store fal-client's httpx uses: `SSL_CERT_FILE` or `SSL_CERT_DIR` when set
    (read now, like httpx does when it makes its client), else certifi's bundle."""
    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    if capath:
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context(cafile=certifi.where())
