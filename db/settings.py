"""What a server's moderators set (`db.settings`): server and channel settings, prompt
filters, quota tiers (members' own quotas, role tiers, the images given back by a reset) and
bans. These are the rules the admission gate (bot/moderation/gate.py) reads before a job is
written; every change is a single statement (db/database.py says why).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from db.connection import Connection
from db.rows import columns, flag, reader

FRESH_S = 5.0  # how long a read of a server's settings is used before it is read again
KEPT_MAX = 10_000  # reads kept at most (all dropped at once when full: they are cheap to redo)

T = TypeVar("T")


@dataclass(frozen=True)
class GuildSettings:
    guild_id: int
    audit_channel_id: int | None = None
    mod_channel_id: int | None = None
    gallery_channel_id: int | None = None
    providers: str = ""
    models: str = ""
    default_provider: str | None = None
    nsfw_spoilers: bool = True
    charge_flagged: bool = True
    monthly_budget: float | None = None
    updated_at: float = 0.0
    private_results: bool = True
    web_gallery: str = "off"  # WEB_GALLERY_MODES: who sees the server's web gallery

    @property
    def provider_list(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.providers.split(",") if p.strip())

    @property
    def model_list(self) -> tuple[str, ...]:
        return tuple(m.strip() for m in self.models.split(",") if m.strip())


@dataclass(frozen=True)
class ChannelSettings:
    guild_id: int
    channel_id: int
    generation: bool | None = None  # None: the channel follows the server (generation on)
    providers: str = ""
    updated_at: float = 0.0

    @property
    def provider_list(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.providers.split(",") if p.strip())


@dataclass(frozen=True)
class Ban:
    guild_id: int
    user_id: int
    reason: str | None
    banned_by: int
    until: float | None
    created_at: float


GUILD_SETTING_KEYS = (
    "audit_channel_id",
    "mod_channel_id",
    "gallery_channel_id",
    "providers",
    "models",
    "default_provider",
    "nsfw_spoilers",
    "charge_flagged",
    "monthly_budget",
    "private_results",
    "web_gallery",
)
WEB_GALLERY_MODES = ("off", "members", "public")

_guild = reader(GuildSettings)
_channel = reader(ChannelSettings)
_ban = reader(Ban)


class SettingsStore:
    """A server's settings, channel rules and prompt filters are read by every job (the
    default provider, then the admission gate) and change only by `/admin`: reads are kept for
    `FRESH_S`. Every write here drops what it could have changed, so this process sees its own
    changes at once; another process of a bot split over PostgreSQL sees them within `FRESH_S`.
    A read that a write overtook is not kept (`_writes`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._recent: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._writes = 0

    async def _through(self, key: tuple[Any, ...], read: Callable[[], Awaitable[T]]) -> T:
        """The value kept under `key` while fresh, else `read()`'s, kept unless a write here
        overtook the read."""
        kept = self._recent.get(key)
        if kept is not None and time.monotonic() - kept[0] <= FRESH_S:
            value: T = kept[1]
            return value
        writes = self._writes
        value = await read()
        if writes == self._writes:
            if len(self._recent) >= KEPT_MAX:
                self._recent.clear()
            self._recent[key] = (time.monotonic(), value)
        return value

    def _changed(self, guild_id: int) -> None:
        self._writes += 1
        for key in [k for k in self._recent if k[1] == guild_id]:
            del self._recent[key]

    # -- server and channel settings ---------------------------------------------------------

    async def guild(self, guild_id: int) -> GuildSettings:
        """The server's settings (the defaults when it never changed any)."""
        return await self._through(("guild", guild_id), lambda: self._read_guild(guild_id))

    async def _read_guild(self, guild_id: int) -> GuildSettings:
        async with self._conn.execute(
            f"SELECT {columns(GuildSettings)} FROM guild_settings WHERE guild_id = ?",
            (guild_id,),
        ) as cur:
            row = await cur.fetchone()
        return _guild(row) if row else GuildSettings(guild_id)

    async def update_guild(self, guild_id: int, **values: Any) -> GuildSettings:
        """Write the given settings (keys of `GUILD_SETTING_KEYS`) in one statement."""
        unknown = set(values) - set(GUILD_SETTING_KEYS)
        if unknown:
            raise ValueError(f"unknown settings {unknown}")
        if values:
            names = list(values)
            stored = (flag(v) if isinstance(v, bool) else v for v in values.values())
            await self._conn.execute(
                f"INSERT INTO guild_settings (guild_id, {', '.join(names)}, updated_at) "
                f"VALUES (?, {', '.join('?' for _ in names)}, ?) "
                f"ON CONFLICT (guild_id) DO UPDATE SET "
                + ", ".join(f"{n} = excluded.{n}" for n in names)
                + ", updated_at = excluded.updated_at",
                (guild_id, *stored, time.time()),
            )
            self._changed(guild_id)
        return await self.guild(guild_id)

    async def channel(self, guild_id: int, channel_id: int) -> ChannelSettings:
        return await self._through(
            ("channel", guild_id, channel_id), lambda: self._read_channel(guild_id, channel_id)
        )

    async def _read_channel(self, guild_id: int, channel_id: int) -> ChannelSettings:
        async with self._conn.execute(
            f"SELECT {columns(ChannelSettings)} FROM channel_settings "
            "WHERE guild_id = ? AND channel_id = ?",
            (guild_id, channel_id),
        ) as cur:
            row = await cur.fetchone()
        return _channel(row) if row else ChannelSettings(guild_id, channel_id)

    async def channel_rules(self, guild_id: int) -> list[ChannelSettings]:
        """Channels of a server with their own rules (generation off or providers)."""
        async with self._conn.execute(
            f"SELECT {columns(ChannelSettings)} FROM channel_settings WHERE guild_id = ? "
            "AND (generation IS NOT NULL OR providers != '') ORDER BY channel_id",
            (guild_id,),
        ) as cur:
            return [_channel(r) for r in await cur.fetchall()]

    async def update_channel(
        self, guild_id: int, channel_id: int, *, generation: bool | None, providers: str | None
    ) -> ChannelSettings:
        """Change what is given (None keeps the channel's current value, read afresh: a kept
        read could undo another process's change)."""
        current = await self._read_channel(guild_id, channel_id)
        await self._conn.execute(
            "INSERT INTO channel_settings (guild_id, channel_id, generation, providers, "
            "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, channel_id) DO UPDATE "
            "SET generation = excluded.generation, providers = excluded.providers, "
            "updated_at = excluded.updated_at",
            (
                guild_id,
                channel_id,
                flag(current.generation if generation is None else generation),
                current.providers if providers is None else providers,
                time.time(),
            ),
        )
        self._changed(guild_id)
        return await self.channel(guild_id, channel_id)

    # -- prompt filters ----------------------------------------------------------------------

    async def add_filter(self, guild_id: int, kind: str, pattern: str, added_by: int) -> bool:
        """False if the server already had that filter."""
        cursor = await self._conn.execute(
            "INSERT OR IGNORE INTO prompt_filters (guild_id, kind, pattern, added_by, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (guild_id, kind, pattern, added_by, time.time()),
        )
        self._changed(guild_id)
        return cursor.rowcount == 1

    async def remove_filter(self, guild_id: int, kind: str, pattern: str) -> bool:
        cursor = await self._conn.execute(
            "DELETE FROM prompt_filters WHERE guild_id = ? AND kind = ? AND pattern = ?",
            (guild_id, kind, pattern),
        )
        self._changed(guild_id)
        return cursor.rowcount == 1

    async def filters(self, guild_id: int) -> list[tuple[str, str]]:
        """(kind, pattern) of every filter of the server, by kind then pattern."""
        kept = await self._through(("filters", guild_id), lambda: self._read_filters(guild_id))
        return list(kept)

    async def _read_filters(self, guild_id: int) -> tuple[tuple[str, str], ...]:
        async with self._conn.execute(
            "SELECT kind, pattern FROM prompt_filters WHERE guild_id = ? ORDER BY kind, pattern",
            (guild_id,),
        ) as cur:
            return tuple((str(k), str(p)) for k, p in await cur.fetchall())

    # -- quota tiers -------------------------------------------------------------------------

    async def set_user_quota(self, guild_id: int, user_id: int, images: int | None) -> None:
        """A member's own daily quota; None drops it (their role tier applies again)."""
        if images is None:
            await self._conn.execute(
                "DELETE FROM quota_overrides WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            return
        await self._conn.execute(
            "INSERT INTO quota_overrides (guild_id, user_id, images) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET images = excluded.images",
            (guild_id, user_id, images),
        )

    async def set_role_quota(self, guild_id: int, role_id: int, images: int | None) -> None:
        if images is None:
            await self._conn.execute(
                "DELETE FROM role_quotas WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
            )
            return
        await self._conn.execute(
            "INSERT INTO role_quotas (guild_id, role_id, images) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, role_id) DO UPDATE SET images = excluded.images",
            (guild_id, role_id, images),
        )

    async def quota_tiers(
        self, guild_id: int, user_id: int, role_ids: tuple[int, ...], day: str
    ) -> tuple[int | None, int | None, int]:
        """(the member's own override, the highest of their roles' tiers, today's bonus)."""
        marks = ", ".join("?" for _ in role_ids) or "NULL"
        async with self._conn.execute(
            "SELECT (SELECT images FROM quota_overrides WHERE guild_id = ? AND user_id = ?), "
            f"(SELECT MAX(images) FROM role_quotas WHERE guild_id = ? AND role_id IN ({marks})), "
            "(SELECT COALESCE(SUM(images), 0) FROM quota_bonus "
            " WHERE guild_id = ? AND user_id = ? AND day = ?)",
            (guild_id, user_id, guild_id, *role_ids, guild_id, user_id, day),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return row[0], row[1], int(row[2])

    async def role_quotas(self, guild_id: int) -> list[tuple[int, int]]:
        """(role id, images) for every role tier of a server, largest first."""
        async with self._conn.execute(
            "SELECT role_id, images FROM role_quotas WHERE guild_id = ? ORDER BY images DESC",
            (guild_id,),
        ) as cur:
            return [(int(r), int(n)) for r, n in await cur.fetchall()]

    async def grant_bonus(self, guild_id: int, user_id: int, day: str, images: int) -> None:
        """Give a member `images` more for `day` (added to what earlier grants gave)."""
        await self._conn.execute(
            "INSERT INTO quota_bonus (guild_id, user_id, day, images) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id, day) "
            "DO UPDATE SET images = quota_bonus.images + excluded.images",
            (guild_id, user_id, day, images),
        )

    # -- bans ---------------------------------------------------------------------------------

    async def ban(
        self, guild_id: int, user_id: int, *, reason: str | None, by: int, until: float | None
    ) -> None:
        """Ban a member from generating (`until` None: until unbanned); replaces a ban."""
        await self._conn.execute(
            "INSERT INTO bans (guild_id, user_id, reason, banned_by, until, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "reason = excluded.reason, banned_by = excluded.banned_by, until = excluded.until, "
            "created_at = excluded.created_at",
            (guild_id, user_id, reason, by, until, time.time()),
        )

    async def unban(self, guild_id: int, user_id: int) -> bool:
        cursor = await self._conn.execute(
            "DELETE FROM bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return cursor.rowcount == 1

    async def active_ban(self, guild_id: int, user_id: int, now: float) -> Ban | None:
        async with self._conn.execute(
            f"SELECT {columns(Ban)} FROM bans WHERE guild_id = ? AND user_id = ? "
            "AND (until IS NULL OR until > ?)",
            (guild_id, user_id, now),
        ) as cur:
            row = await cur.fetchone()
        return _ban(row) if row else None
