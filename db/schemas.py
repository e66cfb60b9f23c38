"""The published model schemas the bot last read (`db.schemas`), for the model catalogue
(bot/providers/catalogue/refresh.py): one row per provider and model, replaced on each read."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from db.connection import Connection


@dataclass(frozen=True)
class CachedSchema:
    provider: str
    model: str
    document: dict[str, Any]
    fetched_at: float


class SchemaStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def save(
        self, provider: str, model: str, document: dict[str, Any], *, now: float | None = None
    ) -> None:
        await self._conn.execute(
            "INSERT INTO model_schemas (provider, model, document, fetched_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (provider, model) DO UPDATE SET document = excluded.document, "
            "fetched_at = excluded.fetched_at",
            (provider, model, json.dumps(document), time.time() if now is None else now),
        )

    async def all(self) -> list[CachedSchema]:
        async with self._conn.execute(
            "SELECT provider, model, document, fetched_at FROM model_schemas"
        ) as cur:
            rows = await cur.fetchall()
        return [CachedSchema(p, m, json.loads(d), float(f)) for p, m, d, f in rows]
