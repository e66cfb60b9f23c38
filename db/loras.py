"""Each server's LoRA library (`db.loras`): names members pick in `/lora`, unique per server
regardless of case (the column is COLLATE NOCASE)."""

from __future__ import annotations

from dataclasses import dataclass

from db.connection import Connection
from db.rows import columns, flag, reader


@dataclass(frozen=True)
class LoraRow:
    guild_id: int
    name: str
    url: str
    trigger_words: str
    default_scale: float
    nsfw: bool
    added_by: int
    created_at: float


_LORA_COLUMNS = columns(LoraRow)
_lora = reader(LoraRow)


class LoraStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, lora: LoraRow) -> bool:
        """False if the server already has a LoRA of that name."""
        cursor = await self._conn.execute(
            "INSERT OR IGNORE INTO loras (guild_id, name, url, trigger_words, default_scale, "
            "nsfw, added_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                lora.guild_id,
                lora.name,
                lora.url,
                lora.trigger_words,
                lora.default_scale,
                flag(lora.nsfw),
                lora.added_by,
                lora.created_at,
            ),
        )
        return cursor.rowcount == 1

    async def remove(self, guild_id: int, name: str) -> bool:
        cursor = await self._conn.execute(
            "DELETE FROM loras WHERE guild_id = ? AND name = ?", (guild_id, name)
        )
        return cursor.rowcount == 1

    async def get(self, guild_id: int, name: str) -> LoraRow | None:
        async with self._conn.execute(
            f"SELECT {_LORA_COLUMNS} FROM loras WHERE guild_id = ? AND name = ?", (guild_id, name)
        ) as cur:
            row = await cur.fetchone()
        return _lora(row) if row else None

    async def search(self, guild_id: int, prefix: str = "", limit: int = 25) -> list[LoraRow]:
        """The server's LoRAs whose name starts with `prefix` (taken literally: `%` and `_`
        are not wildcards), by name."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        async with self._conn.execute(
            f"SELECT {_LORA_COLUMNS} FROM loras WHERE guild_id = ? AND name LIKE ? ESCAPE '\\' "
            "ORDER BY name LIMIT ?",
            (guild_id, pattern, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [_lora(r) for r in rows]
