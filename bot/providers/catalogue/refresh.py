"""The catalogue kept current: each configured fal and Replicate model's schema read from the
provider at start (and by `doctor`), cached in the database, with a fallback that never leaves
the bot without one.

Order of trust: the schema the provider serves now; else the one it served last (the cache);
else the shipped snapshot; else the model is not offered (a model with no known schema could
be sent something its provider rejects, after the member was charged). Each fallback is one log
line naming the model and why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.config import Config
from bot.errors import ProviderError
from bot.providers.catalogue.registry import Catalogue, entry_from
from bot.providers.catalogue.schema import SchemaError

log = logging.getLogger(__name__)


# Snapshot-shaped documents by model id, or why that model's could not be read.
Published = dict[str, dict[str, Any] | ProviderError]


class SchemaSource(Protocol):
    """A provider that serves its models' schemas (fal, Replicate)."""

    name: str

    async def published_schemas(self, models: list[str]) -> Published:
        """A model the provider does not list is left out; raising ProviderError means none
        could be read."""
        ...


class SchemaCache(Protocol):
    async def save(self, provider: str, model: str, document: dict[str, Any]) -> None: ...

    async def all(self) -> Iterable[Any]: ...


@dataclass(frozen=True)
class Outcome:
    provider: str
    model: str
    source: str  # "live", "cache", "snapshot" or "none"
    reason: str = ""


def configured_models(config: Config, provider: str) -> list[str]:
    settings = config.providers[provider]
    models = (*settings.allowed_models(), *settings.mode_models())
    return list(dict.fromkeys(m for m in models if m))


async def load_cached(catalogue: Catalogue, cache: SchemaCache) -> int:
    """Install the schemas read at an earlier start, unless the bot now ships a newer snapshot
    of the same model (an upgrade brought a schema taken after that read)."""
    installed = 0
    for row in await cache.all():
        shipped = catalogue.entry(row.provider, row.model)
        read_on = time.strftime("%Y-%m-%d", time.gmtime(row.fetched_at))
        if shipped is not None and shipped.model == row.model and shipped.taken > read_on:
            continue
        try:
            catalogue.install(entry_from(_with_price(catalogue, row.document)))
        except (SchemaError, KeyError, TypeError) as exc:
            log.warning("ignoring the cached schema of %s %s: %s", row.provider, row.model, exc)
            continue
        installed += 1
    return installed


async def refresh(
    catalogue: Catalogue,
    config: Config,
    sources: Mapping[str, SchemaSource],
    cache: SchemaCache | None,
) -> list[Outcome]:
    """Read every configured model's schema from the providers that serve them."""
    outcomes: list[Outcome] = []
    for name, provider in sources.items():
        if name not in config.enabled_providers:
            continue
        models = configured_models(config, name)
        documents: Published
        try:
            documents = await provider.published_schemas(models)
            reason = "the provider did not list it"
        except ProviderError as exc:
            documents, reason = {}, exc.reason
        for model in models:
            outcomes.append(await _install(catalogue, cache, name, model, documents, reason))
    return outcomes


async def _install(
    catalogue: Catalogue,
    cache: SchemaCache | None,
    provider: str,
    model: str,
    documents: Published,
    reason: str,
) -> Outcome:
    document = documents.get(model)
    if isinstance(document, ProviderError):
        reason, document = document.reason, None
    if document is not None:
        try:
            entry = entry_from(_with_price(catalogue, document))
        except (SchemaError, KeyError, TypeError) as exc:
            reason = f"its published schema is unreadable ({exc})"
        else:
            catalogue.install(entry)
            if cache is not None:
                await cache.save(provider, model, dict(document))
            return Outcome(provider, model, "live")
    known = catalogue.entry(provider, model)
    if known is not None:
        kind = "cache" if known.source.startswith("live:") else "snapshot"
        log.warning(
            "%s: using the %s schema of %s (taken %s): %s",
            provider,
            kind,
            model,
            known.taken,
            reason,
        )
        return Outcome(provider, model, kind, reason)
    log.warning("%s: %s is not offered: its schema could not be read (%s)", provider, model, reason)
    return Outcome(provider, model, "none", reason)


def _with_price(catalogue: Catalogue, document: Mapping[str, Any]) -> dict[str, Any]:
    """A live document keeps the shipped snapshot's price: the schema APIs carry none."""
    data = dict(document)
    if data.get("price") is None:
        known = catalogue.entry(str(data.get("provider")), str(data.get("model")))
        if known is not None and known.price is not None:
            data["price"] = {"unit": known.price.unit, "usd": known.price.usd}
    return data


def live_document(
    provider: str,
    model: str,
    openapi: Mapping[str, Any],
    *,
    url: str,
    version: str | None = None,
    official: bool = True,
) -> dict[str, Any]:
    """A schema read from the provider, in the shape of a shipped snapshot."""
    return {
        "provider": provider,
        "model": model,
        "version": version,
        "official": official,
        "source": f"live: {url}",
        "taken": time.strftime("%Y-%m-%d", time.gmtime()),
        "price": None,
        "openapi": dict(openapi),
    }
