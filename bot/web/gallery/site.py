"""What every page shares: the templates, who is looking, in which language, and the one rule
of what the web may show.

What the web shows (`shown`, `may_see`): finished results that are not private and not
deleted, and of those only images that were not flagged (a spoiler: the provider's safety
checker flagged it; a withheld image was never posted at all). To anyone but its author, only
images its author shared to the server's gallery (⭐), on a server whose moderators turned the
web gallery on: `public` for anyone, `members` for members signed in with Discord. The author
sees all their own on /me.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from bot.delivery.text import is_spoiler
from bot.i18n import _, using
from bot.jobs.model import JobState
from bot.web.gallery.session import Sessions, Viewer
from bot.web.gallery.texts import page_locale, page_texts
from db.jobs import JobRow

if TYPE_CHECKING:
    from bot.app import ArtFactoryBot


class Access(enum.Enum):
    OPEN = "open"
    OFF = "off"  # no web gallery: as if the page did not exist
    SIGN_IN = "sign in"
    MEMBERS_ONLY = "members only"  # signed in, but not a member


def shown(job: JobRow | None) -> bool:
    return (
        job is not None
        and job.state == JobState.DONE
        and not job.private
        and job.deleted_at is None
        and job.result_message_id is not None
    )


def shown_images(job: JobRow) -> list[int]:
    """The 0-based numbers of the job's images the web may show (not flagged)."""
    if not shown(job):
        return []
    urls = (job.result_json or {}).get("attachments") or []
    return [n for n, url in enumerate(urls) if not is_spoiler(str(url))]


class Site:
    def __init__(self, bot: ArtFactoryBot, sessions: Sessions) -> None:
        self.bot = bot
        self.sessions = sessions
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("bot.web.gallery", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,  # a misspelt name fails the test, not the page
        )
        self._names: dict[int, str] = {}

    async def access(self, guild_id: int, viewer: Viewer | None) -> Access:
        mode = (await self.bot.db.settings.guild(guild_id)).web_gallery
        if mode == "public":
            return Access.OPEN
        if mode != "members":
            return Access.OFF
        if viewer is None:
            return Access.SIGN_IN
        return Access.OPEN if guild_id in viewer.guilds else Access.MEMBERS_ONLY

    async def may_see(self, job: JobRow, n: int, viewer: Viewer | None) -> bool:
        if n not in shown_images(job):
            return False
        if viewer is not None and viewer.user_id == job.user_id:
            return True
        if job.guild_id is None or await self.bot.db.community.share_of(job.id, n) is None:
            return False
        return await self.access(job.guild_id, viewer) is Access.OPEN

    def render(
        self, request: web.Request, name: str, viewer: Viewer | None, status: int = 200, **ctx: Any
    ) -> web.Response:
        with using(page_locale(request, viewer)):
            page = self._templates.get_template(name).render(
                t=page_texts(), viewer=viewer, path=request.path_qs, **ctx
            )
        return web.Response(text=page, content_type="text/html", status=status)

    def refuse(self, request: web.Request, access: Access, viewer: Viewer | None) -> web.Response:
        """The answer to a page the viewer may not see: sign in first, or a short refusal."""
        if access is Access.SIGN_IN:
            raise web.HTTPFound(f"/auth/login?next={quote(request.path_qs, safe='')}")
        with using(page_locale(request, viewer)):
            if access is Access.MEMBERS_ONLY:
                text = _("Only members of this server can see its gallery.")
                return self.message(request, viewer, text, 403)
            return self.message(request, viewer, _("Not found."), 404)

    def message(
        self, request: web.Request, viewer: Viewer | None, text: str, status: int
    ) -> web.Response:
        return self.render(request, "message.html", viewer, status=status, text=text)

    def localised(self, request: web.Request, viewer: Viewer | None) -> Any:
        return using(page_locale(request, viewer))

    async def names(self, user_ids: set[int]) -> dict[int, str]:
        """Members' display names, from the cache or Discord (`GET /users/{id}`)."""
        for user_id in user_ids - set(self._names):
            user = self.bot.get_user(user_id)
            if user is None:
                try:
                    user = await self.bot.fetch_user(user_id)
                except Exception:  # a name is decoration: go without
                    continue
            if len(self._names) > 10_000:
                self._names.clear()
            self._names[user_id] = user.display_name
        return {u: self._names[u] for u in user_ids if u in self._names}
