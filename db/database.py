"""The job ledger and quotas on one aiosqlite connection.

Design notes:
- One connection, in autocommit mode: aiosqlite runs every statement on one worker thread in
  order, and every state change below is a *single* SQL statement, so each is atomic on its own
  and no coroutine can slip a statement into another's transaction.
- Quota is not a counter that could drift: a user's usage for a day is the sum of `image_count`
  over their jobs whose `quota_state` is reserved or committed. Reserving is the INSERT of the job
  row itself, guarded by that sum in the same statement, so 50 concurrent requests can never
  reserve more than the limit.
- `synchronous=FULL` (stricter than NORMAL): a job's provider request id and quota state must
  survive a power loss, not only a process crash, or a restart could submit a paid job twice.
  A job makes about five small commits, so the extra fsync per commit is invisible next to a
  provider's seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from db.busy import DEFAULT_WAIT_S, SQLITE_BUSY_TIMEOUT_MS, BusyRetryingConnection

JOB_ACTIVE_STATES: tuple[str, ...] = ("queued", "submitted", "running", "delivering")
JOB_FINAL_STATES: tuple[str, ...] = ("done", "failed", "cancelled", "expired")


@dataclass(frozen=True)
class JobRow:
    id: int
    state: str
    kind: str
    parent_job_id: int | None
    user_id: int
    guild_id: int | None
    channel_id: int
    application_id: int
    interaction_id: int | None
    interaction_token: str
    interaction_created_at: float
    message_id: int | None
    attachment_size_limit: int
    provider: str
    model: str
    inputs: str
    image_count: int
    provider_request_id: str | None
    attempts: int
    error: str | None
    error_retryable: int | None
    result: str | None
    cost: float | None
    quota_day: str
    quota_state: str
    created_at: float
    updated_at: float
    submitted_at: float | None
    finished_at: float | None
    submit_pending: int = 0
    cancelled_by: int | None = None
    fallback_from: str | None = None
    parent_image: int | None = None
    deleted_at: float | None = None
    result_message_id: int | None = None
    channel_nsfw: int = 0
    withheld_images: int = 0
    refunded_images: int = 0

    @property
    def inputs_json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.inputs)
        return value

    @property
    def result_json(self) -> dict[str, Any] | None:
        return json.loads(self.result) if self.result else None

    @property
    def is_final(self) -> bool:
        return self.state in JOB_FINAL_STATES


_JOB_COLUMNS = ", ".join(f.name for f in fields(JobRow))
_CHARGED = "image_count - refunded_images"  # what a job counts against its member's quota


@dataclass(frozen=True)
class LoraRow:
    guild_id: int
    name: str
    url: str
    trigger_words: str
    default_scale: float
    nsfw: int
    added_by: int
    created_at: float


_LORA_COLUMNS = ", ".join(f.name for f in fields(LoraRow))


@dataclass(frozen=True)
class ProviderHealth:
    """How one provider has done lately, from the ledger (for `/providers`)."""

    provider: str
    jobs: int  # created in the window, in any state
    done: int
    failed: int  # failed or expired (cancelled jobs count for neither side)
    median_s: float | None  # median of finished_at - submitted_at over the done jobs

    @property
    def success_rate(self) -> float | None:
        ended = self.done + self.failed
        return self.done / ended if ended else None


@dataclass(frozen=True)
class NewJob:
    """Everything needed to run and finish a job, captured when the command is accepted."""

    user_id: int
    guild_id: int | None
    channel_id: int
    application_id: int
    interaction_id: int | None
    interaction_token: str
    interaction_created_at: float
    attachment_size_limit: int
    provider: str
    model: str
    inputs: dict[str, Any]
    message_id: int | None
    image_count: int
    kind: str = "imagine"
    parent_job_id: int | None = None
    parent_image: int | None = None
    cost: float = 0.0  # estimated, in the configured currency (USD by default)
    channel_nsfw: bool = False


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every numbered file in db/migrations, in order."""
    found = []
    for entry in resources.files("db.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001.. without gaps, found {versions}")
    return found


class Database:
    """The bot's only door to SQLite. Create with `await Database.open(path)`."""

    def __init__(
        self, conn: aiosqlite.Connection, path: str, *, busy_wait_s: float = DEFAULT_WAIT_S
    ) -> None:
        self._conn = BusyRetryingConnection(conn, wait_s=busy_wait_s)
        self.path = path

    @classmethod
    async def open(
        cls, path: str | Path, *, migrate: bool = True, busy_wait_s: float = DEFAULT_WAIT_S
    ) -> Database:
        """`busy_wait_s`: how long a statement waits out another program's lock on the file
        before it fails with DatabaseBusy (db/busy.py)."""
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        db = cls(conn, path, busy_wait_s=busy_wait_s)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            await db.connection.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA foreign_keys = ON")
            if migrate:
                await db.migrate()
        except BaseException:
            # aiosqlite's worker thread keeps the process alive until the connection closes.
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self._conn.close()

    @property
    def connection(self) -> BusyRetryingConnection:
        """For the other query modules of this package (e.g. db.moderation), nobody else."""
        return self._conn

    # -- schema -----------------------------------------------------------------------------

    async def schema_version(self) -> int:
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self, target: int | None = None) -> int:
        """Apply pending migrations, each in its own transaction with its version bump."""
        current = await self.schema_version()
        for version, name, sql in migrations():
            if version <= current or (target is not None and version > target):
                continue
            script = f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            try:
                await self._conn.executescript(script)
            except Exception:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise RuntimeError(f"migration {name} failed") from None
            current = version
        return current

    async def integrity_check(self) -> list[str]:
        """SQLite's own integrity and foreign-key checks; an empty list means healthy."""
        problems: list[str] = []
        async with self._conn.execute("PRAGMA integrity_check") as cur:
            problems += [str(r[0]) for r in await cur.fetchall() if str(r[0]) != "ok"]
        async with self._conn.execute("PRAGMA foreign_key_check") as cur:
            problems += [f"foreign key: {tuple(r)}" for r in await cur.fetchall()]
        return problems

    # -- jobs and quota ---------------------------------------------------------------------

    async def reserve_job(
        self,
        job: NewJob,
        *,
        daily_limit: int,
        day: str,
        monthly_budget: float | None = None,
        month_start: float = 0.0,
    ) -> int | None:
        """Insert the job and reserve its images (and its estimated cost) in one statement, or
        return None if the member's images for `day` in that server, or the server's budget
        for the month, cannot cover them."""
        now = time.time()
        values = (
            job.kind,
            job.parent_job_id,
            job.parent_image,
            job.user_id,
            job.guild_id,
            job.channel_id,
            job.application_id,
            job.interaction_id,
            job.interaction_token,
            job.interaction_created_at,
            job.message_id,
            job.attachment_size_limit,
            job.provider,
            job.model,
            json.dumps(job.inputs, separators=(",", ":")),
            job.image_count,
            job.cost,
            int(job.channel_nsfw),
            day,
            now,
            now,
        )
        cursor = await self._conn.execute(
            f"""
            INSERT INTO jobs (kind, parent_job_id, parent_image, user_id, guild_id, channel_id,
                              application_id, interaction_id, interaction_token,
                              interaction_created_at, message_id, attachment_size_limit,
                              provider, model, inputs, image_count, cost, channel_nsfw,
                              quota_day, created_at, updated_at)
            SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
            WHERE (SELECT COALESCE(SUM({_CHARGED}), 0) FROM jobs
                   WHERE user_id = ? AND guild_id IS ? AND quota_day = ?
                   AND quota_state != 'refunded') + ? <= ?
              AND (? IS NULL OR (SELECT COALESCE(SUM(cost), 0) FROM jobs
                   WHERE guild_id IS ? AND created_at >= ? AND quota_state != 'refunded')
                   + ? <= ? + 1e-9)
            """,
            (
                *values,
                job.user_id,
                job.guild_id,
                day,
                job.image_count,
                daily_limit,
                monthly_budget,
                job.guild_id,
                month_start,
                job.cost,
                monthly_budget,
            ),
        )
        job_id = cursor.lastrowid if cursor.rowcount == 1 else None
        await cursor.close()
        return job_id

    async def guild_spend(self, guild_id: int | None, since: float) -> float:
        async with self._conn.execute(
            "SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE guild_id IS ? AND created_at >= ? "
            "AND quota_state != 'refunded'",
            (guild_id, since),
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row else 0.0

    async def save_input_image(
        self, data: bytes, content_type: str, width: int, height: int, source_url: str | None
    ) -> int:
        cursor = await self._conn.execute(
            "INSERT INTO input_images (data, content_type, width, height, source_url, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (data, content_type, width, height, source_url, time.time()),
        )
        image_id = cursor.lastrowid
        await cursor.close()
        assert image_id is not None
        return image_id

    async def input_image(self, image_id: int) -> tuple[bytes, str] | None:
        async with self._conn.execute(
            "SELECT data, content_type FROM input_images WHERE id = ?", (image_id,)
        ) as cur:
            row = await cur.fetchone()
        return (bytes(row[0]), str(row[1])) if row else None

    async def purge_input_images(self, older_than: float) -> int:
        """Drop input images no unfinished job needs any more; returns how many."""
        marks = ", ".join("?" for _ in JOB_ACTIVE_STATES)
        cursor = await self._conn.execute(
            "DELETE FROM input_images WHERE created_at < ? AND id NOT IN ("
            "SELECT json_extract(inputs, '$.image_id') FROM jobs "
            f"WHERE state IN ({marks}) AND json_extract(inputs, '$.image_id') IS NOT NULL)",
            (older_than, *JOB_ACTIVE_STATES),
        )
        return cursor.rowcount

    async def delete_input_image(self, image_id: int) -> None:
        await self._conn.execute("DELETE FROM input_images WHERE id = ?", (image_id,))

    async def children(self, job_id: int) -> list[JobRow]:
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE parent_job_id = ? ORDER BY id", (job_id,)
        ) as cur:
            rows = await cur.fetchall()
        return [JobRow(*r) for r in rows]

    async def job_by_message(self, message_id: int) -> JobRow | None:
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE result_message_id = ? OR message_id = ? "
            "ORDER BY result_message_id IS NULL, id LIMIT 1",
            (message_id, message_id),
        ) as cur:
            row = await cur.fetchone()
        return JobRow(*row) if row else None

    async def jobs_for_interactions(self, interaction_ids: Sequence[int]) -> set[int]:
        """Which of these interactions created a job (bot/intake.py's check after a crash)."""
        found: set[int] = set()
        for start in range(0, len(interaction_ids), 500):
            chunk = list(interaction_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            async with self._conn.execute(
                f"SELECT DISTINCT interaction_id FROM jobs WHERE interaction_id IN ({marks})",
                chunk,
            ) as cur:
                found.update(int(r[0]) for r in await cur.fetchall())
        return found

    async def mark_deleted(self, job_id: int) -> None:
        await self._conn.execute(
            "UPDATE jobs SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
            (time.time(), time.time(), job_id),
        )

    # -- LoRA library -----------------------------------------------------------------------

    async def add_lora(self, lora: LoraRow) -> bool:
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
                int(lora.nsfw),
                lora.added_by,
                lora.created_at,
            ),
        )
        return cursor.rowcount == 1

    async def remove_lora(self, guild_id: int, name: str) -> bool:
        cursor = await self._conn.execute(
            "DELETE FROM loras WHERE guild_id = ? AND name = ?", (guild_id, name)
        )
        return cursor.rowcount == 1

    async def get_lora(self, guild_id: int, name: str) -> LoraRow | None:
        async with self._conn.execute(
            f"SELECT {_LORA_COLUMNS} FROM loras WHERE guild_id = ? AND name = ?", (guild_id, name)
        ) as cur:
            row = await cur.fetchone()
        return LoraRow(*row) if row else None

    async def list_loras(self, guild_id: int, prefix: str = "", limit: int = 25) -> list[LoraRow]:
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        async with self._conn.execute(
            f"SELECT {_LORA_COLUMNS} FROM loras WHERE guild_id = ? AND name LIKE ? ESCAPE '\\' "
            "ORDER BY name LIMIT ?",
            (guild_id, pattern, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [LoraRow(*r) for r in rows]

    async def provider_health(
        self, since_s: float, *, now: float | None = None
    ) -> dict[str, ProviderHealth]:
        """Per provider, over the jobs created in the last `since_s` seconds: how many, how many
        done and failed, and the median submit-to-finish time of the done ones."""
        since = (time.time() if now is None else now) - since_s
        async with self._conn.execute(
            """
            SELECT provider, COUNT(*),
                   SUM(state = 'done'), SUM(state IN ('failed', 'expired'))
            FROM jobs WHERE created_at >= ? GROUP BY provider
            """,
            (since,),
        ) as cur:
            counts = await cur.fetchall()
        async with self._conn.execute(
            """
            WITH done AS (
                SELECT provider, finished_at - submitted_at AS seconds,
                       ROW_NUMBER() OVER (
                           PARTITION BY provider ORDER BY finished_at - submitted_at
                       ) AS n,
                       COUNT(*) OVER (PARTITION BY provider) AS total
                FROM jobs
                WHERE created_at >= ? AND state = 'done'
                  AND submitted_at IS NOT NULL AND finished_at IS NOT NULL
            )
            SELECT provider, AVG(seconds) FROM done
            WHERE n IN ((total + 1) / 2, (total + 2) / 2) GROUP BY provider
            """,
            (since,),
        ) as cur:
            medians = {str(row[0]): float(row[1]) for row in await cur.fetchall()}
        return {
            str(row[0]): ProviderHealth(
                provider=str(row[0]),
                jobs=int(row[1]),
                done=int(row[2] or 0),
                failed=int(row[3] or 0),
                median_s=medians.get(str(row[0])),
            )
            for row in counts
        }

    async def quota_used(self, user_id: int, day: str, guild_id: int | bool | None = False) -> int:
        """Images a member has used (or holds) on `day`: in one server, or everywhere when no
        `guild_id` is given."""
        scope = "" if guild_id is False else " AND guild_id IS ?"
        params: tuple[Any, ...] = (user_id, day) if guild_id is False else (user_id, day, guild_id)
        async with self._conn.execute(
            f"SELECT COALESCE(SUM({_CHARGED}), 0) FROM jobs "
            f"WHERE user_id = ? AND quota_day = ? AND quota_state != 'refunded'{scope}",
            params,
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def get_job(self, job_id: int) -> JobRow | None:
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
        ) as cur:
            row = await cur.fetchone()
        return JobRow(*row) if row else None

    async def jobs_in_states(self, states: Iterable[str]) -> list[JobRow]:
        states = tuple(states)
        marks = ", ".join("?" for _ in states)
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ({marks}) ORDER BY id", states
        ) as cur:
            rows = await cur.fetchall()
        return [JobRow(*r) for r in rows]

    async def set_message_id(self, job_id: int, message_id: int) -> None:
        await self._conn.execute(
            "UPDATE jobs SET message_id = ?, updated_at = ? WHERE id = ?",
            (message_id, time.time(), job_id),
        )

    async def begin_submit(self, job_id: int) -> bool:
        """Mark that a submit is about to leave, before it leaves (see migration 0002): if the
        process dies before the answer is stored, the next start sees the mark and does not
        submit again. False if the job is no longer waiting to be submitted."""
        cursor = await self._conn.execute(
            "UPDATE jobs SET submit_pending = 1, attempts = attempts + 1, updated_at = ? "
            "WHERE id = ? AND state = 'queued' AND provider_request_id IS NULL "
            "AND submit_pending = 0",
            (time.time(), job_id),
        )
        return cursor.rowcount == 1

    async def submit_refused(self, job_id: int) -> None:
        """The provider clearly did not accept the request: a new attempt is safe."""
        await self._conn.execute(
            "UPDATE jobs SET submit_pending = 0, updated_at = ? WHERE id = ? AND state = 'queued'",
            (time.time(), job_id),
        )

    async def mark_submitted(self, job_id: int, request_id: str) -> bool:
        """Persist the provider's request id the moment submit returns: from here on a restart
        re-attaches to the request instead of submitting again."""
        now = time.time()
        cursor = await self._conn.execute(
            "UPDATE jobs SET state = 'submitted', provider_request_id = ?, submit_pending = 0, "
            "submitted_at = ?, updated_at = ? "
            "WHERE id = ? AND state = 'queued'",
            (request_id, now, now, job_id),
        )
        return cursor.rowcount == 1

    async def switch_provider(
        self, job_id: int, *, provider: str, model: str, inputs: dict[str, Any], previous: str
    ) -> bool:
        """Move a not-yet-accepted job to a fallback provider."""
        cursor = await self._conn.execute(
            "UPDATE jobs SET provider = ?, model = ?, inputs = ?, fallback_from = ?, "
            "updated_at = ? WHERE id = ? AND state = 'queued' AND provider_request_id IS NULL "
            "AND submit_pending = 0",
            (
                provider,
                model,
                json.dumps(inputs, separators=(",", ":")),
                previous,
                time.time(),
                job_id,
            ),
        )
        return cursor.rowcount == 1

    async def transition(
        self, job_id: int, from_states: Sequence[str], to_state: str, **values: Any
    ) -> bool:
        """Move a job between active states; False if it was not in one of `from_states`
        (so calling twice is harmless)."""
        if to_state in JOB_FINAL_STATES:
            raise ValueError("use finish() to end a job: it settles the quota too")
        allowed = {"result", "error", "error_retryable", "cost", "attempts"}
        if not set(values) <= allowed:
            raise ValueError(f"cannot set {set(values) - allowed} in a transition")
        sets = "".join(f", {k} = ?" for k in values)
        marks = ", ".join("?" for _ in from_states)
        cursor = await self._conn.execute(
            f"UPDATE jobs SET state = ?, updated_at = ?{sets} WHERE id = ? AND state IN ({marks})",
            (to_state, time.time(), *values.values(), job_id, *from_states),
        )
        return cursor.rowcount == 1

    async def finish(
        self,
        job_id: int,
        state: str,
        *,
        error: str | None = None,
        retryable: bool | None = None,
        result: dict[str, Any] | None = None,
        cancelled_by: int | None = None,
        result_message_id: int | None = None,
        withheld_images: int = 0,
        refunded_images: int = 0,
    ) -> bool:
        """End a job and settle its quota in the same statement: done commits the reserved
        images, every other end refunds them. Idempotent: a second call changes nothing."""
        if state not in JOB_FINAL_STATES:
            raise ValueError(f"{state!r} is not a final state")
        now = time.time()
        marks = ", ".join("?" for _ in JOB_ACTIVE_STATES)
        cursor = await self._conn.execute(
            f"""
            UPDATE jobs SET state = ?,
                quota_state = CASE WHEN ? = 'done' THEN 'committed' ELSE 'refunded' END,
                error = ?, error_retryable = ?,
                result = COALESCE(?, result), cancelled_by = COALESCE(?, cancelled_by),
                result_message_id = COALESCE(?, result_message_id),
                withheld_images = ?, refunded_images = ?,
                submit_pending = 0, finished_at = ?, updated_at = ?
            WHERE id = ? AND state IN ({marks})
            """,
            (
                state,
                state,
                error,
                None if retryable is None else int(retryable),
                json.dumps(result) if result is not None else None,
                cancelled_by,
                result_message_id,
                withheld_images,
                refunded_images,
                now,
                now,
                job_id,
                *JOB_ACTIVE_STATES,
            ),
        )
        return cursor.rowcount == 1
