"""A server's gallery (`/g/{guild_id}`), an image (`/g/{guild_id}/image/{job_id}/{n}`) and an
image's family tree (`/g/{guild_id}/lineage/{job_id}`): server-rendered, no script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from bot.delivery.text import kind_name, message_link
from bot.i18n import n_
from bot.providers.request import GenerationRequest
from bot.web.gallery.session import Viewer
from bot.web.gallery.site import Access, Site, shown, shown_images
from bot.web.gallery.tree import layout
from db.community import Share
from db.jobs import JobRow

PAGE = 24


@dataclass(frozen=True)
class Tile:
    """A thumbnail in a list: the image and the page it opens."""

    job: JobRow
    n: int  # 1-based, as in the ⭐ button and the URLs
    href: str
    votes: str = ""

    @property
    def src(self) -> str:
        return f"/img/{self.job.id}/{self.n}"


class Pages:
    def __init__(self, site: Site) -> None:
        self._site = site

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/g/{guild_id:\\d+}", self.gallery),
            web.get("/g/{guild_id:\\d+}/image/{job_id:\\d+}/{n:\\d+}", self.image),
            web.get("/g/{guild_id:\\d+}/lineage/{job_id:\\d+}", self.lineage),
        ]

    async def gallery(self, request: web.Request) -> web.Response:
        site = self._site
        guild_id = int(request.match_info["guild_id"])
        viewer = site.sessions.viewer(request)
        access = await site.access(guild_id, viewer)
        if access is not Access.OPEN:
            return site.refuse(request, access, viewer)
        order: Literal["new", "top"] = "top" if request.query.get("order") == "top" else "new"
        page = page_number(request)
        shares = await site.bot.db.gallery.shares(guild_id, order, PAGE + 1, (page - 1) * PAGE)
        tiles = []
        with site.localised(request, viewer):
            for share in shares[:PAGE]:
                job = await site.bot.db.jobs.get(share.job_id)
                if job is not None and share.image in shown_images(job):
                    tiles.append(_tile(guild_id, job, share))
        guild = site.bot.get_guild(guild_id)
        return site.render(
            request,
            "gallery.html",
            viewer,
            guild_id=guild_id,
            server=guild.name if guild else str(guild_id),
            tiles=tiles,
            order=order,
            page=page,
            more=len(shares) > PAGE,
        )

    async def image(self, request: web.Request) -> web.Response:
        site = self._site
        guild_id, job_id = int(request.match_info["guild_id"]), int(request.match_info["job_id"])
        n = int(request.match_info["n"])
        viewer = site.sessions.viewer(request)
        job = await site.bot.db.jobs.get(job_id)
        if job is None or job.guild_id != guild_id:
            return site.refuse(request, Access.OFF, viewer)
        access = await site.access(guild_id, viewer)
        if access is not Access.OPEN and (viewer is None or viewer.user_id != job.user_id):
            return site.refuse(request, access, viewer)
        if not await site.may_see(job, n - 1, viewer):
            return site.refuse(request, Access.OFF, viewer)
        parent = await site.bot.db.jobs.get(job.parent_job_id) if job.parent_job_id else None
        names = await site.names({job.user_id} | ({parent.user_id} if parent else set()))
        share = await site.bot.db.community.share_of(job.id, n - 1)
        result = message_link(job.guild_id, job.channel_id, job.result_message_id or 0)
        with site.localised(request, viewer):
            kind = kind_name(job.kind)
        return site.render(
            request,
            "image.html",
            viewer,
            guild_id=guild_id,
            job=job,
            n=n,
            src=f"/img/{job.id}/{n}",
            prompt=GenerationRequest.from_json(job.inputs_json).prompt,
            seed=(job.result_json or {}).get("seed"),
            author=names.get(job.user_id, str(job.user_id)),
            kind=kind,
            parent=parent if shown(parent) else None,
            parent_author=names.get(parent.user_id, "") if parent else "",
            result_link=result,
            post_link=message_link(share.guild_id, share.channel_id, share.message_id)
            if share
            else None,
        )

    async def lineage(self, request: web.Request) -> web.Response:
        site = self._site
        guild_id, job_id = int(request.match_info["guild_id"]), int(request.match_info["job_id"])
        viewer = site.sessions.viewer(request)
        access = await site.access(guild_id, viewer)
        if access is not Access.OPEN:
            return site.refuse(request, access, viewer)
        job = await site.bot.db.jobs.get(job_id)
        if job is None or job.guild_id != guild_id or not shown(job):
            return site.refuse(request, Access.OFF, viewer)
        family = await site.bot.lineage.lineage(job)
        chain = [j for j in family.chain if shown(j) and j.guild_id == guild_id]
        below = [
            j
            for j in await site.bot.lineage.descendants(job)
            if shown(j) and j.guild_id == guild_id
        ]
        images = {j.id: await self._thumbnail(j, viewer) for j in [*chain, *below]}
        tree = layout(chain, below, images, job.id)
        return site.render(request, "lineage.html", viewer, guild_id=guild_id, job=job, tree=tree)

    async def _thumbnail(self, job: JobRow, viewer: Viewer | None) -> int | None:
        """The first of the job's images this viewer may see (1-based), if any."""
        for n in shown_images(job):
            if await self._site.may_see(job, n, viewer):
                return n + 1
        return None


def page_number(request: web.Request) -> int:
    text = request.query.get("page", "1")
    return max(int(text), 1) if text.isdigit() and len(text) < 6 else 1


def _tile(guild_id: int, job: JobRow, share: Share) -> Tile:
    n = share.image + 1
    return Tile(
        job=job,
        n=n,
        href=f"/g/{guild_id}/image/{job.id}/{n}",
        votes=n_("{n} vote", "{n} votes", share.votes),
    )
