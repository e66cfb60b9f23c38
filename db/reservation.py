"""Reserving a job: the INSERT of its row, guarded by the member's daily images, the server's
monthly budget and its interaction (`db.jobs.reserve`).

- The member's images for the day in that server (a sum over that member's jobs of the day)
  and the server's spend for the month (one row of `guild_spend`, which triggers keep,
  migration 0008) are read in the INSERT's own WHERE: the check and the reservation cannot be
  pulled apart.
- On PostgreSQL, several processes reserve at once, and READ COMMITTED would let two
  concurrent INSERTs each sum without the other's row; so the statement runs after a
  transaction-level advisory lock on the server (`serialised`), and sees every reservation
  committed before it. SQLite runs one statement at a time, so there it is the INSERT alone.
- One interaction makes at most one job (a unique index, migration 0007): an
  INTERACTION_CREATE that reaches two processes reserves once; the second INSERT does nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.jobs.model import Origin
from db.connection import Connection
from db.rows import flag

CHARGED = "image_count - refunded_images"  # what a job counts against its member's quota
_RESERVATION_LOCK = 0x52_65_73_76  # "Resv": with the server id, the key a reservation takes


@dataclass(frozen=True)
class NewJob:
    """Everything needed to run and finish a job, captured when the command is accepted."""

    origin: Origin
    provider: str
    model: str
    inputs: dict[str, Any]
    image_count: int
    kind: str = "imagine"
    parent_job_id: int | None = None
    parent_image: int | None = None
    cost: float = 0.0  # estimated, in the configured currency (USD by default)


_RESERVE = f"""
    INSERT INTO jobs (kind, parent_job_id, parent_image, user_id, guild_id, channel_id,
                      application_id, interaction_id, interaction_token,
                      interaction_created_at, message_id, attachment_size_limit,
                      provider, model, inputs, image_count, cost, channel_nsfw,
                      locale, private, quota_day, created_at, updated_at)
    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
    WHERE (SELECT COALESCE(SUM({CHARGED}), 0) FROM jobs
           WHERE user_id = ? AND guild_id IS ? AND quota_day = ?
           AND quota_state != 'refunded') + ? <= ?
      AND (CAST(? AS REAL) IS NULL OR COALESCE((SELECT spent FROM guild_spend
           WHERE guild_id = ? AND month_start = ?), 0) + ? <= ? + 1e-9)
    ON CONFLICT (interaction_id) WHERE interaction_id IS NOT NULL DO NOTHING
    RETURNING id
"""


def month_start(now: float) -> float:
    """The start of `now`'s calendar month in UTC: a server's budget month. The triggers of
    migration 0008 file each job under the month of its `created_at` the same way."""
    moment = datetime.fromtimestamp(now, tz=UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp()


def _values(job: NewJob, day: str, now: float) -> tuple[Any, ...]:
    """The INSERT's values for a new job, in `_RESERVE`'s column order."""
    origin = job.origin
    return (
        job.kind,
        job.parent_job_id,
        job.parent_image,
        origin.user_id,
        origin.guild_id,
        origin.channel_id,
        origin.application_id,
        origin.interaction_id,
        origin.interaction_token,
        origin.interaction_created_at,
        origin.message_id,
        origin.attachment_size_limit,
        job.provider,
        job.model,
        json.dumps(job.inputs, separators=(",", ":")),
        job.image_count,
        job.cost,
        flag(origin.channel_nsfw),
        origin.locale,
        flag(origin.private),
        day,
        now,
        now,
    )


async def reserve(
    conn: Connection,
    job: NewJob,
    *,
    daily_limit: int,
    day: str,
    monthly_budget: float | None,
) -> int | None:
    """The new job's id, or None when the quota, the budget or the interaction refuse it."""
    origin = job.origin
    now = time.time()
    limits = (origin.user_id, origin.guild_id, day, job.image_count, daily_limit)
    # guild_spend (migration 0008): the month's total, one row; 0 stands for "no server".
    month = month_start(now)
    budget = (monthly_budget, origin.guild_id or 0, month, float(job.cost), monthly_budget)
    scope = origin.guild_id if origin.guild_id is not None else -origin.user_id
    cursor = await conn.serialised(
        (_RESERVATION_LOCK, scope % (1 << 31)),
        _RESERVE,
        (*_values(job, day, now), *limits, *budget),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return int(row[0]) if row else None


_TYPES = (  # the column types of `_RESERVE`'s INSERT, in its order
    *("TEXT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "TEXT"),
    *("DOUBLE", "BIGINT", "BIGINT", "TEXT", "TEXT", "TEXT", "BIGINT", "DOUBLE", "BIGINT"),
    *("TEXT", "BIGINT", "TEXT", "DOUBLE", "DOUBLE"),
)


def _batch_sql(size: int) -> str:
    """`_RESERVE` for `size` jobs at once: every row, or none. Typed casts, because PostgreSQL
    can't infer a VALUES list's types from the INSERT it feeds."""
    cells = ", ".join(f"CAST(? AS {'DOUBLE PRECISION' if t == 'DOUBLE' else t})" for t in _TYPES)
    rows = ", ".join(f"({cells})" for _ in range(size))
    head, tail = _RESERVE.split("SELECT ?", 1)
    guards = tail.split("WHERE", 1)[1].split("ON CONFLICT", 1)[0]
    return (
        f"{head}SELECT * FROM (VALUES {rows}) AS batch WHERE NOT EXISTS "
        f"(SELECT 1 FROM jobs WHERE interaction_id = ?) AND {guards} RETURNING id, message_id"
    )


async def reserve_batch(
    conn: Connection,
    jobs: list[NewJob],
    *,
    daily_limit: int,
    day: str,
    monthly_budget: float | None,
) -> list[int]:
    """The new jobs' ids in `jobs`' order, or [] when the quota, the budget or the interaction
    refuse them: a permutation runs whole or not at all. One statement, like `reserve`; the
    first job carries the interaction (each of the others answers on a message of its own),
    and a batch whose interaction already made jobs (Discord delivered it twice) adds none."""
    first = jobs[0].origin
    now = time.time()
    images = sum(job.image_count for job in jobs)
    cost = float(sum(job.cost for job in jobs))
    limits = (first.user_id, first.guild_id, day, images, daily_limit)
    budget = (monthly_budget, first.guild_id or 0, month_start(now), cost, monthly_budget)
    scope = first.guild_id if first.guild_id is not None else -first.user_id
    values = [value for job in jobs for value in _values(job, day, now)]
    cursor = await conn.serialised(
        (_RESERVATION_LOCK, scope % (1 << 31)),
        _batch_sql(len(jobs)),
        (*values, first.interaction_id, *limits, *budget),
    )
    rows = await cursor.fetchall()
    await cursor.close()
    ids = {int(message): int(job_id) for job_id, message in rows}
    return [ids[job.origin.message_id or 0] for job in jobs] if rows else []
