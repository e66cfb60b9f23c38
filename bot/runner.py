"""The asyncio job runner: fair scheduling, provider calls, progress, delivery, settlement.

Guarantees, and how they hold:
- Every job ends through `Database.finish`, which settles the quota in the same statement as
  the final state: charged once on success, refunded once otherwise.
- A job is submitted at most once. `begin_submit` marks the row *before* the request leaves and
  `mark_submitted` stores the provider's id the moment it returns. A process killed between the
  two leaves the mark, and the next start ends that job with a refund instead of guessing; a
  job with an id is re-attached by id, never re-submitted. So "killed after submit but before
  the id was stored" can never become a second submission.
- The member's message gets its final edit before the row is marked done; a crash in between
  repeats the same edit on the next start, which is harmless.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import aiohttp

from bot.config import Config
from bot.delivery import ImageFile, MessageTarget, Messenger, download_images
from bot.errors import DeliveryError, InvalidRequest, ProviderError
from bot.generation import GenerationRequest, retarget
from bot.jobs import JobSubmitter
from bot.moderation import ModerationService
from bot.progress import (
    PROGRESS_EDITS_PER_S,
    EditBudget,
    ProgressView,
    ThrottledEditor,
    render_progress,
    short_prompt,
)
from bot.providers.base import GenerationResult, Provider, ProviderUpdate
from bot.retry import RetryPolicy, with_retries
from bot.text import escape, quote
from db.database import JOB_ACTIVE_STATES, Database, JobRow

log = logging.getLogger(__name__)
INPUT_IMAGE_TTL_S = 7 * 24 * 3600  # rerolls of image-to-image results need the input a while
# At most this many submit requests to one provider at once; the other jobs wait their turn.
# Measured with 200 /imagine at once (bench/README.md): sent together, every submit opened its
# own TLS connection (fal-client's httpx pool opens up to 100 and queues the rest in a list it
# scans on each request and release) and the event loop advanced 60-120 of them in one pass at
# 0.5-1.5 ms each: loop stalls of 70-190 ms. In turns of 16, later submits reuse the keep-alive
# connections of earlier ones (httpx keeps 20) and a pass holds at most 16 of them. A bot with
# the default `max_concurrent_jobs` (16) never waits here; at ~150 ms per submit, 16 at a time
# still send ~100 a second.
SUBMITS_PER_PROVIDER = 16


class FairScheduler:
    """FIFO per user, round-robin across users, with global and per-user in-flight limits."""

    def __init__(self, global_limit: int, per_user_limit: int) -> None:
        self.global_limit = global_limit
        self.per_user_limit = per_user_limit
        self._waiting: OrderedDict[int, deque[int]] = OrderedDict()
        self._waiting_ids: set[int] = set()
        self._running: dict[int, int] = {}
        self.running_total = 0

    def push(self, user_id: int, job_id: int) -> None:
        self._waiting.setdefault(user_id, deque()).append(job_id)
        self._waiting_ids.add(job_id)

    def is_waiting(self, job_id: int) -> bool:
        return job_id in self._waiting_ids

    def remove(self, user_id: int, job_id: int) -> bool:
        queue = self._waiting.get(user_id)
        if queue is None or job_id not in queue:
            return False
        queue.remove(job_id)
        self._waiting_ids.discard(job_id)
        if not queue:
            del self._waiting[user_id]
        return True

    def pop_ready(self) -> tuple[int, int] | None:
        if self.running_total >= self.global_limit:
            return None
        for user_id in list(self._waiting):
            if self._running.get(user_id, 0) >= self.per_user_limit:
                continue
            queue = self._waiting[user_id]
            job_id = queue.popleft()
            self._waiting_ids.discard(job_id)
            # Served users go to the back of the line: round-robin.
            del self._waiting[user_id]
            if queue:
                self._waiting[user_id] = queue
            self._running[user_id] = self._running.get(user_id, 0) + 1
            self.running_total += 1
            return user_id, job_id
        return None

    def done(self, user_id: int) -> None:
        left = self._running.get(user_id, 0) - 1
        if left > 0:
            self._running[user_id] = left
        else:
            self._running.pop(user_id, None)
        self.running_total -= 1

    def positions(self) -> dict[int, int]:
        """1-based place of every waiting job in the order the scheduler would start them."""
        result: dict[int, int] = {}
        queues = [list(q) for q in self._waiting.values()]
        place = 0
        depth = 0
        while any(depth < len(q) for q in queues):
            for q in queues:
                if depth < len(q):
                    place += 1
                    result[q[depth]] = place
            depth += 1
        return result

    @property
    def waiting_total(self) -> int:
        return len(self._waiting_ids)


@dataclass
class _Live:
    """In-memory companions of a job row while this process works on it."""

    job: JobRow
    editor: ThrottledEditor
    view: ProgressView
    shown_position: int | None = None
    task: asyncio.Task[None] | None = None
    cancellable: bool = True
    cancel_by: int | None = None


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
    ) -> None:
        self._moderation = moderation
        self._on_finished = on_finished
        self._config = config
        self._db = db
        self._providers = providers
        self._messenger = messenger
        self._session = session
        self._retry = retry_policy or RetryPolicy(
            max_attempts=config.generation.retry_attempts,
            base_delay_s=config.generation.retry_base_delay_s,
            max_delay_s=max(8.0, config.generation.retry_base_delay_s),
            total_s=config.generation.retry_total_s,
        )
        self._watchdog_interval_s = watchdog_interval_s
        self._clock = clock
        gen = config.generation
        self._scheduler = FairScheduler(gen.max_concurrent_jobs, gen.max_jobs_per_user)
        self._edit_budget = EditBudget(PROGRESS_EDITS_PER_S)  # shared by every job's editor
        self._submit_slots: dict[str, asyncio.Semaphore] = {}  # provider -> its submit turns
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: dict[int, _Live] = {}
        self._owners: dict[int, int] = {}  # job id -> user id, for every job this process holds
        self._helpers: set[asyncio.Task[None]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        self.idle = asyncio.Event()
        self.idle.set()

    # -- intake ------------------------------------------------------------------------------

    def enqueue(self, job_id: int, user_id: int) -> None:
        if self._stopping or job_id in self._owners:
            return
        self.idle.clear()
        self._owners[job_id] = user_id
        self._scheduler.push(user_id, job_id)
        self._dispatch()
        if self._scheduler.is_waiting(job_id):
            self._spawn(self._load_waiting(job_id))

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    async def start(self) -> int:
        """Resume what a previous process left unfinished, then watch for orphaned rows."""
        purged = await self._db.purge_input_images(self._clock() - INPUT_IMAGE_TTL_S)
        if purged:
            log.info("purged %d input image(s) older than a week", purged)
        resumed = await self.resume_unfinished()
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch_orphans())
        return resumed

    async def resume_unfinished(self) -> int:
        """Queue every job a previous process left active; returns how many were resumed."""
        resumed = 0
        for job in await self._db.jobs_in_states(JOB_ACTIVE_STATES):
            if job.id in self._owners:
                continue
            if job.state == "queued" and job.submit_pending:
                await self._end(
                    job.id,
                    "failed",
                    f"The bot restarted while sending this job to {job.provider}, so it cannot "
                    "tell whether the job was accepted. It was not sent again, so you are not "
                    "charged twice.",
                    retryable=True,
                )
                continue
            provider = self._providers.get(job.provider)
            request_id = job.provider_request_id
            if request_id and provider is not None and not provider.can_resume(request_id):
                await self._end(
                    job.id,
                    "failed",
                    f"The bot restarted while {job.provider} was making this job, and a "
                    f"{job.provider} request cannot be picked up again after a restart (it is "
                    "one long call, not a queue), so its images were lost.",
                    retryable=True,
                )
                continue
            self.enqueue(job.id, job.user_id)
            resumed += 1
        return resumed

    async def _watch_orphans(self) -> None:
        """A watchdog: active rows that no task of this process holds (a runner that died
        without settling its job) are picked up again."""
        while not self._stopping:
            await asyncio.sleep(self._watchdog_interval_s)
            try:
                orphans = [
                    job
                    for job in await self._db.jobs_in_states(JOB_ACTIVE_STATES)
                    if job.id not in self._owners
                ]
                for job in orphans:
                    log.warning("watchdog: job %s had no runner; resuming it", job.id)
                if orphans:
                    await self.resume_unfinished()
            except Exception:
                log.exception("watchdog pass failed")

    async def _load_waiting(self, job_id: int) -> None:
        job = await self._db.get_job(job_id)
        if job is None or job.is_final or job_id in self._live:
            return
        if not self._scheduler.is_waiting(job_id):
            return
        self._live[job_id] = self._make_live(job)
        self._show_waiting_positions()

    def _dispatch(self) -> None:
        while (ready := self._scheduler.pop_ready()) is not None:
            user_id, job_id = ready
            task = asyncio.create_task(self._run_slot(user_id, job_id), name=f"job-{job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            live = self._live.get(job_id)
            if live is not None:
                live.task = task
        self._show_waiting_positions()
        if self._scheduler.running_total == 0 and self._scheduler.waiting_total == 0:
            self.idle.set()

    def _show_waiting_positions(self) -> None:
        """Tell waiting members their place, but only when it changed a lot (it halved, or is
        in the last ten), so a long queue costs each member a handful of edits, not hundreds."""
        if not self._scheduler.waiting_total:
            return
        for job_id, place in self._scheduler.positions().items():
            live = self._live.get(job_id)
            if live is None:
                continue  # its row is still loading; it renders its place when it arrives
            shown = live.shown_position
            if shown is None or (place != shown and (place <= 10 or place <= shown // 2)):
                live.shown_position = place
                live.view = replace(live.view, phase="waiting", bot_queue_position=place)
                live.editor.update(render_progress(live.view))

    # -- cancel ----------------------------------------------------------------------------

    async def cancel(self, job_id: int, by_user_id: int) -> str:
        """Cancel a job for a member. Returns "cancelled", "finished" (too late: it already
        ended or is being delivered) or "unknown"."""
        job = await self._db.get_job(job_id)
        if job is None:
            return "unknown"
        if job.is_final or job.state == "delivering":
            return "finished"
        live = self._live.get(job_id)
        user_id = self._owners.get(job_id)
        if user_id is not None and self._scheduler.remove(user_id, job_id):
            # Still waiting for a slot: nothing was sent anywhere.
            self._owners.pop(job_id, None)
            if live is not None:
                await live.editor.close()
                self._live.pop(job_id, None)
            await self._cancelled(job_id, by_user_id)
            self._dispatch()
            return "cancelled"
        if live is not None and live.task is not None and not live.task.done():
            if not live.cancellable:
                return "finished"
            live.cancel_by = by_user_id
            live.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(live.task)
            return "cancelled"
        # Not held by this process (e.g. mid-restart): end it from the ledger alone.
        await self._cancel_at_provider(job)
        await self._cancelled(job_id, by_user_id)
        return "cancelled"

    async def _cancelled(self, job_id: int, by_user_id: int) -> None:
        await self._end(
            job_id, "cancelled", f"🛑 Cancelled by <@{by_user_id}>.", cancelled_by=by_user_id
        )

    async def _cancel_at_provider(self, job: JobRow) -> None:
        provider = self._providers.get(job.provider)
        if provider is None or not job.provider_request_id:
            return
        try:
            async with asyncio.timeout(10):
                await provider.cancel(job.model, job.provider_request_id)
        except Exception as exc:
            log.warning("job %s: cancel at %s failed: %s", job.id, job.provider, exc)

    # -- one job -------------------------------------------------------------------------------

    async def _run_slot(self, user_id: int, job_id: int) -> None:
        try:
            await self._run(job_id)
        except asyncio.CancelledError:
            live = self._live.get(job_id)
            if self._stopping or live is None or live.cancel_by is None:
                raise
            # A member's cancel that landed outside the generation phase (e.g. while the row
            # was being read): still end the job, so "cancelled" is never a lie.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            job = await self._db.get_job(job_id)
            if job is not None and not job.is_final and job.state != "delivering":
                await live.editor.close()
                await self._cancel_at_provider(job)
                await self._cancelled(job_id, live.cancel_by)
        except Exception:
            log.exception("job %s crashed in the runner", job_id)
            with contextlib.suppress(Exception):
                await self._fail(job_id, "Something went wrong inside the bot.", retryable=True)
        finally:
            self._live.pop(job_id, None)
            self._owners.pop(job_id, None)
            self._scheduler.done(user_id)
            if not self._stopping:
                self._dispatch()

    def _target(self, job: JobRow) -> MessageTarget:
        return MessageTarget(
            job_id=job.id,
            application_id=job.application_id,
            interaction_token=job.interaction_token,
            interaction_created_at=job.interaction_created_at,
            message_id=job.message_id,
            channel_id=job.channel_id,
            user_id=job.user_id,
            guild_id=job.guild_id,
        )

    def _make_live(self, job: JobRow) -> _Live:
        target = self._target(job)
        request = GenerationRequest.from_json(job.inputs_json)
        editor = ThrottledEditor(
            lambda content: self._messenger.edit(target, content),
            self._config.generation.progress_interval_s,
            budget=self._edit_budget,
        )
        view = ProgressView(
            prompt=request.prompt,
            provider=job.provider,
            model=job.model,
            count=job.image_count,
            started_at=job.interaction_created_at,
        )
        return _Live(job=job, editor=editor, view=view)

    def _deadline_s(self, job: JobRow) -> float:
        """Seconds left for this job: the clock starts when it is first submitted, and a
        resumed job keeps its original deadline."""
        timeout = self._config.generation.job_timeout_s
        if job.submitted_at is None:
            return timeout
        return max(job.submitted_at + timeout - self._clock(), 0.0)

    async def _run(self, job_id: int) -> None:
        job = await self._db.get_job(job_id)
        if job is None or job.is_final:
            return
        live = self._live.get(job_id) or self._make_live(job)
        live.task = asyncio.current_task()
        live.view = replace(live.view, phase="submitting", bot_queue_position=None)
        self._live[job_id] = live
        editor = live.editor
        if job.provider not in self._providers:
            await editor.close()
            await self._fail(
                job_id,
                f"The {job.provider} provider is no longer set up on this bot.",
                retryable=False,
            )
            return

        started = self._clock()
        deadline = self._config.generation.job_timeout_s
        try:
            async with asyncio.timeout(self._deadline_s(job)):
                result, job = await self._generate(job, live)
                live.view = replace(live.view, phase="finishing")
                editor.update(render_progress(live.view))
                files = await download_images(
                    self._session,
                    result,
                    job_id=job.id,
                    per_file_limit=job.attachment_size_limit,
                )
                live.cancellable = False
        except asyncio.CancelledError:
            if live.cancel_by is None:
                raise  # shutdown: the row stays active and the next start resumes it
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await editor.close()
            latest = await self._db.get_job(job_id)
            if latest is not None:
                await self._cancel_at_provider(latest)
            await self._cancelled(job_id, live.cancel_by)
            return
        except TimeoutError:
            await editor.close()
            await self._expire(job_id, deadline)
            return
        except (ProviderError, DeliveryError) as exc:
            await editor.close()
            what = (
                f"{exc.provider} could not make the images: {exc.reason}"
                if isinstance(exc, ProviderError)
                else f"The images were made but {exc}"
            )
            await self._fail(job_id, what, retryable=exc.retryable)
            return

        await editor.close()
        await self._db.transition(job_id, JOB_ACTIVE_STATES, "delivering")
        files, withheld, refund = await self._apply_safety(job, result, files)
        request = GenerationRequest.from_json(job.inputs_json)
        parent = await self._db.get_job(job.parent_job_id) if job.parent_job_id else None
        content = render_result(
            job, request, result, elapsed_s=self._clock() - started, parent=parent
        )
        if withheld:
            content += "\n" + withheld_notice(withheld, charged=not refund)
        try:
            delivered = await self._messenger.finish(
                self._target(job), content, files, kind=job.kind, policy=self._retry
            )
        except DeliveryError as exc:
            log.warning("job %s: the result could not be posted: %s", job_id, exc)
            reason = f"The images were made but the bot could not post the result: {exc}."
            await self._end(job_id, "failed", reason, retryable=True)
            return
        await self._db.finish(
            job_id,
            "done",
            result={
                "seed": result.seed,
                "images": [image.ledger_url for image in result.images],
                "files": [f.filename for f in files],
                "inference_s": result.inference_s,
                "delivered_by": delivered.how,
                "attachments": list(delivered.attachment_urls),
            },
            result_message_id=delivered.message_id,
            withheld_images=withheld,
            refunded_images=withheld if refund else 0,
        )
        await self._finished(job_id)

    async def _apply_safety(
        self, job: JobRow, result: GenerationResult, files: list[ImageFile]
    ) -> tuple[list[ImageFile], int, bool]:
        """Images the provider's safety checker flagged never appear in a channel that is not
        age-restricted; in one that is, they are spoilered if the server allows it. Returns
        the files to post, how many were withheld, and whether those are refunded."""
        flagged = {i for i, image in enumerate(result.images) if image.nsfw}
        if not flagged:
            return files, 0, False
        settings = await self._moderation.settings(job.guild_id) if self._moderation else None
        spoilers = settings.nsfw_spoilers if settings else True
        charge = settings.charge_flagged if settings else True
        if job.channel_nsfw and spoilers:
            return [replace(f, spoiler=i in flagged) for i, f in enumerate(files)], 0, False
        kept = [f for i, f in enumerate(files) if i not in flagged]
        return kept, len(files) - len(kept), not charge

    async def _finished(self, job_id: int) -> None:
        if self._on_finished is None:
            return
        job = await self._db.get_job(job_id)
        if job is not None:
            try:
                self._on_finished(job)
            except Exception:
                log.exception("on_finished hook failed for job %s", job_id)

    async def _generate(self, job: JobRow, live: _Live) -> tuple[GenerationResult, JobRow]:
        if job.provider_request_id is None:
            job = await self._submit(job, live)
        provider = self._providers[job.provider]
        request_id = job.provider_request_id
        assert request_id is not None
        state = {"running": job.state == "running"}

        async def follow() -> ProviderUpdate:
            async for update in provider.watch(job.model, request_id):
                if update.phase == "completed":
                    return update
                if update.phase == "running" and not state["running"]:
                    state["running"] = True
                    await self._db.transition(job.id, ("submitted",), "running")
                live.view = replace(
                    live.view,
                    phase=update.phase,
                    queue_position=update.queue_position,
                    step=update.step,
                    total_steps=update.total_steps,
                    detail=update.detail,
                )
                live.editor.update(render_progress(live.view))
            raise ProviderError(provider.name, "the status stream ended early", retryable=True)

        outcome = await with_retries(self._retry, follow, what=f"job {job.id} status")
        if outcome.error:
            # The provider's own answer for a failed request says best whether a new try helps.
            await provider.result(job.model, request_id)
            raise ProviderError(provider.name, outcome.error, retryable=False)
        result = await with_retries(
            self._retry,
            lambda: provider.result(job.model, request_id),
            what=f"job {job.id} result",
        )
        return result, job

    async def _submit(self, job: JobRow, live: _Live) -> JobRow:
        """Submit through the job's provider, then each configured fallback while providers
        are down (never when the input is at fault or the provider may have accepted it)."""
        chain = [job.provider] + [
            name
            for name in self._config.generation.fallback_providers
            if name != job.provider and name in self._providers
        ]
        request = GenerationRequest.from_json(job.inputs_json)
        last_error: ProviderError | None = None
        for index, name in enumerate(chain):
            if index > 0:
                moved = await self._move_to_fallback(job, request, name, live, last_error)
                if moved is None:
                    continue
                job, request = moved
            provider = self._providers[name]
            live.editor.update(render_progress(live.view))
            try:
                await with_retries(
                    self._retry,
                    lambda p=provider, r=request, j=job: self._submit_once(j, p, r),  # type: ignore[misc]
                    what=f"job {job.id} submit to {name}",
                    should_retry=lambda exc: not exc.maybe_accepted,
                )
            except ProviderError as exc:
                if exc.maybe_accepted or not exc.retryable or index == len(chain) - 1:
                    raise
                log.warning("job %s: %s is unavailable (%s); trying a fallback", job.id, name, exc)
                last_error = exc
                continue
            latest = await self._db.get_job(job.id)
            assert latest is not None
            return latest
        assert last_error is not None
        raise last_error

    async def _submit_once(
        self, job: JobRow, provider: Provider, request: GenerationRequest
    ) -> None:
        image = await self._input_image(request)
        # The turn comes before the row is marked: a job waiting for it has sent nothing, so a
        # restart meanwhile submits it normally instead of ending it as "maybe sent".
        async with self._submit_slot(provider.name):
            if not await self._db.begin_submit(job.id):
                raise RuntimeError(f"job {job.id} is no longer waiting to be submitted")
            try:
                request_id = await provider.submit(request, image)
            except ProviderError as exc:
                if not exc.maybe_accepted:
                    await self._db.submit_refused(job.id)
                raise
        await self._db.mark_submitted(job.id, request_id)

    def _submit_slot(self, provider: str) -> asyncio.Semaphore:
        """The provider's `SUBMITS_PER_PROVIDER` turns to submit, shared by all its jobs."""
        slot = self._submit_slots.get(provider)
        if slot is None:
            slot = self._submit_slots[provider] = asyncio.Semaphore(SUBMITS_PER_PROVIDER)
        return slot

    async def _input_image(self, request: GenerationRequest) -> str | None:
        """The job's prepared input image as a data URI (what both providers accept)."""
        if request.image_id is None:
            return None
        stored = await self._db.input_image(request.image_id)
        if stored is None:
            raise ProviderError(
                request.provider, "the input image is no longer stored", retryable=False
            )
        data, content_type = stored
        return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"

    async def _move_to_fallback(
        self,
        job: JobRow,
        request: GenerationRequest,
        name: str,
        live: _Live,
        reason: ProviderError | None,
    ) -> tuple[JobRow, GenerationRequest] | None:
        try:
            moved = retarget(self._config, request, name)
        except InvalidRequest as exc:
            log.info("job %s: fallback %s does not fit the options: %s", job.id, name, exc)
            return None
        if not await self._db.switch_provider(
            job.id, provider=name, model=moved.model, inputs=moved.to_json(), previous=job.provider
        ):
            return None
        latest = await self._db.get_job(job.id)
        assert latest is not None
        why = f" ({reason.reason})" if reason else ""
        live.view = replace(
            live.view,
            provider=name,
            model=moved.model,
            note=f"{job.provider} is not answering{why}; moved to {name}.",
        )
        return latest, moved

    async def _expire(self, job_id: int, deadline: float) -> None:
        job = await self._db.get_job(job_id)
        if job is not None:
            await self._cancel_at_provider(job)
        reason = f"It took longer than the {deadline:g} s limit and was stopped."
        await self._end(job_id, "expired", reason, retryable=True)

    async def _fail(self, job_id: int, reason: str, *, retryable: bool) -> None:
        await self._end(job_id, "failed", reason, retryable=retryable)

    async def _end(
        self,
        job_id: int,
        state: str,
        reason: str,
        *,
        retryable: bool | None = None,
        cancelled_by: int | None = None,
    ) -> None:
        """Final edit first, then the row (which refunds): the member is never left hanging.
        A job whose channel is gone still ends, refunded."""
        job = await self._db.get_job(job_id)
        if job is None or job.is_final:
            return
        content = render_failure(job, reason, retryable=retryable)
        try:
            await self._messenger.finish(self._target(job), content, policy=self._retry)
        except Exception as exc:
            log.warning("job %s: the final notice could not be posted: %s", job_id, exc)
        await self._db.finish(
            job_id, state, error=reason, retryable=retryable, cancelled_by=cancelled_by
        )
        await self._finished(job_id)

    # -- lifecycle -------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop taking work and cancel this process's tasks. Provider requests keep running and
        their rows stay active, so the next start resumes them instead of paying twice."""
        self._stopping = True
        tasks = [*self._tasks, *self._helpers]
        if self._watchdog is not None:
            tasks.append(self._watchdog)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for live in list(self._live.values()):
            await live.editor.close(grace=0)

    async def wait_idle(self) -> None:
        await self.idle.wait()


_DERIVED = {"reroll": "reroll", "variation": "variation", "remix": "remix", "upscale": "upscale"}


def jump_link(job: JobRow) -> str:
    message = job.result_message_id or job.message_id
    return f"https://discord.com/channels/{job.guild_id or '@me'}/{job.channel_id}/{message}"


def credit_line(job: JobRow, parent: JobRow | None) -> str | None:
    """ "remix of @alice's #123", linked to the parent's message."""
    if parent is None or job.kind not in _DERIVED:
        return None
    what = _DERIVED[job.kind]
    if job.parent_image is not None and job.kind in ("variation", "upscale"):
        what += f" of image {job.parent_image + 1}"
    return f"-# {what} of <@{parent.user_id}>'s [#{parent.id}]({jump_link(parent)})"


def render_result(
    job: JobRow,
    request: GenerationRequest,
    result: GenerationResult,
    *,
    elapsed_s: float,
    parent: JobRow | None = None,
) -> str:
    seed = f"seed {result.seed}" if result.seed is not None else "random seed"
    timing = f"{elapsed_s:.1f} s"
    if result.inference_s:
        timing += f" ({result.inference_s:.1f} s generating)"
    lines = [f"🎨 **{quote(request.prompt, 900)}** — <@{job.user_id}>"]
    if request.negative_prompt:
        lines.append(f"-# without: {quote(request.negative_prompt, 300)}")
    if request.loras:
        names = ", ".join(
            f"{escape(lora.credit or lora.name or short_prompt(lora.path, 60))} ({lora.scale:g})"
            for lora in request.loras
        )
        lines.append(f"-# LoRA: {names}")
    credit = credit_line(job, parent)
    if credit:
        lines.append(credit)
    via = f" (fallback: {job.fallback_from} was down)" if job.fallback_from else ""
    lines.append(f"`{seed}` · {job.provider}{via} · `{job.model}` · {timing} · job #{job.id}")
    return "\n".join(lines)


def withheld_notice(count: int, *, charged: bool) -> str:
    images = "1 image was" if count == 1 else f"{count} images were"
    cost = "it still counts" if count == 1 else "they still count"
    tail = f"{cost} against your quota" if charged else "refunded to your quota"
    return (
        f"⚠️ {images} flagged by the provider's safety checker and not shown in this channel "
        f"({tail})."
    )


def render_failure(job: JobRow, reason: str, *, retryable: bool | None) -> str:
    request = GenerationRequest.from_json(job.inputs_json)
    images = "image was" if job.image_count == 1 else f"{job.image_count} images were"
    refund = f"-# Your {images} refunded to your daily quota · job #{job.id}"
    title = "**Cancelled**" if retryable is None else "❌ **Generation failed**"
    lines = [f"{title} — {quote(request.prompt, 300)}", reason]
    if retryable is not None:
        lines.append(
            "Trying again in a little while may help."
            if retryable
            else "Trying again with the same options will not help: change the prompt or options."
        )
    lines.append(refund)
    return "\n".join(lines)


__all__ = ["FairScheduler", "JobRunner", "render_failure", "render_result"]
