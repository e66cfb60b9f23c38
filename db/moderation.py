"""Queries for server settings, prompt filters, quota tiers, bans, reports, the gallery and
usage statistics. Every change is a single statement (see db/database.py for why)."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

from db.database import Database


@dataclass(frozen=True)
class GuildSettings:
    guild_id: int
    audit_channel_id: int | None = None
    mod_channel_id: int | None = None
    gallery_channel_id: int | None = None
    providers: str = ""
    models: str = ""
    default_provider: str | None = None
    nsfw_spoilers: int = 1
    charge_flagged: int = 1
    monthly_budget: float | None = None
    updated_at: float = 0.0

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
    generation: int | None = None
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


@dataclass(frozen=True)
class Share:
    message_id: int
    guild_id: int
    channel_id: int
    job_id: int
    image: int
    user_id: int
    votes: int
    created_at: float


def _columns(cls: type[Any]) -> str:
    return ", ".join(f.name for f in fields(cls))


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
)


class ModerationStore:
    def __init__(self, db: Database) -> None:
        self._conn = db.connection

    # -- settings ----------------------------------------------------------------------------

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        async with self._conn.execute(
            f"SELECT {_columns(GuildSettings)} FROM guild_settings WHERE guild_id = ?",
            (guild_id,),
        ) as cur:
            row = await cur.fetchone()
        return GuildSettings(*row) if row else GuildSettings(guild_id)

    async def update_guild_settings(self, guild_id: int, **values: Any) -> GuildSettings:
        unknown = set(values) - set(GUILD_SETTING_KEYS)
        if unknown:
            raise ValueError(f"unknown settings {unknown}")
        if values:
            names = list(values)
            await self._conn.execute(
                f"INSERT INTO guild_settings (guild_id, {', '.join(names)}, updated_at) "
                f"VALUES (?, {', '.join('?' for _ in names)}, ?) "
                f"ON CONFLICT (guild_id) DO UPDATE SET "
                + ", ".join(f"{n} = excluded.{n}" for n in names)
                + ", updated_at = excluded.updated_at",
                (guild_id, *values.values(), time.time()),
            )
        return await self.guild_settings(guild_id)

    async def channel_settings(self, guild_id: int, channel_id: int) -> ChannelSettings:
        async with self._conn.execute(
            f"SELECT {_columns(ChannelSettings)} FROM channel_settings "
            "WHERE guild_id = ? AND channel_id = ?",
            (guild_id, channel_id),
        ) as cur:
            row = await cur.fetchone()
        return ChannelSettings(*row) if row else ChannelSettings(guild_id, channel_id)

    async def channel_rules(self, guild_id: int) -> list[ChannelSettings]:
        """Channels of a server with their own rules (generation off or providers)."""
        async with self._conn.execute(
            f"SELECT {_columns(ChannelSettings)} FROM channel_settings WHERE guild_id = ? "
            "AND (generation IS NOT NULL OR providers != '') ORDER BY channel_id",
            (guild_id,),
        ) as cur:
            return [ChannelSettings(*r) for r in await cur.fetchall()]

    async def update_channel_settings(
        self, guild_id: int, channel_id: int, *, generation: bool | None, providers: str | None
    ) -> ChannelSettings:
        current = await self.channel_settings(guild_id, channel_id)
        await self._conn.execute(
            "INSERT INTO channel_settings (guild_id, channel_id, generation, providers, "
            "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, channel_id) DO UPDATE "
            "SET generation = excluded.generation, providers = excluded.providers, "
            "updated_at = excluded.updated_at",
            (
                guild_id,
                channel_id,
                current.generation if generation is None else int(generation),
                current.providers if providers is None else providers,
                time.time(),
            ),
        )
        return await self.channel_settings(guild_id, channel_id)

    # -- prompt filters ----------------------------------------------------------------------

    async def add_filter(self, guild_id: int, kind: str, pattern: str, added_by: int) -> bool:
        cursor = await self._conn.execute(
            "INSERT OR IGNORE INTO prompt_filters (guild_id, kind, pattern, added_by, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (guild_id, kind, pattern, added_by, time.time()),
        )
        return cursor.rowcount == 1

    async def remove_filter(self, guild_id: int, kind: str, pattern: str) -> bool:
        cursor = await self._conn.execute(
            "DELETE FROM prompt_filters WHERE guild_id = ? AND kind = ? AND pattern = ?",
            (guild_id, kind, pattern),
        )
        return cursor.rowcount == 1

    async def filters(self, guild_id: int) -> list[tuple[str, str]]:
        async with self._conn.execute(
            "SELECT kind, pattern FROM prompt_filters WHERE guild_id = ? ORDER BY kind, pattern",
            (guild_id,),
        ) as cur:
            return [(str(k), str(p)) for k, p in await cur.fetchall()]

    # -- quota tiers -------------------------------------------------------------------------

    async def set_user_quota(self, guild_id: int, user_id: int, images: int | None) -> None:
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
        await self._conn.execute(
            "INSERT INTO quota_bonus (guild_id, user_id, day, images) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET images = images + excluded.images",
            (guild_id, user_id, day, images),
        )

    # -- bans ---------------------------------------------------------------------------------

    async def ban(
        self, guild_id: int, user_id: int, *, reason: str | None, by: int, until: float | None
    ) -> None:
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
            f"SELECT {_columns(Ban)} FROM bans WHERE guild_id = ? AND user_id = ? "
            "AND (until IS NULL OR until > ?)",
            (guild_id, user_id, now),
        ) as cur:
            row = await cur.fetchone()
        return Ban(*row) if row else None

    # -- reports and the gallery ------------------------------------------------------------

    async def add_report(self, job_id: int, guild_id: int, reporter_id: int) -> bool:
        cursor = await self._conn.execute(
            "INSERT OR IGNORE INTO reports (job_id, guild_id, reporter_id, created_at) "
            "VALUES (?, ?, ?, ?)",
            (job_id, guild_id, reporter_id, time.time()),
        )
        return cursor.rowcount == 1

    async def remove_report(self, job_id: int, reporter_id: int) -> None:
        """Withdraw a report that could not be delivered, so the member can try again."""
        await self._conn.execute(
            "DELETE FROM reports WHERE job_id = ? AND reporter_id = ?", (job_id, reporter_id)
        )

    async def add_share(self, share: Share) -> bool:
        cursor = await self._conn.execute(
            f"INSERT OR IGNORE INTO shares ({_columns(Share)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                share.message_id,
                share.guild_id,
                share.channel_id,
                share.job_id,
                share.image,
                share.user_id,
                share.votes,
                share.created_at,
            ),
        )
        return cursor.rowcount == 1

    async def share_of(self, job_id: int, image: int) -> Share | None:
        async with self._conn.execute(
            f"SELECT {_columns(Share)} FROM shares WHERE job_id = ? AND image = ?",
            (job_id, image),
        ) as cur:
            row = await cur.fetchone()
        return Share(*row) if row else None

    async def shares_of_job(self, job_id: int) -> list[Share]:
        async with self._conn.execute(
            f"SELECT {_columns(Share)} FROM shares WHERE job_id = ? ORDER BY image", (job_id,)
        ) as cur:
            return [Share(*r) for r in await cur.fetchall()]

    async def add_vote(self, message_id: int, delta: int) -> bool:
        cursor = await self._conn.execute(
            "UPDATE shares SET votes = MAX(votes + ?, 0) WHERE message_id = ?", (delta, message_id)
        )
        return cursor.rowcount == 1

    async def top_shares(self, guild_id: int, since: float, limit: int = 10) -> list[Share]:
        async with self._conn.execute(
            f"SELECT {_columns(Share)} FROM shares WHERE guild_id = ? AND created_at >= ? "
            "AND job_id NOT IN (SELECT id FROM jobs WHERE deleted_at IS NOT NULL) "
            "ORDER BY votes DESC, created_at ASC LIMIT ?",
            (guild_id, since, limit),
        ) as cur:
            return [Share(*r) for r in await cur.fetchall()]

    # -- usage statistics ----------------------------------------------------------------------

    async def top_users(
        self, guild_id: int, since: float, limit: int = 5
    ) -> list[tuple[int, int, float]]:
        async with self._conn.execute(
            "SELECT user_id, SUM(image_count - refunded_images), SUM(cost) FROM jobs "
            "WHERE guild_id = ? AND created_at >= ? AND quota_state != 'refunded' "
            "GROUP BY user_id ORDER BY 2 DESC LIMIT ?",
            (guild_id, since, limit),
        ) as cur:
            return [(int(u), int(n), float(c or 0)) for u, n, c in await cur.fetchall()]

    async def provider_totals(self, guild_id: int, since: float) -> list[tuple[str, int, float]]:
        async with self._conn.execute(
            "SELECT provider, SUM(image_count - refunded_images), SUM(cost) FROM jobs "
            "WHERE guild_id = ? AND created_at >= ? AND quota_state != 'refunded' "
            "GROUP BY provider ORDER BY 3 DESC",
            (guild_id, since),
        ) as cur:
            return [(str(p), int(n), float(c or 0)) for p, n, c in await cur.fetchall()]
