"""The loop that owns this process's jobs: fair slots, resume after a restart, the watchdog,
cancels and shutdown. One job's own path is `execution`; how it ends is `settlement`.

With several processes on one ledger (PostgreSQL) the ledger is the queue: a job starts only
once this process holds its lease (bot/jobs/leases.py), under caps counted in all processes;
the watchdog doubles as the look-out for jobs whose process died, woken by other processes'
NOTIFYs and at least twice per lease. A `gateway` process accepts jobs and runs none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

import aiohttp

from bot.config import Config
from bot.delivery.messenger import Messenger
from bot.delivery.progress import (
    PROGRESS_EDITS_PER_S,
    EditBudget,
    ProgressView,
    ThrottledEditor,
)
from bot.i18n import _, set_locale
from bot.jobs.execution import Execution, Live
from bot.jobs.intake import JobSubmitter
from bot.jobs.leases import Claim, LeaseKeeper, heartbeat, process_id
from bot.jobs.model import CancelOutcome, JobState
from bot.jobs.places import WaitingPlaces
from bot.jobs.retry import RetryPolicy
from bot.jobs.scheduler import FairScheduler
from bot.jobs.settlement import JobDeps, Settlement
from bot.moderation.gate import ModerationService
from bot.providers.base import Provider
from bot.providers.request import GenerationRequest
from db.database import Database
from db.jobs import JobRow

log = logging.getLogger(__name__)
INPUT_IMAGE_TTL_S = 7 * 24 * 3600  # rerolls of image-to-image results need the input a while


def cannot_resume(job: JobRow, providers: Mapping[str, Provider]) -> str | None:
    """Why a job a previous (or a dead) process left can't be picked up again, or None."""
    if job.state == JobState.QUEUED and job.submit_pending:
        return _(
            "The bot restarted while sending this job to {provider}, so it cannot tell whether "
            "the job was accepted. It was not sent again, so you are not charged twice.",
            provider=job.provider,
        )
    provider = providers.get(job.provider)
    request_id = job.provider_request_id
    if request_id and provider is not None and not provider.can_resume(request_id):
        return _(
            "The bot restarted while {provider} was making this job, and a {provider} request "
            "cannot be picked up again after a restart (it is one long call, not a queue), so "
            "its images were lost.",
            provider=job.provider,
        )
    return None


def make_live(job: JobRow, deps: JobDeps, budget: EditBudget) -> Live:
    """A job's message while this process holds it: its progress view and throttled editor."""
    origin = job.origin
    request = GenerationRequest.from_json(job.inputs_json)
    editor = ThrottledEditor(
        lambda content: deps.messenger.edit(job.id, origin, content),
        deps.config.generation.progress_interval_s,
        budget=budget,
    )
    view = ProgressView(
        prompt=request.prompt,
        provider=job.provider,
        model=job.model,
        count=job.image_count,
        started_at=job.interaction_created_at,
    )
    return Live(job=job, editor=editor, view=view)


class JobRunner(JobSubmitter):
    def __init__(
        self,
        config: Config,
        db: Database,
        providers: Mapping[str, Provider],
        messenger: Messenger,
        session: aiohttp.ClientSession,
        *,
        retry_policy: RetryPolicy | None = None,
        watchdog_interval_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        moderation: ModerationService | None = None,
        on_finished: Callable[[JobRow], None] | None = None,
        leases: LeaseKeeper | None = None,
    ) -> None:
        gen = config.generation
        retry = retry_policy or RetryPolicy(
            max_attempts=gen.retry_attempts,
            base_delay_s=gen.retry_base_delay_s,
            max_delay_s=max(8.0, gen.retry_base_delay_s),
            total_s=gen.retry_total_s,
        )
        self._leases = leases or LeaseKeeper(
            db,
            owner=process_id(),
            lease_s=config.database.lease_s,
            limits=(gen.max_concurrent_jobs, gen.max_jobs_per_user),
            role=config.discord.role,
            clock=clock,
        )
        owner = self._leases.owner
        deps = JobDeps(config, db, providers, messenger, session, retry, clock, moderation, owner)
        self._deps = deps
        self._db = db
        self._settle = Settlement(deps, on_finished)
        self._execution = Execution(deps, self._settle)
        self.runs_jobs = self._leases.role != "gateway"
        self._watchdog_interval_s = watchdog_interval_s
        if self._leases.shared:
            self._watchdog_interval_s = min(watchdog_interval_s, self._leases.poll_s)
        self._wake = asyncio.Event()
        self._blocked = False  # every slot of all processes is taken: wait for a wake-up
        self._scheduler = FairScheduler(gen.max_concurrent_jobs, gen.max_jobs_per_user)
        self._edit_budget = EditBudget(PROGRESS_EDITS_PER_S)  # shared by every job's editor
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: dict[int, Live] = {}
        self._places = WaitingPlaces(self._scheduler, self._live)
        self._owners: dict[int, int] = {}  # job id -> user id, for every job this process holds
        self._helpers: set[asyncio.Task[None]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self.last_pass: float | None = None  # when the watchdog last went round (health)
        self._stopping = False
        self.idle = asyncio.Event()
        self.idle.set()

    # -- intake ------------------------------------------------------------------------------

    def enqueue(self, job_id: int, user_id: int) -> None:
        if self._stopping or job_id in self._owners:
            return
        if not self.runs_jobs:  # a gateway: a worker takes it from the ledger
            self._spawn(self._leases.announce())
            return
        self.idle.clear()
        self._owners[job_id] = user_id
        self._scheduler.push(user_id, job_id)
        self._dispatch()
        if self._scheduler.is_waiting(job_id):
            self._spawn(self._load_waiting(job_id))
            if self._leases.shared:  # another process may have a free slot sooner
                self._spawn(self._leases.announce())

    def wake(self) -> None:
        """Another process queued a job or freed a slot (its NOTIFY)."""
        self._wake.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    async def start(self) -> int:
        """Resume what a previous process left unfinished, then watch for orphaned rows."""
        await self._leases.start()
        if not self.runs_jobs:
            return 0
        purged = await self._db.images.purge(self._deps.clock() - INPUT_IMAGE_TTL_S)
        if purged:
            log.info("purged %d input image(s) older than a week", purged)
        resumed = await self.resume_unfinished()
        await self._leases.listen(self.wake)
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch_orphans())
            beat = heartbeat(self._leases, self._running_ids, self._lost, self._edit_budget.share)
            self._spawn(beat)
        return resumed

    def _running_ids(self) -> list[int]:
        return [job_id for job_id, live in self._live.items() if live.task is not None]

    def _lost(self, job_id: int) -> None:
        """Another process took this job over: stop it here without ending it."""
        live = self._live.get(job_id)
        if live is not None and live.task is not None and not live.task.done():
            live.task.cancel()

    async def resume_unfinished(self) -> int:
        """Queue every job a previous process left active (or a dead process left leased);
        returns how many were resumed."""
        resumed = 0
        now = self._deps.clock()
        limit = 4 * self._scheduler.global_limit + 100
        for job_id, _due, _held in await self._db.leases.claimable(self._leases.owner, now, limit):
            if job_id in self._owners:
                continue
            job = await self._db.jobs.get(job_id)
            if job is None or job.is_final:
                continue
            # Whether it can be picked up is judged once its lease is ours (`_run_slot`): by
            # now another process may have claimed it and begun to submit it.
            self.enqueue(job.id, job.user_id)
            resumed += 1
        return resumed

    async def _watch_orphans(self) -> None:
        """A watchdog: active rows that no task of this process holds (a runner that died
        without settling its job) are picked up again."""
        while not self._stopping:
            self.last_pass = self._deps.clock()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._watchdog_interval_s)
            self._wake.clear()
            try:
                if self._blocked:
                    self._blocked = False
                    self._dispatch()
                now = self._deps.clock()
                limit = 4 * self._scheduler.global_limit + 100
                found = await self._db.leases.claimable(self._leases.owner, now, limit)
                orphans = [(job, held) for job, _due, held in found if job not in self._owners]
                for job_id, held in orphans:
                    if held:  # unclaimed jobs are only queued here; these lost their runner
                        log.warning("watchdog: job %s had no runner; resuming it", job_id)
                if orphans:
                    await self.resume_unfinished()
            except Exception:
                log.exception("watchdog pass failed")

    async def _load_waiting(self, job_id: int) -> None:
        job = await self._db.jobs.get(job_id)
        if job is None or job.is_final or job_id in self._live:
            return
        if not self._scheduler.is_waiting(job_id):
            return
        self._live[job_id] = make_live(job, self._deps, self._edit_budget)
        self._places.changed()

    def _dispatch(self) -> None:
        while not self._blocked and (ready := self._scheduler.pop_ready()) is not None:
            user_id, job_id = ready
            task = asyncio.create_task(self._run_slot(user_id, job_id), name=f"job-{job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            live = self._live.get(job_id)
            if live is not None:
                live.task = task
        self._places.changed()
        if self._scheduler.running_total == 0 and self._scheduler.waiting_total == 0:
            self.idle.set()

    # -- cancel ------------------------------------------------------------------------------

    async def cancel(self, job_id: int, by_user_id: int) -> CancelOutcome:
        """Cancel a job for a member, wherever it is."""
        job = await self._db.jobs.get(job_id)
        if job is None:
            return CancelOutcome.UNKNOWN
        if job.is_final or job.state == JobState.DELIVERING:
            return CancelOutcome.FINISHED
        live = self._live.get(job_id)
        user_id = self._owners.get(job_id)
        if user_id is not None and self._scheduler.remove(user_id, job_id):
            # Still waiting for a slot: nothing was sent anywhere.
            self._owners.pop(job_id, None)
            if live is not None:
                await live.editor.close()
                self._live.pop(job_id, None)
            await self._settle.cancelled(job_id, by_user_id)
            self._dispatch()
            return CancelOutcome.CANCELLED
        if live is not None and live.task is not None and not live.task.done():
            if not live.cancellable:
                return CancelOutcome.FINISHED
            live.cancel_by = by_user_id
            live.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(live.task)
            return CancelOutcome.CANCELLED
        # Not held by this process (e.g. mid-restart): end it from the ledger alone.
        await self._settle.cancel_at_provider(job)
        await self._settle.cancelled(job_id, by_user_id)
        return CancelOutcome.CANCELLED

    # -- one job's slot ----------------------------------------------------------------------

    async def _run_slot(self, user_id: int, job_id: int) -> None:
        claim = Claim.ELSEWHERE
        try:
            claim = await self._leases.claim(job_id)
            if claim is not Claim.TAKEN:
                return
            job = await self._db.jobs.get(job_id)
            if job is None or job.is_final:
                return
            set_locale(job.locale)  # this task's texts in its member's language (bot/i18n)
            lost = cannot_resume(job, self._deps.providers)
            if lost is not None:  # left mid-submit, or by a provider that can't re-attach
                await self._settle.fail(job.id, lost, retryable=True)
                return
            live = self._live.get(job_id) or make_live(job, self._deps, self._edit_budget)
            live.task = asyncio.current_task()
            self._live[job_id] = live
            live.view = replace(live.view, phase="submitting", bot_queue_position=None)
            await self._execution.run(job, live)
        except asyncio.CancelledError:
            if not await self._cancelled_by_member(job_id):
                raise  # shutdown: the row stays active and the next start resumes it
        except Exception:
            log.exception("job %s crashed in the runner", job_id)
            with contextlib.suppress(Exception):
                reason = _("Something went wrong inside the bot.")
                await self._settle.fail(job_id, reason, retryable=True)
        finally:
            self._scheduler.done(user_id)
            if claim is Claim.BUSY and not self._stopping:
                # Every slot of all processes is taken: back to the front of the line until
                # a job ends somewhere (a NOTIFY) or the watchdog's next pass.
                self._scheduler.push_front(user_id, job_id)
                self._blocked = True
            else:
                self._live.pop(job_id, None)
                self._owners.pop(job_id, None)
                if claim is Claim.TAKEN and self._leases.shared:
                    self._spawn(self._leases.announce())
                if not self._stopping:
                    self._dispatch()

    async def _cancelled_by_member(self, job_id: int) -> bool:
        """The one cancel path: a member's cancel (not shutdown) ends the job, wherever it
        landed, so "cancelled" is never a lie. False for a shutdown."""
        live = self._live.get(job_id)
        if self._stopping or live is None or live.cancel_by is None:
            return False
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        await live.editor.close()
        job = await self._db.jobs.get(job_id)
        if job is not None and not job.is_final and job.state != JobState.DELIVERING:
            await self._settle.cancel_at_provider(job)
            await self._settle.cancelled(job_id, live.cancel_by)
        return True

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def load(self) -> tuple[int, int]:
        """(waiting, running): this process's jobs waiting for a slot, and those in one."""
        return self._scheduler.waiting_total, self._scheduler.running_total

    def alive(self, now: float) -> bool:
        """Whether the job loop still turns: its watchdog runs and went round lately."""
        watchdog = self._watchdog
        if watchdog is None or watchdog.done() or self.last_pass is None:
            return False
        return now - self.last_pass < 3 * self._watchdog_interval_s + 5

    async def stop(self) -> None:
        """Stop taking work and cancel this process's tasks. Provider requests keep running and
        their rows stay active, so the next start resumes them instead of paying twice."""
        self._stopping = True
        self._places.close()
        tasks = [*self._tasks, *self._helpers]
        if self._watchdog is not None:
            tasks.append(self._watchdog)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for live in list(self._live.values()):
            await live.editor.close(grace=0)
        # Another process (or the next start) may take them over now, not after their leases
        # run out: every lease of this process, the tasks above having ended.
        await self._leases.stop()

    async def wait_idle(self) -> None:
        await self.idle.wait()


__all__ = ["JobRunner"]
