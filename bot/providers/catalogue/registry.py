"""The one registry of usable models: the shipped schema snapshots, then whatever the
providers publish now (refreshed at start, see `refresh.py`).

Each `Config` has one catalogue (`catalogue_for`), built from the snapshots the first time it is
asked for and updated in place by the refresh, so every check, mapping and price reads the same
entries whichever component asks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.providers.catalogue.entry import ModelEntry, as_price
from bot.providers.catalogue.schema import InputSchema, SchemaError

log = logging.getLogger(__name__)

SNAPSHOTS = Path(__file__).resolve().parent.parent / "schemas"
ANY_MODEL = "*"  # a schema that serves every model of its provider (CivitAI, OpenAI)


def entry_from(data: Mapping[str, Any], *, source: str | None = None) -> ModelEntry:
    """A catalogue entry from a snapshot file's content (or a cached refresh)."""
    model = str(data["model"])
    document = data["openapi"]
    if not isinstance(document, Mapping):
        raise SchemaError(f"the snapshot of {model} has no OpenAPI document")
    version = data.get("version")
    return ModelEntry(
        provider=str(data["provider"]),
        model=model,
        schema=InputSchema.from_document(document, model),
        version=str(version) if version else None,
        official=bool(data.get("official", True)),
        price=as_price(data.get("price")),
        source=source or str(data.get("source") or ""),
        taken=str(data.get("taken") or ""),
    )


@cache
def shipped_entries() -> tuple[ModelEntry, ...]:
    """The snapshots packaged with the bot: parsed once per process, they never change."""
    entries = []
    for path in sorted(SNAPSHOTS.glob("*/*.json")):
        entries.append(entry_from(json.loads(path.read_text(encoding="utf-8"))))
    return tuple(entries)


class Catalogue:
    def __init__(self, entries: Iterable[ModelEntry] = ()) -> None:
        self._entries: dict[tuple[str, str], ModelEntry] = {}
        self._derived: dict[tuple[str, str, str], ModelEntry] = {}
        for entry in entries:
            self.install(entry)

    @classmethod
    def shipped(cls) -> Catalogue:
        return cls(shipped_entries())

    def install(self, entry: ModelEntry) -> None:
        self._entries[(entry.provider, entry.model)] = entry

    def entry(self, provider: str, model: str, mode: str | None = None) -> ModelEntry | None:
        """The model's entry: exact id, then (Replicate) the same model without a version,
        then the provider's schema for any model, named for the model asked about. For a
        `mode`, a provider's any-model schema of another endpoint that serves it comes first
        (OpenAI's `*:edit` for inpainting: the same models, the edits endpoint)."""
        found = self._entries.get((provider, model))
        if found is not None:
            return found
        keys = [model.split(":", 1)[0]]
        if mode is not None:
            keys += [
                key
                for (owner, key), entry in self._entries.items()
                if owner == provider and key.startswith(f"{ANY_MODEL}:") and mode in entry.modes
            ]
        keys.append(ANY_MODEL)
        for key in keys:
            general = self._entries.get((provider, key))
            if general is not None:
                specific = self._derived.get((provider, model, key))
                if specific is None or specific.schema is not general.schema:
                    specific = replace(general, model=model)
                    self._derived[(provider, model, key)] = specific
                return specific
        return None

    def entries(self, provider: str | None = None) -> list[ModelEntry]:
        return [e for (p, _), e in self._entries.items() if provider in (None, p)]


def catalogue_for(config: Config) -> Catalogue:
    """The catalogue this config's bot uses (the snapshots until a refresh updates it)."""
    found = config._catalogue
    if found is None:
        found = Catalogue.shipped()
        config._catalogue = found
    assert isinstance(found, Catalogue)
    return found
