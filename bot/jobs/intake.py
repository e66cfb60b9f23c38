"""Accepting jobs: quota reservation and the ledger row, then hand-off to the runner.

Command callbacks call `JobService.create` after they have acknowledged the interaction; the
row written here holds everything needed to finish the job without the interaction object.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.config import Config
from bot.errors import BudgetExceeded, InvalidRequest, QuotaExceeded
from bot.i18n import _
from bot.jobs.model import JobKind, Origin
from bot.moderation.gate import Admission, ModerationService, next_month
from bot.providers.action import quota_images
from bot.providers.request import GenerationRequest
from db.database import Database
from db.jobs import JobRow, NewJob


def quota_day(now: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return moment.date().isoformat()


def next_reset(now: float | None = None) -> int:
    """Unix time of the next UTC midnight, when daily quotas start over."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    midnight = datetime(moment.year, moment.month, moment.day, tzinfo=UTC) + timedelta(days=1)
    return int(midnight.timestamp())


def _ignore(value: object) -> None:
    pass


@dataclass(frozen=True)
class Usage:
    used: int
    limit: int
    resets_at: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class JobService:
    def __init__(
        self,
        config: Config,
        db: Database,
        runner: JobSubmitter,
        moderation: ModerationService | None = None,
        *,
        on_accepted: Callable[[GenerationRequest], None] = _ignore,
        on_refused: Callable[[str], None] = _ignore,
    ) -> None:
        self._config = config
        self._db = db
        self._runner = runner
        self._moderation = moderation or ModerationService(config, db)
        # Told of each job written and of each refusal ("quota", "budget"): the metrics.
        self._on_accepted = on_accepted
        self._on_refused = on_refused

    async def usage(
        self, user_id: int, guild_id: int | None = None, role_ids: tuple[int, ...] = ()
    ) -> Usage:
        now = time.time()
        day = quota_day(now)
        used = await self._db.jobs.quota_used(user_id, day, guild_id)
        limit = await self._moderation.daily_limit(guild_id, user_id, role_ids, day)
        return Usage(used=used, limit=limit, resets_at=next_reset(now))

    async def get(self, job_id: int) -> JobRow | None:
        return await self._db.jobs.get(job_id)

    async def create(
        self,
        request: GenerationRequest,
        origin: Origin,
        *,
        kind: JobKind = JobKind.IMAGINE,
        parent: JobRow | None = None,
        parent_image: int | None = None,
    ) -> int:
        """Reserve quota and record the job atomically, then queue it. Raises QuotaExceeded
        (nothing written) when the member's images for today cannot cover `request.count`.
        `kind`/`parent` record how the job was derived, for credit and lineage."""
        now = time.time()
        day = quota_day(now)
        admission = await self._admit(request, origin, day, now)
        limit = admission.daily_limit
        charge = quota_images(self._config, request.mode, request.count, request.duration)
        new = NewJob(
            origin=origin,
            provider=request.provider,
            model=request.model,
            inputs=request.to_json(),
            image_count=charge,
            kind=kind,
            parent_job_id=parent.id if parent else None,
            parent_image=parent_image,
            cost=admission.cost,
        )
        job_id = await self._db.jobs.reserve(
            new,
            daily_limit=limit,
            day=day,
            monthly_budget=admission.monthly_budget,
        )
        if job_id is None:
            used = await self._db.jobs.quota_used(origin.user_id, day, origin.guild_id)
            if used + charge > limit:
                self._on_refused("quota")
                raise QuotaExceeded(limit, used, charge, next_reset(now))
            spent = await self._db.jobs.guild_spend(origin.guild_id, admission.month_start)
            self._on_refused("budget")
            raise BudgetExceeded(
                admission.monthly_budget or 0.0, spent, admission.cost, next_month(now)
            )
        self._on_accepted(request)
        self._runner.enqueue(job_id, origin.user_id)
        return job_id

    async def create_batch(
        self, requests: Sequence[GenerationRequest], origins: Sequence[Origin]
    ) -> list[int]:
        """Several `/imagine` jobs of one member at once (a permutation), each admitted like
        `create`, then reserved whole (db/reservation.py): when the quota or the budget can't
        cover them all, none is written. [] when its interaction already made them."""
        now = time.time()
        day = quota_day(now)
        news: list[NewJob] = []
        for request, origin in zip(requests, origins, strict=True):
            admission = await self._admit(request, origin, day, now)
            charge = quota_images(self._config, request.mode, request.count, request.duration)
            news.append(
                NewJob(
                    origin=origin,
                    provider=request.provider,
                    model=request.model,
                    inputs=request.to_json(),
                    image_count=charge,
                    cost=admission.cost,
                )
            )
        ids = await self._db.jobs.reserve_batch(
            news,
            daily_limit=admission.daily_limit,
            day=day,
            monthly_budget=admission.monthly_budget,
        )
        if not ids:
            images = sum(job.image_count for job in news)
            cost = sum(job.cost for job in news)
            await self._refused(origins[0], day, images, cost, admission, now)
        for request, job_id in zip(requests, ids, strict=False):
            self._on_accepted(request)
            self._runner.enqueue(job_id, origins[0].user_id)
        return ids

    async def _admit(
        self, request: GenerationRequest, origin: Origin, day: str, now: float
    ) -> Admission:
        admission = await self._moderation.admit(
            request,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            user_id=origin.user_id,
            role_ids=origin.role_ids,
            day=day,
            now=now,
        )
        if admission.daily_limit == 0:
            raise InvalidRequest(_("Image generation is turned off for you on this server."))
        return admission

    async def _refused(
        self, origin: Origin, day: str, images: int, cost: float, admission: Admission, now: float
    ) -> None:
        """Why a reservation wrote nothing: QuotaExceeded or BudgetExceeded. Returns when
        neither refused it: its interaction had already made the job(s)."""
        used = await self._db.jobs.quota_used(origin.user_id, day, origin.guild_id)
        if used + images > admission.daily_limit:
            self._on_refused("quota")
            raise QuotaExceeded(admission.daily_limit, used, images, next_reset(now))
        spent = await self._db.jobs.guild_spend(origin.guild_id, admission.month_start)
        budget = admission.monthly_budget
        if budget is not None and spent + cost > budget + 1e-9:
            self._on_refused("budget")
            raise BudgetExceeded(budget, spent, cost, next_month(now))


class JobSubmitter:
    """What JobService needs from the runner (kept tiny so tests can pass a recorder)."""

    def enqueue(self, job_id: int, user_id: int) -> None:
        raise NotImplementedError
