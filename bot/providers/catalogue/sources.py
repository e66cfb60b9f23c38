"""Where the providers serve their models' schemas, read with the bot's shared aiohttp session.

- fal: `GET {models_base_url}/v1/models?endpoint_id=…&expand=openapi-3.0` (1–50 ids per call)
  answers `{"models": [{"endpoint_id", "openapi", …}]}`: the endpoint's OpenAPI document.
- Replicate: `GET /v1/models/{owner}/{name}` answers `is_official` and `latest_version` (`id`,
  `openapi_schema`); a pinned `owner/name:version` is read from
  `GET /v1/models/{owner}/{name}/versions/{id}`.

Neither provider's client library has these calls (fal-client has no platform API; replicate's
`models.get` drops nothing but would need its own retry-free client), so they are plain GETs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from bot.config import Config
from bot.errors import ProviderError
from bot.i18n import _
from bot.providers.catalogue.refresh import Published, SchemaSource, live_document

FAL_MODELS_API = "https://api.fal.ai"
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
MAX_IDS_PER_CALL = 50  # fal's limit for `endpoint_id`
MAX_PAGES = 20  # a cursor that never ends is a server bug, not a reason to loop forever


class FalSchemas:
    name = "fal"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, key: str) -> None:
        self._session, self._base, self._key = session, base_url.rstrip("/"), key

    async def published_schemas(self, models: list[str]) -> Published:
        found: Published = {}
        for start in range(0, len(models), MAX_IDS_PER_CALL):
            chunk = models[start : start + MAX_IDS_PER_CALL]
            async for item in self._listed(chunk):
                model = str(item.get("endpoint_id"))
                if model in chunk and isinstance(item.get("openapi"), dict):
                    source = f"{self._base}/v1/models?endpoint_id={model}&expand=openapi-3.0"
                    found[model] = live_document("fal", model, item["openapi"], url=source)
        return found

    async def _listed(self, chunk: list[str]) -> AsyncIterator[dict[str, Any]]:
        """The models fal lists for these ids, page after page (the page size depends on the
        expansion, so 50 ids may come back in several)."""
        cursor: str | None = None
        for _page in range(MAX_PAGES):
            params = [("endpoint_id", m) for m in chunk] + [("expand", "openapi-3.0")]
            if cursor:
                params.append(("cursor", cursor))
            data = await _get_json(
                self._session,
                f"{self._base}/v1/models",
                "fal",
                params=params,
                headers={"Authorization": f"Key {self._key}"},
            )
            for item in data.get("models") or ():
                if isinstance(item, dict):
                    yield item
            cursor = data.get("next_cursor") if data.get("has_more") else None
            if not isinstance(cursor, str) or not cursor:
                return


class ReplicateSchemas:
    name = "replicate"

    def __init__(
        self, session: aiohttp.ClientSession, token: str, base_url: str | None = None
    ) -> None:
        base = base_url or os.environ.get("REPLICATE_BASE_URL") or "https://api.replicate.com"
        self._session, self._base = session, base.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}

    async def published_schemas(self, models: list[str]) -> Published:
        found: Published = {}
        for model in models:
            base, _colon, version = model.partition(":")
            path = f"/v1/models/{base}/versions/{version}" if version else f"/v1/models/{base}"
            url = self._base + path
            try:
                data = await _get_json(self._session, url, "replicate", headers=self._headers)
            except ProviderError as exc:
                found[model] = exc  # that model's reason; the others still count
                continue
            pinned: Any = version or None
            if pinned:
                schema, official = data.get("openapi_schema"), False
            else:
                latest = data.get("latest_version") or {}
                schema, pinned = latest.get("openapi_schema"), latest.get("id")
                official = bool(data.get("is_official"))
            if isinstance(schema, dict):
                found[model] = live_document(
                    "replicate", model, schema, url=url, version=pinned, official=official
                )
        return found


def schema_sources(config: Config, session: aiohttp.ClientSession) -> dict[str, SchemaSource]:
    """One schema reader per enabled provider that serves schemas."""
    sources: dict[str, SchemaSource] = {}
    if "fal" in config.enabled_providers:
        settings = config.providers["fal"]
        key = config.secrets.provider_keys["fal"].get()
        sources["fal"] = FalSchemas(session, settings.models_base_url or FAL_MODELS_API, key)
    if "replicate" in config.enabled_providers:
        token = config.secrets.provider_keys["replicate"].get()
        sources["replicate"] = ReplicateSchemas(session, token)
    return sources


async def _get_json(
    session: aiohttp.ClientSession,
    url: str,
    provider: str,
    *,
    params: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    try:
        async with session.get(
            url, params=params, headers=headers, timeout=FETCH_TIMEOUT
        ) as response:
            if response.status != 200:
                raise ProviderError(
                    provider,
                    _("{url} answered HTTP {status}", url=url, status=response.status),
                    retryable=response.status >= 500,
                    status=response.status,
                )
            data = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ProviderError(provider, f"{url}: {type(exc).__name__}", retryable=True) from exc
    if not isinstance(data, dict):
        raise ProviderError(provider, _("{url} answered no JSON object", url=url), retryable=False)
    return data
