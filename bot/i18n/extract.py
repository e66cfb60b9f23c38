"""`python -m bot.i18n.extract`: the message catalogues, brought up to date with the code.

Run it after adding or changing a text a member reads. It writes
`bot/i18n/locales/messages.pot` (the template: every message, no translation) from

- every `_("…")`, `n_("…", "…", n)` and `N_("…")` in `bot/` and `cogs/` (Babel's Python
  extractor; a `# i18n: …` comment just above a call is passed on to translators), and
- every command string Discord's client shows translated (bot/i18n/commands.py): the cogs are
  loaded into a bot with no services and the tree is walked as a sync would walk it,

then updates each language's `bot/i18n/locales/<lang>/LC_MESSAGES/messages.po`: new messages
are added untranslated, translations of unchanged messages are kept, and messages no longer in
the code are dropped. Translate by filling the `msgstr`s (keep every `{field}` as it is);
tests/bot/i18n/ fails while a message is missing or untranslated, or a translation's fields
differ from the English ones. The bot reads the `.po` files directly: there is nothing to
compile.
"""

from __future__ import annotations

import asyncio
import datetime
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from discord import app_commands
from discord.app_commands import TranslationContextTypes, locale_str
from discord.ext import commands

from bot.i18n import catalogue
from bot.i18n.commands import length_limit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "cogs")
KEYWORDS: dict[str, Any] = {"_": None, "n_": (1, 2), "N_": None}
# A fixed date: the files change only when their messages do.
DATED = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

Message = str | tuple[str, str]  # a plural is (singular, plural)
Found = tuple[Message, str, list[str]]  # the message, where it is (a file), notes


def code_messages() -> Iterator[Found]:
    """Every `_`, `n_` and `N_` message with a literal text in `bot/` and `cogs/`."""
    for package in SOURCES:
        for filename, _line, message, comments, _context in extract_from_dir(
            ROOT / package,
            keywords=KEYWORDS,
            comment_tags=("i18n:",),
            strip_comment_tags=True,
        ):
            if isinstance(message, tuple):
                if all(message):
                    yield (message[0], message[1]), f"{package}/{filename}", list(comments)
            elif message:
                yield message, f"{package}/{filename}", list(comments)


class _Recorder(app_commands.Translator):
    """Notes each string the real translator would be asked to translate."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}  # message -> what it is, for translators
        self.module = ""

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: TranslationContextTypes
    ) -> str | None:
        wordy = any(c.isalpha() for c in string.message)  # not "…", an undescribed option's
        english = locale is discord.Locale.american_english
        if english and wordy and length_limit(string, context):
            self.found.setdefault(string.message, _where(context))

        return None


def _where(context: TranslationContextTypes) -> str:
    data: Any = context.data
    where = context.location.name.replace("_", " ")
    if isinstance(data, app_commands.ContextMenu):
        return f"the Apps menu command {data.name!r}"
    if isinstance(data, app_commands.Command | app_commands.Group):
        return f"{where} of /{data.qualified_name}"
    if isinstance(data, app_commands.Parameter):
        return f"{where} of /{data.command.qualified_name} {data.name}"
    return where


async def command_messages() -> list[Found]:
    """The command strings Discord's client shows translated, from the cogs themselves."""
    from bot.app import EXTENSIONS, ArtFactoryBot

    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none(), help_command=None)
    for service in ArtFactoryBot.__annotations__:  # cogs keep references; nothing is called
        setattr(bot, service, None)
    bot.config = None  # type: ignore[attr-defined]
    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    recorder = _Recorder()
    found: list[Found] = []
    for command in bot.tree.get_commands(type=None):
        recorder.found.clear()
        await command.get_translated_payload(bot.tree, recorder)
        module = (command.module or "").replace(".", "/") + ".py"
        found += [(message, module, [note]) for message, note in recorder.found.items()]
    return found


def template(found: list[Found]) -> Catalog:
    """The `.pot`: every message once, with the files it is in and its notes."""
    pot = Catalog(
        domain=catalogue.DOMAIN,
        project="Art Factory",
        charset="utf-8",
        creation_date=DATED,
        revision_date=DATED,
        fuzzy=False,
    )
    for message, where, notes in found:
        pot.add(message, None, locations=[(where, 0)], auto_comments=notes)  # no line numbers
    return pot


def write(path: Path, po: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, po, width=100, sort_by_file=True, ignore_obsolete=True, include_lineno=False)


def update(pot: Catalog, name: str) -> Catalog:
    """A language's catalogue brought up to `pot`, keeping its translations."""
    path = catalogue.po_path(name)
    if path.exists():
        with path.open("rb") as source:
            po = read_po(source, locale=name, domain=catalogue.DOMAIN)
    else:
        po = Catalog(locale=name, domain=catalogue.DOMAIN, project="Art Factory", fuzzy=False)
    po.update(pot, no_fuzzy_matching=True, update_creation_date=False)
    po.creation_date = po.revision_date = DATED
    return po


def main() -> int:
    found = [*code_messages(), *asyncio.run(command_messages())]
    pot = template(found)
    write(catalogue.TEMPLATE, pot)
    for name in catalogue.CATALOGUES.values():
        write(catalogue.po_path(name), update(pot, name))
    catalogue.forget()
    print(f"{len(pot)} messages in {catalogue.TEMPLATE.relative_to(ROOT)}")
    for name in catalogue.CATALOGUES.values():
        with catalogue.po_path(name).open("rb") as source:
            po = read_po(source)
        done = len([m for m in po if m.id and translated(m.string)])
        print(f"  {name}: {done} of {len(po)} translated")
    return 0


def translated(string: object) -> bool:
    """A `Message.string` with every form filled (a plural's is a tuple of forms)."""
    forms = string if isinstance(string, tuple | list) else (string,)
    return all(isinstance(form, str) and form for form in forms)


if __name__ == "__main__":
    sys.exit(main())
