"""How a job ends: its final message first, then the ledger row that settles its quota.

- Every job ends through `db.finish`, which settles the quota in the same statement as the
  final state: charged once on success, refunded once otherwise.
- The member's message gets its final edit before the row is marked: a crash in between
  repeats the same edit on the next start (harmless), and a member is never left hanging. A
  job whose message can't be posted at all still ends, refunded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import aiohttp

from bot.config import Config
from bot.delivery.downloads import ImageFile
from bot.delivery.messenger import Messenger
from bot.delivery.text import (
    dropped_notice,
    render_failure,
    render_prompts,
    render_result,
    video_link_notice,
    withheld_notice,
)
from bot.errors import DeliveryError
from bot.i18n import _
from bot.jobs.model import Advice, JobState, sources
from bot.jobs.outputs import Output, candidate_prompts
from bot.jobs.retry import RetryPolicy
from bot.moderation.gate import ModerationService
from bot.providers.base import GenerationResult, Provider
from bot.providers.request import GenerationRequest
from db.database import Database
from db.jobs import JobRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobDeps:
    """What running a job needs; built once by the runner and shared by its parts."""

    config: Config
    db: Database
    providers: Mapping[str, Provider]
    messenger: Messenger
    session: aiohttp.ClientSession
    retry: RetryPolicy
    clock: Callable[[], float]
    moderation: ModerationService | None = None
    owner: str | None = None  # this process among the ledger's (bot/jobs/leases.py)


class Settlement:
    def __init__(self, deps: JobDeps, on_finished: Callable[[JobRow], None] | None) -> None:
        self._deps = deps
        self._on_finished = on_finished

    # -- without a result --------------------------------------------------------------------

    async def end(
        self, job_id: int, state: JobState, reason: str, advice: Advice, *, by: int | None = None
    ) -> None:
        """Final notice first, then the row (which refunds). `by`: who cancelled."""
        db = self._deps.db
        job = await db.jobs.get(job_id)
        if job is None or job.is_final:
            return
        prompt = GenerationRequest.from_json(job.inputs_json).prompt
        content = render_failure(job, prompt, reason, advice)
        try:
            await self._deps.messenger.finish(job.id, job.origin, content, policy=self._deps.retry)
        except Exception as exc:
            log.warning("job %s: the final notice could not be posted: %s", job_id, exc)
        await db.jobs.finish(
            job_id, state, error=reason, retryable=advice.retryable, cancelled_by=by
        )
        await self._finished(job_id)

    async def fail(self, job_id: int, reason: str, *, retryable: bool) -> None:
        await self.end(job_id, JobState.FAILED, reason, Advice.of(retryable))

    async def cancelled(self, job_id: int, by_user_id: int) -> None:
        reason = _("🛑 Cancelled by <@{user}>.", user=by_user_id)
        await self.end(job_id, JobState.CANCELLED, reason, Advice.NONE, by=by_user_id)

    async def expire(self, job_id: int) -> None:
        job = await self._deps.db.jobs.get(job_id)
        if job is not None:
            await self.cancel_at_provider(job)
        limit = self._deps.config.generation.timeout_s(job.kind if job else "")
        reason = _("It took longer than the {limit:g} s limit and was stopped.", limit=limit)
        await self.end(job_id, JobState.EXPIRED, reason, Advice.MAY_HELP)

    async def cancel_at_provider(self, job: JobRow) -> None:
        provider = self._deps.providers.get(job.provider)
        if provider is None or not job.provider_request_id:
            return
        try:
            async with asyncio.timeout(10):
                await provider.cancel(job.model, job.provider_request_id)
        except Exception as exc:
            log.warning("job %s: cancel at %s failed: %s", job.id, job.provider, exc)

    # -- with a result -----------------------------------------------------------------------

    async def deliver(
        self, job: JobRow, result: GenerationResult, output: Output, elapsed_s: float
    ) -> None:
        """Post the result (minus what the safety checker withheld), then charge it. Images
        the provider dropped from its output are never charged: not in the quota, not in the
        cost."""
        db = self._deps.db
        if not await self._claim_delivery(job):
            return
        request = GenerationRequest.from_json(job.inputs_json)
        prompts = candidate_prompts(result.texts) if request.mode == "describe" else []
        if request.mode == "describe" and not prompts:
            await self.fail(job.id, _("The model could not describe this image."), retryable=True)
            return
        files, withheld, refund = await self._apply_safety(job, result, output.files)
        dropped = min(result.dropped, job.image_count)
        content = await self._content(job, request, result, output, prompts, elapsed_s)
        if withheld:
            content += "\n" + withheld_notice(withheld, charged=not refund)
        if dropped:
            content += "\n" + dropped_notice(dropped, job.image_count, job.provider)
        try:
            delivered = await self._deps.messenger.finish(
                job.id,
                job.origin,
                content,
                files,
                kind=job.kind,
                items=len(prompts) or len(files),
                policy=self._deps.retry,
            )
        except DeliveryError as exc:
            log.warning("job %s: the result could not be posted: %s", job.id, exc)
            reason = _(
                "The images were made but the bot could not post the result: {error}.", error=exc
            )
            await self.fail(job.id, reason, retryable=True)
            return
        await db.jobs.finish(
            job.id,
            JobState.DONE,
            result={
                "seed": result.seed,
                "images": [image.ledger_url for image in result.images],
                "files": [f.filename for f in files],
                "inference_s": result.inference_s,
                "delivered_by": delivered.how,
                "attachments": list(delivered.attachment_urls),
                **({"prompts": prompts} if prompts else {}),
                **({"video": output.video_url} if output.video_url else {}),
            },
            result_message_id=delivered.message_id,
            withheld_images=withheld + dropped,
            refunded_images=(withheld if refund else 0) + dropped,
            cost=_delivered_cost(job, dropped),
        )
        await self._finished(job.id)

    async def _claim_delivery(self, job: JobRow) -> bool:
        """The job moves to delivering here, unless another process took it over meanwhile
        (this one stalled past its lease)."""
        db, owner = self._deps.db, self._deps.owner
        delivering = await db.jobs.transition(
            job.id, sources(JobState.DELIVERING), JobState.DELIVERING, held_by=owner
        )
        if not delivering and owner is not None:
            holder = await db.leases.holder(job.id, self._deps.clock())
            if holder is not None and holder != owner:
                log.warning("job %s: %s took it over; not delivering it here", job.id, holder)
                return False
        return True

    async def _content(
        self,
        job: JobRow,
        request: GenerationRequest,
        result: GenerationResult,
        output: Output,
        prompts: list[str],
        elapsed_s: float,
    ) -> str:
        """The result message's text: a /describe's prompts, else the prompt and credits
        (every blended source's author), with a too-large clip's link."""
        if prompts:
            return render_prompts(job, prompts, elapsed_s=elapsed_s)
        db = self._deps.db
        parent = await db.jobs.get(job.parent_job_id) if job.parent_job_id else None
        blended = [row for row in [await db.jobs.get(i) for i in request.sources] if row]
        content = render_result(
            job, request, result, elapsed_s=elapsed_s, parent=parent, sources=blended
        )
        if output.video_url:
            content += "\n" + video_link_notice(
                output.video_url, output.video_bytes, job.attachment_size_limit
            )
        return content

    async def _apply_safety(
        self, job: JobRow, result: GenerationResult, files: list[ImageFile]
    ) -> tuple[list[ImageFile], int, bool]:
        """Images the provider's safety checker flagged never appear in a channel that is not
        age-restricted; in one that is, they are spoilered if the server allows it. Returns
        the files to post, how many were withheld, and whether those are refunded."""
        flagged = {i for i, image in enumerate(result.images) if image.nsfw}
        if not flagged:
            return files, 0, False
        moderation = self._deps.moderation
        settings = await moderation.settings(job.guild_id) if moderation else None
        spoilers = settings.nsfw_spoilers if settings else True
        charge = settings.charge_flagged if settings else True
        if job.channel_nsfw and spoilers:
            return [replace(f, spoiler=i in flagged) for i, f in enumerate(files)], 0, False
        kept = [f for i, f in enumerate(files) if i not in flagged]
        return kept, len(files) - len(kept), not charge

    async def _finished(self, job_id: int) -> None:
        if self._on_finished is None:
            return
        job = await self._deps.db.jobs.get(job_id)
        if job is not None:
            try:
                self._on_finished(job)
            except Exception:
                log.exception("on_finished hook failed for job %s", job_id)


def _delivered_cost(job: JobRow, dropped: int) -> float | None:
    """The job's estimated cost for the images it delivered, when the provider dropped some
    (None keeps the estimate reserved with the job)."""
    if not dropped or not job.cost or job.image_count <= 0:
        return None
    return job.cost * (job.image_count - dropped) / job.image_count
