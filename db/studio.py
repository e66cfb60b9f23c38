"""A member's studio (`db.studio`): their own defaults (`/settings`) and the styles, a server's
library (user_id 0) and each member's own (guild_id 0), names unique regardless of case."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from db.connection import Connection
from db.rows import columns, flag, reader

MEMBER_SETTING_KEYS = (
    "provider",
    "model",
    "aspect_ratio",
    "image_count",
    "style",
    "private",
    "prompt_help",
    "locale",
)
SERVER = 0  # `styles.user_id` of a server's style; `styles.guild_id` of a member's own
PERSONAL = 0


@dataclass(frozen=True)
class MemberSettings:
    """A member's defaults; None: not set (the server's, then the bot's apply)."""

    user_id: int
    provider: str | None = None
    model: str | None = None
    aspect_ratio: str | None = None
    image_count: int | None = None
    style: str | None = None
    private: bool | None = None
    prompt_help: bool | None = None
    locale: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True)
class StyleRow:
    guild_id: int  # 0: a member's own style
    user_id: int  # 0: the server's style
    name: str
    template: str  # holds "{prompt}"
    negative: str | None
    model: str | None
    loras: str  # library names or links, comma separated
    added_by: int
    created_at: float

    @property
    def personal(self) -> bool:
        return self.user_id != SERVER


_member = reader(MemberSettings)
_style = reader(StyleRow)
_STYLE_COLUMNS = columns(StyleRow)


class StudioStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def member(self, user_id: int) -> MemberSettings:
        async with self._conn.execute(
            f"SELECT {columns(MemberSettings)} FROM member_settings WHERE user_id = ?", (user_id,)
        ) as cur:
            row = await cur.fetchone()
        return _member(row) if row else MemberSettings(user_id)

    async def chosen_locales(self) -> dict[int, str]:
        """Every member's chosen language: what the interactions' first answers are written
        in, before anything else is read (bot/i18n)."""
        async with self._conn.execute(
            "SELECT user_id, locale FROM member_settings WHERE locale IS NOT NULL"
        ) as cur:
            rows = await cur.fetchall()
        return {int(user): str(locale) for user, locale in rows}

    async def private_members(self) -> set[int]:
        async with self._conn.execute(
            "SELECT user_id FROM member_settings WHERE private = 1"
        ) as cur:
            rows = await cur.fetchall()
        return {int(user) for (user,) in rows}

    async def update_member(self, user_id: int, **values: Any) -> MemberSettings:
        """Write the given defaults (keys of `MEMBER_SETTING_KEYS`; None clears one) in one
        statement."""
        unknown = set(values) - set(MEMBER_SETTING_KEYS)
        if unknown:
            raise ValueError(f"unknown settings {unknown}")
        names = list(values)
        stored = (flag(v) if isinstance(v, bool) else v for v in values.values())
        await self._conn.execute(
            f"INSERT INTO member_settings (user_id, {', '.join([*names, 'updated_at'])}) "
            f"VALUES (?, {', '.join('?' for _ in names)}, ?) ON CONFLICT (user_id) DO UPDATE SET "
            + ", ".join(f"{n} = excluded.{n}" for n in [*names, "updated_at"]),
            (user_id, *stored, time.time()),
        )
        return await self.member(user_id)

    async def reset_member(self, user_id: int) -> None:
        await self._conn.execute("DELETE FROM member_settings WHERE user_id = ?", (user_id,))

    async def add_style(self, style: StyleRow) -> bool:
        """False if that library (the server's, or the member's own) has a style of that name."""
        cursor = await self._conn.execute(
            f"INSERT INTO styles ({_STYLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id, name) DO NOTHING",
            (
                style.guild_id,
                style.user_id,
                style.name,
                style.template,
                style.negative,
                style.model,
                style.loras,
                style.added_by,
                style.created_at,
            ),
        )
        return cursor.rowcount == 1

    async def remove_style(self, guild_id: int, user_id: int, name: str) -> bool:
        cursor = await self._conn.execute(
            "DELETE FROM styles WHERE guild_id = ? AND user_id = ? AND name = ?",
            (guild_id, user_id, name),
        )
        return cursor.rowcount == 1

    async def style(self, guild_id: int | None, user_id: int, name: str) -> StyleRow | None:
        """The member's own style of that name, else the server's."""
        async with self._conn.execute(
            f"SELECT {_STYLE_COLUMNS} FROM styles WHERE name = ? AND "
            "((guild_id = ? AND user_id = ?) OR (guild_id = ? AND user_id = ?)) "
            "ORDER BY user_id DESC LIMIT 1",
            (name, PERSONAL, user_id, guild_id or -1, SERVER),
        ) as cur:
            row = await cur.fetchone()
        return _style(row) if row else None

    async def styles(
        self, guild_id: int | None, user_id: int, prefix: str = "", limit: int = 25
    ) -> list[StyleRow]:
        """The server's styles and the member's own whose name starts with `prefix` (taken
        literally), the member's first, by name."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        async with self._conn.execute(
            f"SELECT {_STYLE_COLUMNS} FROM styles WHERE name LIKE ? ESCAPE '\\' AND "
            "((guild_id = ? AND user_id = ?) OR (guild_id = ? AND user_id = ?)) "
            "ORDER BY user_id DESC, name LIMIT ?",
            (pattern, PERSONAL, user_id, guild_id or -1, SERVER, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [_style(r) for r in rows]
