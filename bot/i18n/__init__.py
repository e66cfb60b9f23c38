"""The bot's words in the member's language.

Every text a member reads goes through `_` (or `n_` when it counts something): the English
text is the catalogue's key, translated into the locale of the interaction being answered and
then filled with `str.format` fields, so a translation may move the fields around. The locale
lives in a context variable: set once where an interaction enters the bot (bot/i18n/gateway.py,
from the INTERACTION_CREATE payload) and where a job is run for it (the runner, from the job's
stored locale), it follows every `await` and every task started from there, so the core never
passes it around. Operators' texts (config errors, logs, the CLI) stay English.

The catalogues are gettext `.po` files in `bot/i18n/locales/` (bot/i18n/catalogue.py), made
and updated from the code by `python -m bot.i18n.extract`; command descriptions are localised
for Discord's client by bot/i18n/commands.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

from bot.i18n import catalogue

log = logging.getLogger(__name__)

DEFAULT_LOCALE = "en-US"
# The shipped languages by their Discord locale code, named in their own language (the
# /settings language select shows these).
LANGUAGES: Mapping[str, str] = {
    "en-US": "English",
    "de": "Deutsch",
    "es-ES": "Español",
    "fr": "Français",
    "ja": "日本語",
    "pt-BR": "Português (Brasil)",
}
# Any other code of a shipped language (`es-419`, `en-GB`, `de-AT`) answers in that language.
_BY_LANGUAGE = {code.split("-")[0].lower(): code for code in LANGUAGES}

# User id -> the language the member chose in /settings (a `LANGUAGES` key); it beats the
# language of their Discord client. Filled from the ledger at start and when a member saves it.
chosen_locales: dict[int, str] = {}

_locale: ContextVar[str] = ContextVar("locale", default=DEFAULT_LOCALE)


def current_locale() -> str:
    return _locale.get()


def set_locale(locale: str | None) -> None:
    """The locale for the rest of this task (an interaction's handler, a job's run)."""
    _locale.set(locale or DEFAULT_LOCALE)


@contextmanager
def using(locale: str | None) -> Iterator[None]:
    token = _locale.set(locale or DEFAULT_LOCALE)
    try:
        yield
    finally:
        _locale.reset(token)


@lru_cache(maxsize=512)  # Discord's ~30 locales, plus whatever a forged payload names
def _shipped(code: str | None) -> str | None:
    """The shipped locale for a code (`es-419` -> `es-ES`, `pt_BR` -> `pt-BR`), or None."""
    if not code:
        return None
    normal = code.strip().replace("_", "-").lower()
    for shipped in LANGUAGES:
        if shipped.lower() == normal:
            return shipped
    return _BY_LANGUAGE.get(normal.split("-")[0])


def resolve(discord_locale: str | None, chosen: str | None = None) -> str:
    """The shipped locale to answer in: the member's /settings language when it is one we
    ship, else their client's language when we ship it, else English."""
    return _shipped(chosen) or _shipped(discord_locale) or DEFAULT_LOCALE


def N_(message: str) -> str:
    """Marks a constant for the catalogue; it is translated where it is shown, with `_`."""
    return message


def _(message: str, /, **fields: object) -> str:
    """`message` in the current locale, its `{fields}` filled."""
    translations = catalogue.for_locale(_shipped(_locale.get()))
    text = message if translations is None else translations.gettext(message)
    return _fill(text, message, fields) if fields else text


def n_(singular: str, plural: str, n: int, /, **fields: object) -> str:
    """The form for `n` in the current locale; `{n}` is filled with `n`."""
    translations = catalogue.for_locale(_shipped(_locale.get()))
    english = singular if n == 1 else plural
    text = english if translations is None else translations.ngettext(singular, plural, n)
    return _fill(text, english, {"n": n, **fields})


def _fill(text: str, english: str, fields: Mapping[str, object]) -> str:
    """A translation whose fields don't match its English (a slip the catalogue test should
    have caught) falls back to the English rather than failing the member's answer."""
    try:
        return text.format(**fields)
    except (KeyError, IndexError, ValueError):
        if text is english:
            raise
        log.warning("translation of %r does not fill its fields; English used", english)
        return english.format(**fields)
