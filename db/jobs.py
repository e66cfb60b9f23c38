"""The job ledger and the quota it holds (`db.jobs`).

A job row is the single source of truth for a job *and* for what it charges, so the quota
lives here with the jobs rather than in a counter of its own:
- Quota is not a counter that could drift: a member's usage for a day is the sum of
  `image_count - refunded_images` over their jobs whose `quota_state` is reserved or committed.
  Reserving is the INSERT of the job row itself, guarded by that sum (and by the server's
  monthly spend) in the same statement, so 50 concurrent requests can never reserve more than
  the limit.
- Every state change is a *single* UPDATE guarded by the state it expects (db/database.py
  says why that makes each one atomic), so calling one twice is harmless and `finish` settles
  the quota in the same statement that ends the job: a job is never charged or refunded twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.jobs.model import ACTIVE_STATES, FINAL_STATES, Origin
from db.connection import Connection
from db.reservation import CHARGED as _CHARGED
from db.reservation import NewJob, reserve, reserve_batch
from db.rows import columns, flag, reader


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
    error_retryable: bool | None
    result: str | None
    cost: float | None
    quota_day: str
    quota_state: str
    created_at: float
    updated_at: float
    submitted_at: float | None
    finished_at: float | None
    submit_pending: bool = False
    cancelled_by: int | None = None
    fallback_from: str | None = None
    parent_image: int | None = None
    deleted_at: float | None = None
    result_message_id: int | None = None
    channel_nsfw: bool = False
    withheld_images: int = 0
    refunded_images: int = 0
    locale: str = "en-US"
    private: bool = False

    @property
    def origin(self) -> Origin:
        """Where the job came from and where its answer goes."""
        return Origin(
            user_id=self.user_id,
            guild_id=self.guild_id,
            channel_id=self.channel_id,
            application_id=self.application_id,
            interaction_id=self.interaction_id,
            interaction_token=self.interaction_token,
            interaction_created_at=self.interaction_created_at,
            message_id=self.message_id,
            attachment_size_limit=self.attachment_size_limit,
            channel_nsfw=self.channel_nsfw,
            locale=self.locale,
            private=self.private,
        )

    @property
    def inputs_json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.inputs)
        return value

    @property
    def result_json(self) -> dict[str, Any] | None:
        return json.loads(self.result) if self.result else None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


_JOB_COLUMNS = columns(JobRow)
_job = reader(JobRow)
_ACTIVE_MARKS = ", ".join("?" for _ in ACTIVE_STATES)

_FINISH = f"""
    UPDATE jobs SET state = ?,
        quota_state = CASE WHEN ? = 'done' THEN 'committed' ELSE 'refunded' END,
        error = ?, error_retryable = ?,
        result = COALESCE(?, result), cancelled_by = COALESCE(?, cancelled_by),
        result_message_id = COALESCE(?, result_message_id),
        withheld_images = ?, refunded_images = ?, cost = COALESCE(?, cost),
        submit_pending = 0, finished_at = ?, updated_at = ?
    WHERE id = ? AND state IN ({_ACTIVE_MARKS})
"""


class JobStore:
    """Jobs: reserving (with their quota), reading, and every state change up to the end."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- reserving and quota ----------------------------------------------------------------

    async def reserve(
        self,
        job: NewJob,
        *,
        daily_limit: int,
        day: str,
        monthly_budget: float | None = None,
    ) -> int | None:
        """Insert the job and reserve its images (and its estimated cost) in one statement, or
        return None if the member's images for `day` in that server, or the server's budget
        for the month, cannot cover them, or if its interaction already made a job
        (db/reservation.py)."""
        return await reserve(
            self._conn,
            job,
            daily_limit=daily_limit,
            day=day,
            monthly_budget=monthly_budget,
        )

    async def reserve_batch(
        self,
        jobs: list[NewJob],
        *,
        daily_limit: int,
        day: str,
        monthly_budget: float | None = None,
    ) -> list[int]:
        """`reserve` for several jobs of one member at once (a permutation): all, or none."""
        return await reserve_batch(
            self._conn, jobs, daily_limit=daily_limit, day=day, monthly_budget=monthly_budget
        )

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

    async def guild_spend(self, guild_id: int | None, month: float) -> float:
        """What a server's jobs of the month starting at `month` (db.reservation.month_start)
        cost, refunded ones excluded: its budget use, as the triggers of migration 0008 keep
        it (None: the jobs made outside any server)."""
        async with self._conn.execute(
            "SELECT spent FROM guild_spend WHERE guild_id = ? AND month_start = ?",
            (guild_id or 0, month),
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row else 0.0

    # -- reading ----------------------------------------------------------------------------

    async def get(self, job_id: int) -> JobRow | None:
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
        ) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def in_states(self, states: Iterable[str]) -> list[JobRow]:
        states = tuple(states)
        marks = ", ".join("?" for _ in states)
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ({marks}) ORDER BY id", states
        ) as cur:
            rows = await cur.fetchall()
        return [_job(r) for r in rows]

    async def children(self, job_id: int) -> list[JobRow]:
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE parent_job_id = ? ORDER BY id", (job_id,)
        ) as cur:
            rows = await cur.fetchall()
        return [_job(r) for r in rows]

    async def by_message(self, message_id: int) -> JobRow | None:
        """The job whose result (or, failing that, whose response) is that message."""
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE result_message_id = ? OR message_id = ? "
            "ORDER BY result_message_id IS NULL, id LIMIT 1",
            (message_id, message_id),
        ) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def for_interactions(self, interaction_ids: Sequence[int]) -> set[int]:
        """Which of these interactions created a job (bot/jobs/journal.py's check after a crash)."""
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

    # -- changes that are not state changes ---------------------------------------------------

    async def set_message_id(self, job_id: int, message_id: int) -> None:
        await self._conn.execute(
            "UPDATE jobs SET message_id = ?, updated_at = ? WHERE id = ?",
            (message_id, time.time(), job_id),
        )

    async def mark_deleted(self, job_id: int) -> None:
        await self._conn.execute(
            "UPDATE jobs SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
            (time.time(), time.time(), job_id),
        )

    # -- submitting (at most once) -----------------------------------------------------------

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

    async def set_inputs(self, job_id: int, inputs: dict[str, Any]) -> bool:
        """Record what a job's preparation made (Vary (Region)'s mask, its segmentation's
        request id) while it is still unsubmitted; False once it is past that."""
        cursor = await self._conn.execute(
            "UPDATE jobs SET inputs = ?, updated_at = ? WHERE id = ? AND state = 'queued' "
            "AND provider_request_id IS NULL AND submit_pending = 0",
            (json.dumps(inputs, separators=(",", ":")), time.time(), job_id),
        )
        return cursor.rowcount == 1

    # -- state changes -----------------------------------------------------------------------

    async def transition(
        self,
        job_id: int,
        from_states: Sequence[str],
        to_state: str,
        *,
        held_by: str | None = None,
        **values: Any,
    ) -> bool:
        """Move a job between active states; False if it was not in one of `from_states`
        (so calling twice is harmless), or if `held_by` is given and another process holds
        the job's lease (db/leases.py)."""
        if to_state in FINAL_STATES:
            raise ValueError("use finish() to end a job: it settles the quota too")
        allowed = {"result", "error", "error_retryable", "cost", "attempts"}
        if not set(values) <= allowed:
            raise ValueError(f"cannot set {set(values) - allowed} in a transition")
        sets = "".join(f", {k} = ?" for k in values)
        marks = ", ".join("?" for _ in from_states)
        held = "" if held_by is None else " AND (owner IS NULL OR owner = ?)"
        cursor = await self._conn.execute(
            f"UPDATE jobs SET state = ?, updated_at = ?{sets} "
            f"WHERE id = ? AND state IN ({marks}){held}",
            (to_state, time.time(), *values.values(), job_id, *from_states)
            + (() if held_by is None else (held_by,)),
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
        cost: float | None = None,
    ) -> bool:
        """End a job and settle its quota in the same statement: done commits the reserved
        images, every other end refunds them. Idempotent: a second call changes nothing.
        `cost` replaces the estimate reserved with the job (None keeps it)."""
        if state not in FINAL_STATES:
            raise ValueError(f"{state!r} is not a final state")
        now = time.time()
        cursor = await self._conn.execute(
            _FINISH,
            (
                state,
                state,
                error,
                flag(retryable),
                json.dumps(result) if result is not None else None,
                cancelled_by,
                result_message_id,
                withheld_images,
                refunded_images,
                cost,
                now,
                now,
                job_id,
                *ACTIVE_STATES,
            ),
        )
        return cursor.rowcount == 1
