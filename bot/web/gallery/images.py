"""`GET /img/{job_id}/{n}`: an image, served through the bot.

Discord signs its attachment URLs for about a day, so a page can't link to them: the bot reads
the message that carries the image (the gallery post's own copy, else the result message) for
a URL signed now and streams the bytes from Discord's CDN. The signed URL is kept for
`URL_KEPT_S` (well inside its day), and the browser keeps the image for `BROWSER_S`; whether
the viewer may see it is decided afresh on every request, so a deleted image stops at once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from bot.community.gallery import job_images
from bot.delivery.text import is_spoiler
from bot.web.gallery.site import Site

if TYPE_CHECKING:
    from db.jobs import JobRow

URL_KEPT_S = 3600.0
BROWSER_S = 300
MAX_KEPT = 2048
CHUNK = 64 * 1024


class Images:
    def __init__(self, site: Site) -> None:
        self._site = site
        self._urls: dict[tuple[int, int], tuple[float, str]] = {}

    async def serve(self, request: web.Request) -> web.StreamResponse:
        site = self._site
        try:
            job_id, n = int(request.match_info["job_id"]), int(request.match_info["n"]) - 1
        except ValueError:
            raise web.HTTPNotFound() from None
        job = await site.bot.db.jobs.get(job_id)
        viewer = site.sessions.viewer(request)
        if job is None or not await site.may_see(job, n, viewer):
            raise web.HTTPNotFound()
        url = await self._fresh_url(job, n)
        if url is None:
            raise web.HTTPNotFound()
        response = await self._stream(request, url)
        if response is None:  # the message or its copy went away meanwhile
            self._urls.pop((job.id, n), None)
            raise web.HTTPNotFound()
        return response

    async def _fresh_url(self, job: JobRow, n: int) -> str | None:
        kept = self._urls.get((job.id, n))
        if kept is not None and time.monotonic() - kept[0] < URL_KEPT_S:
            return kept[1]
        url = await self._read_url(job, n)
        if url is not None:
            if len(self._urls) >= MAX_KEPT:
                self._urls.clear()
            self._urls[(job.id, n)] = (time.monotonic(), url)
        return url

    async def _read_url(self, job: JobRow, n: int) -> str | None:
        messenger = self._site.bot.messenger
        share = await self._site.bot.db.community.share_of(job.id, n)
        if share is not None:
            post = await messenger.attachment_urls(share.channel_id, share.message_id, timeout_s=10)
            if post:
                return None if is_spoiler(post[0]) else post[0]
        assert job.result_message_id is not None  # shown(job)
        urls = await messenger.attachment_urls(job.channel_id, job.result_message_id, timeout_s=10)
        images = job_images(job, urls or ())
        if n >= len(images) or is_spoiler(images[n]):
            return None
        return images[n]

    async def _stream(self, request: web.Request, url: str) -> web.StreamResponse | None:
        try:
            async with self._site.bot.session.get(url) as upstream:
                if upstream.status != 200:
                    return None
                response = web.StreamResponse(
                    headers={
                        "Content-Type": upstream.headers.get("Content-Type", "image/png"),
                        "Cache-Control": f"private, max-age={BROWSER_S}",
                        "X-Content-Type-Options": "nosniff",
                    }
                )
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise web.HTTPBadGateway() from exc
