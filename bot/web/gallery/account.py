"""A member's own side of the web gallery: signing in with Discord (`/auth/login`,
`/auth/callback`, `/auth/logout`), their results across servers (`/me`) and deleting one
(`POST /me/delete/{job_id}`), which does what the 🗑 button under the result does."""

from __future__ import annotations

import logging
import secrets

import discord
from aiohttp import web

from bot.i18n import _
from bot.web.gallery.oauth import DiscordOAuth, SignInFailed
from bot.web.gallery.pages import PAGE, Tile, page_number
from bot.web.gallery.session import Viewer, safe_next
from bot.web.gallery.site import Site, shown_images
from db.jobs import JobRow

log = logging.getLogger(__name__)


class Account:
    def __init__(self, site: Site, oauth: DiscordOAuth, public_url: str | None) -> None:
        self._site = site
        self._oauth = oauth
        self._public_url = public_url.rstrip("/") if public_url else None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/auth/login", self.login),
            web.get("/auth/callback", self.callback),
            web.post("/auth/logout", self.logout),
            web.get("/me", self.me),
            web.post("/me/delete/{job_id:\\d+}", self.delete),
        ]

    def _redirect_uri(self, request: web.Request) -> str:
        """Where Discord sends the member back: it must be registered with the application
        exactly, so `[web] public_url` behind a proxy."""
        base = self._public_url or f"{request.scheme}://{request.host}"
        return f"{base}/auth/callback"

    async def login(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(status=302)
        state = self._site.sessions.begin(response, safe_next(request.query.get("next")))
        response.headers["Location"] = self._oauth.authorize_url(self._redirect_uri(request), state)
        return response

    async def callback(self, request: web.Request) -> web.StreamResponse:
        site = self._site
        response = web.Response(status=302)
        next_path = site.sessions.finish(request, response)
        code = request.query.get("code")
        if next_path is None or not code:
            return self._failed(request, "the state did not match this browser's")
        try:
            member = await self._oauth.sign_in(code, self._redirect_uri(request))
        except SignInFailed as exc:
            return self._failed(request, str(exc))
        known = {g for g in member.guilds if site.bot.get_guild(g) is not None}
        site.sessions.sign_in(response, member.user_id, member.name, known)
        response.headers["Location"] = next_path
        return response

    def _failed(self, request: web.Request, why: str) -> web.Response:
        log.info("web sign-in refused: %s", why)
        with self._site.localised(request, None):
            text = _("Signing in with Discord did not work. Please try again.")
        response = self._site.message(request, None, text, 400)
        response.del_cookie("af_oauth_state", path="/")
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        viewer = await self._checked(request)
        response = web.Response(status=303, headers={"Location": "/"})
        if viewer is not None:
            self._site.sessions.sign_out(response)
        return response

    async def me(self, request: web.Request) -> web.Response:
        site = self._site
        viewer = site.sessions.viewer(request)
        if viewer is None:
            raise web.HTTPFound("/auth/login?next=/me")
        page = page_number(request)
        jobs = await site.bot.db.gallery.member_results(viewer.user_id, PAGE + 1, (page - 1) * PAGE)
        results = [(job, [_own_tile(job, n) for n in shown_images(job)]) for job in jobs[:PAGE]]
        return site.render(
            request, "me.html", viewer, results=results, page=page, more=len(jobs) > PAGE
        )

    async def delete(self, request: web.Request) -> web.StreamResponse:
        site = self._site
        viewer = await self._checked(request)
        if viewer is None:
            with site.localised(request, None):
                text = _("This page has expired. Please go back and try again.")
            return site.message(request, None, text, 403)
        job = await site.bot.db.jobs.get(int(request.match_info["job_id"]))
        if job is None or job.user_id != viewer.user_id or job.deleted_at is not None:
            raise web.HTTPNotFound()
        await _delete_result(site, job.id, job.channel_id, job.result_message_id)
        raise web.HTTPSeeOther("/me")

    async def _checked(self, request: web.Request) -> Viewer | None:
        """The viewer of a form post that carries their session's token (a post from another
        site can't: it never saw the page)."""
        viewer = self._site.sessions.viewer(request)
        form = await request.post()
        token = str(form.get("csrf", ""))
        if viewer is None or not secrets.compare_digest(token, viewer.csrf):
            return None
        return viewer


def _own_tile(job: JobRow, n: int) -> Tile:
    href = f"/g/{job.guild_id}/image/{job.id}/{n + 1}" if job.guild_id else f"/img/{job.id}/{n + 1}"
    return Tile(job=job, n=n + 1, href=href)


async def _delete_result(site: Site, job_id: int, channel_id: int, message_id: int | None) -> None:
    """As the 🗑 button: the result message, its gallery posts, then the job marked deleted."""
    http = site.bot.http
    posts = [(s.channel_id, s.message_id) for s in await site.bot.gallery.shares_of_job(job_id)]
    for channel, message in [(channel_id, message_id), *posts]:
        if message is None:
            continue
        try:
            await http.delete_message(channel, message, reason="deleted on the web gallery")
        except discord.HTTPException as exc:
            if exc.status != 404:  # already gone is as good
                log.warning("message %s of job %s not deleted: %s", message, job_id, exc)
    await site.bot.derive.mark_deleted(job_id)
