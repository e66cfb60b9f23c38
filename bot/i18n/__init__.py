"""The bot's words in the member's language.

Every text a member reads goes through `_` (or `n_` when it counts something): the English
text is the catalogue's key, translated into the locale of the interaction being answered and
then filled with `str.format` fields, so a translation may move the fields around. The locale
lives in a context variable: set once where an interaction enters the bot (and where a job is
run for it), it follows every `await` in that task, so the core never passes it around.
Operators' texts (config errors, logs, the CLI) stay English.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

DEFAULT_LOCALE = "en-US"
# The shipped languages (Discord's locale codes), named in their own language.
LANGUAGES = {
    "en-US": "English",
    "de": "Deutsch",
    "es-ES": "Español",
    "fr": "Français",
    "ja": "日本語",
    "pt-BR": "Português (Brasil)",
}
# Members' /settings language, by user id: filled from the ledger at start and on each save.
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


def N_(message: str) -> str:
    """Marks a constant for the catalogue; it is translated where it is shown, with `_`."""
    return message


def _(message: str, /, **fields: object) -> str:
    """`message` in the current locale, its `{fields}` filled."""
    return message.format(**fields) if fields else message


def n_(singular: str, plural: str, n: int, /, **fields: object) -> str:
    """The form for `n` in the current locale; `{n}` is filled with `n`."""
    return (singular if n == 1 else plural).format(n=n, **fields)
