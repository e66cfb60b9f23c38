"""One job's path through its provider: submit (or fall back), follow, fetch the result.

A job is submitted at most once. `begin_submit` marks the row *before* the request leaves and
`mark_submitted` stores the provider's id the moment it returns. A process killed between the
two leaves the mark, and the next start ends that job with a refund instead of guessing; a job
with an id is re-attached by id, never re-submitted. So "killed after submit but before the id
was stored" can never become a second submission.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace

from bot.delivery.progress import ProgressView, ThrottledEditor, render_progress
from bot.delivery.text import escape
from bot.errors import DeliveryError, InvalidRequest, ProviderError, RegionNotFound
from bot.i18n import _, using
from bot.jobs.input_images import provider_extras, provider_image
from bot.jobs.masks import MaskMaker
from bot.jobs.model import JobState, sources
from bot.jobs.outputs import job_output
from bot.jobs.retry import with_retries
from bot.jobs.settlement import JobDeps, Settlement
from bot.providers.base import GenerationResult, Provider, ProviderUpdate
from bot.providers.catalogue.mapping import ExtraInputs
from bot.providers.request import GenerationRequest, retarget
from db.jobs import JobRow

log = logging.getLogger(__name__)

# At most this many submit requests to one provider at once; the other jobs wait their turn.
# Measured with 200 /imagine at once (bench/README.md): sent together, every submit opened its
# own TLS connection and the event loop advanced 60-120 of them in one pass at 0.5-1.5 ms each:
# loop stalls of 70-190 ms. In turns of 16, later submits reuse the keep-alive connections of
# earlier ones and a pass holds at most 16 of them. A bot with the default
# `max_concurrent_jobs` (16) never waits here; at ~150 ms per submit, 16 at a time still send
# ~100 a second.
SUBMITS_PER_PROVIDER = 16

# At most this many jobs hold their images in memory (downloaded, then posted) at once; the
# others wait with theirs still at the provider. 1,500 jobs finishing together held 1,500
# downloads at once: ~800 MB (bench/README.md, issue 14). Posting is I/O-bound, so 32 keep
# the uplink busy: at ~0.3 s per post of a few MB, ~100 results a second.
DELIVERIES_AT_ONCE = 32


@dataclass
class Live:
    """In-memory companions of a job row while this process works on it."""

    job: JobRow
    editor: ThrottledEditor
    view: ProgressView
    shown_position: int | None = None
    task: asyncio.Task[None] | None = None
    cancellable: bool = True  # False once the result is being posted
    cancel_by: int | None = None  # who asked to cancel (the task is then cancelled)

    def show(self, **changes: object) -> None:
        """Drawn in the job's language: a waiting job's place is moved on by other members'
        interactions and by timers, which run in theirs."""
        self.view = replace(self.view, **changes)  # type: ignore[arg-type]
        with using(self.job.locale):
            self.editor.update(render_progress(self.view))


class Execution:
    """Runs jobs to their end; a cancel arrives as the task's cancellation (the runner's)."""

    def __init__(self, deps: JobDeps, settlement: Settlement) -> None:
        self._deps = deps
        self._settle = settlement
        self._submit_slots: dict[str, asyncio.Semaphore] = {}  # provider -> its submit turns
        self._deliveries = asyncio.Semaphore(DELIVERIES_AT_ONCE)
        self._masks = MaskMaker(deps)

    def deadline_s(self, job: JobRow) -> float:
        """Seconds left for this job: the clock starts when it is first submitted, and a
        resumed job keeps its original deadline."""
        timeout = self._deps.config.generation.timeout_s(job.kind)
        if job.submitted_at is None:
            return timeout
        return max(job.submitted_at + timeout - self._deps.clock(), 0.0)

    async def run(self, job: JobRow, live: Live) -> None:
        """From wherever the row is to its end. CancelledError passes through (a member's
        cancel or shutdown: the runner tells them apart)."""
        if job.provider not in self._deps.providers:
            await live.editor.close()
            reason = _(
                "The {provider} provider is no longer set up on this bot.", provider=job.provider
            )
            await self._settle.fail(job.id, reason, retryable=False)
            return
        started = self._deps.clock()
        async with contextlib.AsyncExitStack() as held:
            try:
                async with asyncio.timeout(self.deadline_s(job)):
                    result, job = await self._generate(job, live)
                    live.show(phase="finishing")
                    await held.enter_async_context(self._deliveries)  # until it is posted
                    output = await job_output(self._deps.session, self._deps.db, job, result)
                    live.cancellable = False
            except TimeoutError:
                await live.editor.close()
                await self._settle.expire(job.id)
                return
            except RegionNotFound as exc:
                await live.editor.close()
                await self._settle.fail(job.id, str(exc), retryable=False)
                return
            except (ProviderError, DeliveryError) as exc:
                await live.editor.close()
                what = (
                    # The provider's words may quote the prompt: shown as text, like the prompt.
                    _(
                        "{provider} could not make the images: {reason}",
                        provider=exc.provider,
                        reason=escape(exc.reason),
                    )
                    if isinstance(exc, ProviderError)
                    else _("The images were made but {error}", error=exc)
                )
                await self._settle.fail(job.id, what, retryable=exc.retryable)
                return
            await live.editor.close()
            await self._settle.deliver(job, result, output, self._deps.clock() - started)

    async def _generate(self, job: JobRow, live: Live) -> tuple[GenerationResult, JobRow]:
        if job.provider_request_id is None:
            job = await self._masks.ensure(job, lambda text: live.show(detail=text))
            job = await self._submit(job, live)
        provider = self._deps.providers[job.provider]
        request_id = job.provider_request_id
        assert request_id is not None
        outcome = await with_retries(
            self._deps.retry,
            lambda: self._follow(job, provider, request_id, live),
            what=f"job {job.id} status",
        )
        if outcome.error:
            # The provider's own answer for a failed request says best whether a new try helps.
            await provider.result(job.model, request_id)
            raise ProviderError(provider.name, outcome.error, retryable=False)
        result = await with_retries(
            self._deps.retry,
            lambda: provider.result(job.model, request_id),
            what=f"job {job.id} result",
        )
        return result, job

    async def _follow(
        self, job: JobRow, provider: Provider, request_id: str, live: Live
    ) -> ProviderUpdate:
        """The provider's updates until it completes, shown as progress."""
        running = job.state == JobState.RUNNING
        # Closed here rather than by the garbage collector's finaliser hook, which wakes the
        # loop through its self-pipe for every job.
        async with contextlib.aclosing(provider.watch(job.model, request_id)) as updates:
            async for update in updates:
                if update.phase == "completed":
                    return update
                if update.phase == "running" and not running:
                    running = True
                    await self._deps.db.jobs.transition(
                        job.id, sources(JobState.RUNNING), JobState.RUNNING
                    )
                live.show(
                    phase=update.phase,
                    queue_position=update.queue_position,
                    step=update.step,
                    total_steps=update.total_steps,
                    detail=update.detail,
                )
        raise ProviderError(provider.name, _("the status stream ended early"), retryable=True)

    async def _submit(self, job: JobRow, live: Live) -> JobRow:
        """Submit through the job's provider, then each configured fallback while providers
        are down (never when the input is at fault or the provider may have accepted it)."""
        providers = self._deps.providers
        chain = [job.provider] + [
            name
            for name in self._deps.config.generation.fallback_providers
            if name != job.provider and name in providers
        ]
        request = GenerationRequest.from_json(job.inputs_json)
        last_error: ProviderError | None = None
        for index, name in enumerate(chain):
            if index > 0:
                moved = await self._move_to_fallback(job, request, name, live, last_error)
                if moved is None:
                    continue
                job, request = moved
            live.editor.update(render_progress(live.view))
            try:
                await self._submit_with_retries(job, providers[name], request)
            except ProviderError as exc:
                if exc.maybe_accepted or not exc.retryable or index == len(chain) - 1:
                    raise
                log.warning("job %s: %s is unavailable (%s); trying a fallback", job.id, name, exc)
                last_error = exc
                continue
            latest = await self._deps.db.jobs.get(job.id)
            assert latest is not None
            return latest
        assert last_error is not None
        raise last_error

    async def _submit_with_retries(
        self, job: JobRow, provider: Provider, request: GenerationRequest
    ) -> None:
        # Uploaded (when large) once per provider, not once per submit attempt.
        db, retry = self._deps.db, self._deps.retry
        image = await provider_image(db, provider, request, job_id=job.id, retry=retry)
        extra = await provider_extras(db, provider, request, job_id=job.id, retry=retry)
        await with_retries(
            self._deps.retry,
            lambda: self._submit_once(job, provider, request, image, extra),
            what=f"job {job.id} submit to {provider.name}",
            should_retry=lambda exc: not exc.maybe_accepted,
        )

    async def _submit_once(
        self,
        job: JobRow,
        provider: Provider,
        request: GenerationRequest,
        image: str | None,
        extra: ExtraInputs,
    ) -> None:
        db = self._deps.db
        # The turn comes before the row is marked: a job waiting for it has sent nothing, so a
        # restart meanwhile submits it normally instead of ending it as "maybe sent".
        async with self._submit_slot(provider.name):
            if not await db.jobs.begin_submit(job.id):
                raise RuntimeError(f"job {job.id} is no longer waiting to be submitted")
            try:
                request_id = await provider.submit(request, image, extra)
            except ProviderError as exc:
                if not exc.maybe_accepted:
                    await db.jobs.submit_refused(job.id)
                raise
        await db.jobs.mark_submitted(job.id, request_id)

    def _submit_slot(self, provider: str) -> asyncio.Semaphore:
        """The provider's `SUBMITS_PER_PROVIDER` turns to submit, shared by all its jobs."""
        slot = self._submit_slots.get(provider)
        if slot is None:
            slot = self._submit_slots[provider] = asyncio.Semaphore(SUBMITS_PER_PROVIDER)
        return slot

    async def _move_to_fallback(
        self,
        job: JobRow,
        request: GenerationRequest,
        name: str,
        live: Live,
        reason: ProviderError | None,
    ) -> tuple[JobRow, GenerationRequest] | None:
        try:
            moved = retarget(self._deps.config, request, name)
        except InvalidRequest as exc:
            log.info("job %s: fallback %s does not fit the options: %s", job.id, name, exc)
            return None
        db = self._deps.db
        if not await db.jobs.switch_provider(
            job.id, provider=name, model=moved.model, inputs=moved.to_json(), previous=job.provider
        ):
            return None
        latest = await db.jobs.get(job.id)
        assert latest is not None
        fields = {"provider": job.provider, "fallback": name}
        note = (
            _(
                "{provider} is not answering ({reason}); moved to {fallback}.",
                reason=reason.reason,
                **fields,
            )
            if reason
            else _("{provider} is not answering; moved to {fallback}.", **fields)
        )
        live.view = replace(live.view, provider=name, model=moved.model, note=note)
        return latest, moved
