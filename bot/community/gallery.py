"""The server's gallery: members share their own results to the gallery channel, others vote
with ⭐ reactions, and `/gallery top` lists the most voted shares of a period.

Each image of a result is shared on its own (the ⭐ button per image), so votes, the "already
shared" check and `/gallery top` are per image. The Discord posting is the cog's; this module
decides what may be shared, fetches the image for the post to carry as its own file (Discord's
attachment URLs expire after about a day, so a post must not link to the result's), and records
the share.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.community.derive import Derivations
from bot.delivery.downloads import ImageFile
from bot.delivery.text import credit, image_of, image_stem, is_spoiler, message_link
from bot.errors import DeliveryError, Refused
from bot.i18n import _
from bot.providers.request import GenerationRequest
from db.community import Share
from db.database import Database
from db.jobs import JobRow

log = logging.getLogger(__name__)

STAR = "⭐"
PERIODS = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400}


def job_images(job: JobRow, attachment_urls: Sequence[str]) -> list[str]:
    """Those of a message's attachment URLs that are this job's images, in order."""
    return [u for u in attachment_urls if (image_of(u) or (0, 0))[0] == job.id]


def result_images(
    job: JobRow, attachment_urls: Sequence[str] = (), message_id: int | None = None
) -> list[str]:
    """The result's image URLs in order: the clicked result message's own attachments (fresh
    Discord URLs) when they are this job's images, else the ones recorded at delivery (which
    Discord stops serving about a day after delivery)."""
    fresh = job_images(job, attachment_urls)
    if fresh and message_id is not None and message_id == job.result_message_id:
        return fresh
    return [str(u) for u in (job.result_json or {}).get("attachments") or []]


def has_images(job: JobRow) -> bool:
    """The job delivered images that are still up (its result message is worth fetching)."""
    return bool((job.result_json or {}).get("attachments")) and job.deleted_at is None


@dataclass(frozen=True)
class ShareDraft:
    job: JobRow
    index: int  # 0-based, among the result's posted images
    image_url: str
    prompt: str
    lineage: str | None
    channel_id: int  # the gallery channel


@dataclass(frozen=True)
class TopEntry:
    """A gallery post for `/gallery top`. Its thumbnail is the post's own attachment, read by
    the Discord layer when it renders the list (attachment URLs expire, so none is kept)."""

    share: Share
    job: JobRow
    prompt: str

    @property
    def link(self) -> str:
        return message_link(self.share.guild_id, self.share.channel_id, self.share.message_id)

    def thumbnail(self, post_urls: Sequence[str]) -> str | None:
        """The image among the gallery post's attachment URLs (fresh from Discord)."""
        return post_urls[0] if post_urls else None

    def result_thumbnail(self, result_urls: Sequence[str]) -> str | None:
        """For a post that carries no image of its own (shared before posts owned their
        images), the image among the result message's attachment URLs (fresh from Discord)."""
        images = job_images(self.job, result_urls)
        return images[self.share.image] if self.share.image < len(images) else None


class GalleryService:
    def __init__(self, db: Database, derivations: Derivations) -> None:
        self._db = db
        self._derivations = derivations

    async def draft(
        self,
        job_id: int,
        index: int,
        *,
        guild_id: int | None,
        user_id: int,
        attachment_urls: Sequence[str] = (),
        message_id: int | None = None,
    ) -> ShareDraft:
        """Check that this member may share image `index` of the job now; raises `Refusal`
        with the reason otherwise."""
        job = await self._derivations.parent_for(job_id, guild_id, index)
        assert job.guild_id is not None
        if job.user_id != user_id:
            raise Refused(
                _(
                    "Only <@{user}>, who made this image, can share it to the gallery.",
                    user=job.user_id,
                )
            )
        if job.private:
            raise Refused(
                _(
                    "This result is private, so it stays out of the gallery: make it again "
                    "without private to share it."
                )
            )
        settings = await self._db.settings.guild(job.guild_id)
        if settings.gallery_channel_id is None:
            raise Refused(
                _(
                    "This server has no gallery channel yet. A moderator can choose one with "
                    "/admin settings server gallery_channel:#channel."
                )
            )
        existing = await self._db.community.share_of(job.id, index)
        if existing is not None:
            link = message_link(existing.guild_id, existing.channel_id, existing.message_id)
            raise Refused(_("This image is already in the gallery: {link}", link=link))
        urls = result_images(job, attachment_urls, message_id)
        if index >= len(urls):
            raise Refused(_("That image is no longer available on Discord."))
        if is_spoiler(urls[index]):
            raise Refused(
                _(
                    "This image was flagged by the provider's safety checker, so it can't be "
                    "shared to the gallery."
                )
            )
        parent = await self._db.jobs.get(job.parent_job_id) if job.parent_job_id else None
        return ShareDraft(
            job=job,
            index=index,
            image_url=urls[index],
            prompt=GenerationRequest.from_json(job.inputs_json).prompt,
            lineage=credit(job, parent),
            channel_id=settings.gallery_channel_id,
        )

    async def image(self, draft: ShareDraft, *, limit: int) -> ImageFile:
        """The shared image, downloaded now by the URL Discord signed for this click, so the
        gallery post carries its own copy (a link to the result's attachment would stop
        working after about a day). `limit`: the post's per-file upload limit."""
        try:
            return await self._derivations.posted_image(
                draft.image_url, stem=image_stem(draft.job.id, draft.index), limit=limit
            )
        except DeliveryError as exc:
            log.warning(
                "image %s of job %s could not be fetched: %s", draft.index + 1, draft.job.id, exc
            )
            raise Refused(
                _("I couldn't fetch that image from Discord just now. Please try again.")
            ) from exc

    async def record(self, draft: ShareDraft, message_id: int, now: float | None = None) -> bool:
        """Record the gallery post; False when the image was shared meanwhile."""
        assert draft.job.guild_id is not None
        return await self._db.community.add_share(
            Share(
                message_id=message_id,
                guild_id=draft.job.guild_id,
                channel_id=draft.channel_id,
                job_id=draft.job.id,
                image=draft.index,
                user_id=draft.job.user_id,
                votes=0,
                created_at=time.time() if now is None else now,
            )
        )

    async def vote(self, message_id: int, delta: int) -> bool:
        """Count a ⭐ added (+1) or removed (-1) on a gallery post; False for other messages."""
        return await self._db.community.add_vote(message_id, delta)

    async def shares_of_job(self, job_id: int) -> list[Share]:
        return await self._db.community.shares_of_job(job_id)

    async def top(
        self, guild_id: int, period: str, *, limit: int = 10, now: float | None = None
    ) -> list[TopEntry]:
        since = (time.time() if now is None else now) - PERIODS[period]
        entries = []
        for share in await self._db.community.top_shares(guild_id, since, limit):
            job = await self._db.jobs.get(share.job_id)
            if job is None:
                continue
            entries.append(
                TopEntry(
                    share=share,
                    job=job,
                    prompt=GenerationRequest.from_json(job.inputs_json).prompt,
                )
            )
        return entries
