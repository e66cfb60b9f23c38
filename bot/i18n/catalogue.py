"""The message catalogues: gettext `.po` files read with Babel at start.

The `.po` files are the only form kept in the repository: they are what translators edit and
what a review can read, and reading them here means no compiled `.mo` can go stale and there is
no build step. All of them are read once, at start (`load_all`, from
`ArtFactoryBot.setup_hook`); a locale asked for before that is read on first use.

Read fast, so that start stays quick as languages are added (measured with ~660 messages:
~23 ms a language through Babel's `read_po` and `write_mo` into a `GNUTranslations`, 5 ms
this way): the comment lines (where a message is, notes for translators; half of `read_po`'s
time) are dropped before Babel parses the file, and the translations are looked up straight
from the parsed catalogue instead of being written to a `.mo` and read back (`write_mo` sorts
every message: the other half).
"""

from __future__ import annotations

import gettext
import logging
import time
from collections.abc import Callable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"

# Each translated locale (a `bot.i18n.LANGUAGES` key) and its catalogue's folder (a gettext
# locale name). English is the source language: it has no catalogue.
CATALOGUES: dict[str, str] = {
    "de": "de",
    "es-ES": "es",
    "fr": "fr",
    "ja": "ja",
    "pt-BR": "pt_BR",
}

_loaded: dict[str, Translations] = {}


class Translations(gettext.NullTranslations):
    """One language's translated messages, with gettext's `gettext` and `ngettext`. A message
    that is untranslated (or fuzzy) here shows its English."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self._plural: Callable[[int], int] = gettext.c2py(catalog.plural_expr)
        self._singles: dict[str, str] = {}
        self._forms: dict[str, tuple[str, ...]] = {}
        for message in catalog:
            if not message.id or message.fuzzy or not message.string:
                continue
            if isinstance(message.id, str) and isinstance(message.string, str):
                self._singles[message.id] = message.string
            elif not isinstance(message.id, str):
                self._forms[message.id[0]] = tuple(message.string)

    def gettext(self, message: str) -> str:
        return self._singles.get(message, message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        forms = self._forms.get(msgid1, ())
        index = self._plural(n)
        if index < len(forms) and forms[index]:
            return forms[index]
        return msgid1 if n == 1 else msgid2

    def translated(self, message: str) -> str | None:
        """The translation of a message, None when it has none."""
        return self._singles.get(message)


def po_path(name: str) -> Path:
    """The `.po` file of a catalogue (`de`, `pt_BR`)."""
    return LOCALES_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_po(path: Path) -> Translations:
    """A `.po` file's translations (comments dropped unread, but for `#,` flags: fuzzy)."""
    with path.open("rb") as source:
        lines = [line for line in source if line[:1] != b"#" or line[:2] == b"#,"]
    return Translations(read_po(lines, domain=DOMAIN))


def for_locale(locale: str | None) -> Translations | None:
    """The translations of a shipped locale (None: English, the catalogues' own language)."""
    if locale is None:
        return None
    translations = _loaded.get(locale)
    if translations is None:
        name = CATALOGUES.get(locale)
        if name is None:
            return None
        translations = _loaded[locale] = compile_po(po_path(name))
    return translations


def load_all() -> float:
    """Read every catalogue now (at start, not in the middle of someone's answer); returns
    the seconds it took."""
    started = time.perf_counter()
    for locale in CATALOGUES:
        for_locale(locale)
    took = time.perf_counter() - started
    log.info("message catalogues: %d read in %.0f ms", len(CATALOGUES), took * 1000)
    return took


def forget() -> None:
    """Drop the compiled catalogues (tests that rewrite a `.po`; extraction)."""
    _loaded.clear()
