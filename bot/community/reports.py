"""Reports: any member can flag a result for the moderators; moderators delete the image or
ban its author from generating, from the report itself.

The Discord side (posting to the mod channel, deleting messages) is the cog's; this module
decides what may happen, fetches the reported images for the report to carry, and keeps the
ledger (the job, its reports, bans) right.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.community.derive import Derivations
from bot.community.gallery import result_images
from bot.delivery.downloads import MAX_REQUEST_BYTES, ImageFile
from bot.delivery.text import credit, image_stem
from bot.errors import DeliveryError, Refused
from bot.i18n import _
from bot.providers.request import GenerationRequest
from db.database import Database
from db.jobs import JobRow

log = logging.getLogger(__name__)

MAX_REPORT_IMAGES = 4  # embeds sharing a url show as one grid of up to four images


@dataclass(frozen=True)
class ReportCase:
    job: JobRow
    reporter_id: int
    prompt: str
    image_urls: tuple[str, ...]
    lineage: str | None
    mod_channel_id: int


@dataclass(frozen=True)
class Removal:
    """What a moderator's delete has to take down on Discord."""

    job: JobRow
    result_message: tuple[int, int] | None  # (channel id, message id)


class ReportService:
    def __init__(self, db: Database, derivations: Derivations) -> None:
        self._db = db
        self._derivations = derivations

    async def _job(self, job_id: int, guild_id: int | None) -> JobRow:
        job = await self._db.jobs.get(job_id)
        if job is None or guild_id is None or job.guild_id != guild_id:
            raise Refused(_("That result does not belong to a job on this server."))
        return job

    async def open(
        self,
        job_id: int,
        *,
        guild_id: int | None,
        reporter_id: int,
        attachment_urls: Sequence[str] = (),
        message_id: int | None = None,
    ) -> ReportCase:
        """Record the member's report; raises `Refused` (nothing recorded) when it can't or
        needn't go to the moderators."""
        job = await self._job(job_id, guild_id)
        assert job.guild_id is not None
        if job.deleted_at is not None:
            raise Refused(_("That image has already been removed. Thank you for looking out."))
        if job.user_id == reporter_id:
            raise Refused(
                _("This is your own image: you can remove it yourself with the 🗑 button.")
            )
        settings = await self._db.settings.guild(job.guild_id)
        if settings.mod_channel_id is None:
            raise Refused(
                _(
                    "This server has no moderation channel set up, so reports can't be sent yet. "
                    "Please tell a moderator directly."
                )
            )
        if not await self._db.community.add_report(job.id, job.guild_id, reporter_id):
            raise Refused(
                _("You have already reported this image; the moderators have it. Thank you.")
            )
        parent = await self._db.jobs.get(job.parent_job_id) if job.parent_job_id else None
        return ReportCase(
            job=job,
            reporter_id=reporter_id,
            prompt=GenerationRequest.from_json(job.inputs_json).prompt,
            image_urls=tuple(result_images(job, attachment_urls, message_id)),
            lineage=credit(job, parent),
            mod_channel_id=settings.mod_channel_id,
        )

    async def images(self, case: ReportCase, *, limit: int) -> list[ImageFile]:
        """The reported images (up to four), downloaded now by the URLs Discord signed for this
        click, so the report carries its own copies (links to the result's attachments would
        stop working after about a day, and with the result once it is deleted). An image that
        can't be fetched is left out. `limit`: the report's per-file upload limit."""
        urls = case.image_urls[:MAX_REPORT_IMAGES]
        per_file = min(limit, MAX_REQUEST_BYTES // max(len(urls), 1))
        fetched = await asyncio.gather(
            *(
                self._derivations.posted_image(url, stem=image_stem(case.job.id, i), limit=per_file)
                for i, url in enumerate(urls)
            ),
            return_exceptions=True,
        )
        images = []
        for n, result in enumerate(fetched, 1):
            if isinstance(result, ImageFile):
                images.append(result)
            elif isinstance(result, DeliveryError):
                log.warning("image %s of reported job %s not fetched: %s", n, case.job.id, result)
            elif isinstance(result, Exception):  # the report goes out anyway
                log.error("image %s of reported job %s failed", n, case.job.id, exc_info=result)
            else:
                raise result
        return images

    async def withdraw(self, case: ReportCase) -> None:
        """The report could not be posted: forget it so the member can try again."""
        await self._db.community.remove_report(case.job.id, case.reporter_id)

    async def removal(self, job_id: int, guild_id: int | None) -> Removal:
        job = await self._job(job_id, guild_id)
        message_id = job.result_message_id or job.message_id
        return Removal(
            job=job,
            result_message=(job.channel_id, message_id) if message_id else None,
        )

    async def mark_removed(self, job: JobRow) -> None:
        await self._derivations.mark_deleted(job.id)

    async def ban_author(self, job_id: int, guild_id: int | None, moderator_id: int) -> JobRow:
        job = await self._job(job_id, guild_id)
        assert job.guild_id is not None
        await self._db.settings.ban(
            job.guild_id,
            job.user_id,
            reason=_("reported image #{id}", id=job.id),
            by=moderator_id,
            until=None,
        )
        return job

    async def state(self, job_id: int, guild_id: int | None, now: float) -> tuple[bool, bool]:
        """(the image was deleted, its author is banned now) — which mod buttons still apply."""
        job = await self._job(job_id, guild_id)
        assert job.guild_id is not None
        banned = await self._db.settings.active_ban(job.guild_id, job.user_id, now) is not None
        return job.deleted_at is not None, banned
