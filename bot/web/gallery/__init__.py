"""The web gallery (issue 17): a server's shared images, each image with its prompt and links
back to Discord, its family tree drawn as a picture, and a member's own images, which they can
delete, once signed in with Discord. Server-rendered HTML (Jinja2), no script, no build step.

`WebGallery(bot).routes()` is added to the bot's web server (bot/web/server.py) when
`[web] gallery = true`. What may be shown to whom is decided in `site.py`.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from bot.web.gallery.account import Account
from bot.web.gallery.images import Images
from bot.web.gallery.oauth import DiscordOAuth
from bot.web.gallery.pages import Pages
from bot.web.gallery.session import Sessions
from bot.web.gallery.site import Site

if TYPE_CHECKING:
    from bot.app import ArtFactoryBot

STYLESHEET = resources.files(__package__).joinpath("templates", "gallery.css").read_text("utf-8")


class WebGallery:
    def __init__(self, bot: ArtFactoryBot) -> None:
        config, secrets = bot.config.web, bot.config.secrets
        assert config.discord_client_id is not None and secrets.web_client_secret is not None
        session_secret = secrets.web_session_secret
        self.site = Site(bot, Sessions(session_secret.get() if session_secret else None))
        oauth = DiscordOAuth(
            bot.session,
            config.oauth_base,
            config.discord_client_id,
            secrets.web_client_secret.get(),
        )
        self._parts = (Pages(self.site), Account(self.site, oauth, config.public_url))
        self._images = Images(self.site)

    def routes(self) -> list[web.RouteDef]:
        routes = [
            web.get("/", self.home),
            web.get("/gallery.css", self.stylesheet),
            web.get("/img/{job_id:\\d+}/{n:\\d+}", self._images.serve),
        ]
        for part in self._parts:
            routes += part.routes()
        return routes

    async def home(self, request: web.Request) -> web.Response:
        viewer = self.site.sessions.viewer(request)
        raise web.HTTPFound("/me" if viewer else "/auth/login?next=/me")

    async def stylesheet(self, request: web.Request) -> web.Response:
        return web.Response(
            text=STYLESHEET,
            content_type="text/css",
            headers={"Cache-Control": "public, max-age=3600"},
        )
