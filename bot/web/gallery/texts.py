"""The web pages' words, in the viewer's language: the language they chose in /settings when
signed in, else the first of their browser's `Accept-Language` that the bot ships, else
English. The templates read them from `t` (Jinja has no `_` of the catalogue's)."""

from __future__ import annotations

from aiohttp import web

from bot.i18n import DEFAULT_LOCALE, _, chosen_locales, resolve
from bot.web.gallery.session import Viewer


def page_locale(request: web.Request, viewer: Viewer | None) -> str:
    chosen = chosen_locales.get(viewer.user_id) if viewer else None
    if chosen:
        return resolve(None, chosen)
    for code in _accepted(request.headers.get("Accept-Language", "")):
        found = resolve(code)
        if found != DEFAULT_LOCALE or code.lower().startswith("en"):
            return found
    return DEFAULT_LOCALE


def _accepted(header: str) -> list[str]:
    """The header's language codes, most wanted first ("fr-CH, fr;q=0.9, en;q=0.8")."""
    ranked = []
    for position, part in enumerate(header.split(",")):
        code, _sep, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if code and code != "*" and weight > 0:
            ranked.append((-weight, position, code.strip()))
    return [code for _w, _p, code in sorted(ranked)]


def page_texts() -> dict[str, str]:
    """Every fixed text of the pages, translated now (call it inside `using(locale)`)."""
    return {
        "newest": _("Newest"),
        "top": _("Top voted"),
        "next": _("Next page"),
        "previous": _("Previous page"),
        "empty": _("No shared images yet."),
        "prompt": _("Prompt"),
        "model": _("Model"),
        "seed": _("Seed"),
        "author": _("Made by"),
        "based_on": _("Based on"),
        "open": _("Open in Discord"),
        "vary": _("Vary in Discord"),
        "upscale": _("Upscale in Discord"),
        "remix": _("Remix in Discord"),
        "tree": _("Family tree"),
        "sign_in": _("Sign in with Discord"),
        "sign_out": _("Sign out"),
        "mine": _("My images"),
        "delete": _("Delete"),
        "none_mine": _("You have no images yet."),
    }
