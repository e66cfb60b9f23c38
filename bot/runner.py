"""The asyncio job runner: fair scheduling, provider calls, progress, delivery, settlement.

Every job ends through `Database.finish`, which settles the quota in the same statement as the
final state, and every path out of `_run` either finishes the job or leaves it active for the
next start to resume (only on shutdown). The message is always given a final edit before the
row is marked done, so a crash in between re-delivers the same edit rather than losing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import aiohttp
import discord.utils

from bot.config import Config
from bot.delivery import ImageFile, MessageTarget, Messenger, download_images
from bot.errors import DeliveryError, ProviderError
from bot.generation import GenerationRequest
from bot.jobs import JobSubmitter
from bot.progress import ProgressView, ThrottledEditor, render_progress, short_prompt
from bot.providers.base import GenerationResult, Provider
from db.database import JOB_ACTIVE_STATES, Database, JobRow

log = logging.getLogger(__name__)


class FairScheduler:
    """FIFO per user, round-robin across users, with global and per-user in-flight limits."""

    def __init__(self, global_limit: int, per_user_limit: int) -> None:
        self.global_limit = global_limit
        self.per_user_limit = per_user_limit
        self._waiting: OrderedDict[int, deque[int]] = OrderedDict()
        self._running: dict[int, int] = {}
        self.running_total = 0

    def push(self, user_id: int, job_id: int) -> None:
        self._waiting.setdefault(user_id, deque()).append(job_id)

    def pop_ready(self) -> tuple[int, int] | None:
        if self.running_total >= self.global_limit:
            return None
        for user_id in list(self._waiting):
            if self._running.get(user_id, 0) >= self.per_user_limit:
                continue
            queue = self._waiting[user_id]
            job_id = queue.popleft()
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
        return sum(len(q) for q in self._waiting.values())


@dataclass
class _Live:
    """In-memory companions of a job row while this process works on it."""

    job: JobRow
    editor: ThrottledEditor
    view: ProgressView
    shown_position: int | None = None


class JobRunner(JobSubmitter):
    def __init__(
        self,
        config: Config,
        db: Database,
        providers: Mapping[str, Provider],
        messenger: Messenger,
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._db = db
        self._providers = providers
        self._messenger = messenger
        self._session = session
        self._clock = clock
        gen = config.generation
        self._scheduler = FairScheduler(gen.max_concurrent_jobs, gen.max_jobs_per_user)
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: dict[int, _Live] = {}
        self._pending_loads: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.idle = asyncio.Event()
        self.idle.set()

    # -- intake ------------------------------------------------------------------------------

    def enqueue(self, job_id: int, user_id: int) -> None:
        if self._stopping:
            return
        self.idle.clear()
        self._scheduler.push(user_id, job_id)
        self._dispatch()
        if job_id in self._scheduler.positions():
            task = asyncio.create_task(self._load_waiting(job_id))
            self._pending_loads.add(task)
            task.add_done_callback(self._pending_loads.discard)

    async def _load_waiting(self, job_id: int) -> None:
        job = await self._db.get_job(job_id)
        if job is None or job.is_final or job_id in self._live:
            return
        self._live[job_id] = self._make_live(job)
        self._show_waiting_positions()

    async def resume_unfinished(self) -> int:
        """Queue every job a previous process left active; returns how many."""
        jobs = await self._db.jobs_in_states(JOB_ACTIVE_STATES)
        for job in jobs:
            self.enqueue(job.id, job.user_id)
        return len(jobs)

    def _dispatch(self) -> None:
        while (ready := self._scheduler.pop_ready()) is not None:
            user_id, job_id = ready
            task = asyncio.create_task(self._run_slot(user_id, job_id), name=f"job-{job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
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

    # -- one job -------------------------------------------------------------------------------

    async def _run_slot(self, user_id: int, job_id: int) -> None:
        try:
            await self._run(job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s crashed in the runner", job_id)
            with contextlib.suppress(Exception):
                await self._fail(job_id, "Something went wrong inside the bot.", retryable=True)
        finally:
            self._live.pop(job_id, None)
            self._scheduler.done(user_id)
            if not self._stopping:
                self._dispatch()

    def _target(self, job: JobRow) -> MessageTarget:
        return MessageTarget(
            application_id=job.application_id,
            interaction_token=job.interaction_token,
            interaction_created_at=job.interaction_created_at,
            message_id=job.message_id,
            channel_id=job.channel_id,
            user_id=job.user_id,
        )

    def _make_live(self, job: JobRow) -> _Live:
        target = self._target(job)
        request = GenerationRequest.from_json(job.inputs_json)
        editor = ThrottledEditor(
            lambda content: self._messenger.edit(target, content),
            self._config.generation.progress_interval_s,
        )
        view = ProgressView(
            prompt=request.prompt,
            provider=job.provider,
            model=job.model,
            count=job.image_count,
            started_at=job.interaction_created_at,
        )
        return _Live(job=job, editor=editor, view=view)

    async def _run(self, job_id: int) -> None:
        job = await self._db.get_job(job_id)
        if job is None or job.is_final:
            return
        target = self._target(job)
        request = GenerationRequest.from_json(job.inputs_json)
        live = self._live.get(job_id) or self._make_live(job)
        live.view = replace(live.view, phase="submitting", bot_queue_position=None)
        self._live[job_id] = live
        editor = live.editor
        provider = self._providers.get(job.provider)
        if provider is None:
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
            async with asyncio.timeout(deadline):
                result = await self._generate(job, request, provider, live)
                live.view = replace(live.view, phase="finishing")
                editor.update(render_progress(live.view))
                files = await download_images(
                    self._session,
                    result,
                    job_id=job.id,
                    per_file_limit=job.attachment_size_limit,
                )
        except TimeoutError:
            await editor.close()
            await self._expire(job_id, provider, deadline)
            return
        except (ProviderError, DeliveryError) as exc:
            await editor.close()
            retryable = exc.retryable
            what = (
                f"{exc.provider} could not make the images: {exc.reason}"
                if isinstance(exc, ProviderError)
                else f"The images were made but {exc}"
            )
            await self._fail(job_id, what, retryable=retryable)
            return

        await editor.close()
        await self._db.transition(job_id, JOB_ACTIVE_STATES, "delivering")
        content = render_result(job, request, result, elapsed_s=self._clock() - started)
        try:
            how = await self._messenger.finish(target, content, files)
        except Exception as exc:
            log.warning("job %s: the result could not be posted: %s", job_id, exc)
            await self._db.finish(
                job_id, "failed", error=f"could not post the result: {exc}", retryable=True
            )
            return
        await self._db.finish(
            job_id,
            "done",
            result={
                "seed": result.seed,
                "images": [image.url for image in result.images],
                "files": [f.filename for f in files],
                "inference_s": result.inference_s,
                "delivered_by": how,
            },
        )

    async def _generate(
        self, job: JobRow, request: GenerationRequest, provider: Provider, live: _Live
    ) -> GenerationResult:
        request_id = job.provider_request_id
        if request_id is None:
            live.editor.update(render_progress(live.view))
            request_id = await provider.submit(request)
            await self._db.mark_submitted(job.id, request_id)
        running = False
        async for update in provider.watch(job.model, request_id):
            if update.phase == "completed":
                if update.error:
                    raise ProviderError(provider.name, update.error, retryable=False)
                break
            if update.phase == "running" and not running:
                running = True
                await self._db.transition(job.id, ("submitted",), "running")
            live.view = replace(
                live.view,
                phase=update.phase,
                queue_position=update.queue_position,
                step=update.step,
                total_steps=update.total_steps,
            )
            live.editor.update(render_progress(live.view))
        return await provider.result(job.model, request_id)

    async def _expire(self, job_id: int, provider: Provider, deadline: float) -> None:
        job = await self._db.get_job(job_id)
        if job is not None and job.provider_request_id:
            try:
                async with asyncio.timeout(10):
                    await provider.cancel(job.model, job.provider_request_id)
            except Exception as exc:
                log.warning("job %s: cancel at %s failed: %s", job_id, provider.name, exc)
        reason = f"It took longer than the {deadline:g} s limit and was stopped."
        await self._end(job_id, "expired", reason, retryable=True)

    async def _fail(self, job_id: int, reason: str, *, retryable: bool) -> None:
        await self._end(job_id, "failed", reason, retryable=retryable)

    async def _end(self, job_id: int, state: str, reason: str, *, retryable: bool) -> None:
        """Final edit first, then the row (which refunds): the member is never left hanging."""
        job = await self._db.get_job(job_id)
        if job is None or job.is_final:
            return
        content = render_failure(job, reason, retryable=retryable)
        try:
            await self._messenger.finish(self._target(job), content)
        except Exception as exc:
            log.warning("job %s: the failure notice could not be posted: %s", job_id, exc)
        await self._db.finish(job_id, state, error=reason, retryable=retryable)

    # -- lifecycle -------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop taking work and cancel this process's tasks. Provider requests keep running and
        their rows stay active, so the next start resumes them instead of paying twice."""
        self._stopping = True
        tasks = list(self._tasks)
        for task in (*tasks, *self._pending_loads):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for live in list(self._live.values()):
            await live.editor.close(grace=0)

    async def wait_idle(self) -> None:
        await self.idle.wait()


def render_result(
    job: JobRow, request: GenerationRequest, result: GenerationResult, *, elapsed_s: float
) -> str:
    seed = f"seed {result.seed}" if result.seed is not None else "random seed"
    timing = f"{elapsed_s:.1f} s"
    if result.inference_s:
        timing += f" ({result.inference_s:.1f} s generating)"
    lines = [
        f"🎨 **{_escape(short_prompt(request.prompt, 900))}** — <@{job.user_id}>",
    ]
    if request.negative_prompt:
        lines.append(f"-# without: {_escape(short_prompt(request.negative_prompt, 300))}")
    lines.append(f"`{seed}` · {job.provider} · `{job.model}` · {timing} · job #{job.id}")
    return "\n".join(lines)


def render_failure(job: JobRow, reason: str, *, retryable: bool) -> str:
    request = GenerationRequest.from_json(job.inputs_json)
    advice = (
        "Trying again in a little while may help."
        if retryable
        else "Trying again with the same options will not help: change the prompt or options."
    )
    images = "image was" if job.image_count == 1 else f"{job.image_count} images were"
    return (
        f"❌ **Generation failed** — {_escape(short_prompt(request.prompt, 300))}\n"
        f"{reason}\n{advice}\n-# Your {images} refunded to your daily quota · job #{job.id}"
    )


def _escape(text: str) -> str:
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


__all__ = ["FairScheduler", "ImageFile", "JobRunner", "render_failure", "render_result"]
