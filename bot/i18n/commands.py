"""The commands as Discord's client shows them, in the member's language.

`CatalogueTranslator` is the command tree's translator (`ArtFactoryBot.setup_hook` sets it
before the commands are synced): discord.py asks it for every string of every command in every
Discord locale and sends what it answers as the `*_localizations` of the synced payload. It
answers from the same catalogues as the bot's messages (bot/i18n/catalogue.py).

What is translated: the descriptions of commands, groups and options, the names of choices
written with `label` (words, like a period's "day"; identifiers such as provider names and
aspect ratios stay as they are), and the names of context-menu commands (Apps → Describe:
their name is all the member sees). What is not: command, group and option names. The bot's
messages, `/help` and members of mixed languages in a shared channel refer to commands by
name ("try `/imagine`"), and a name that changed with the reader's language would make every
such reference wrong for somebody.

Discord refuses a description or choice name over 100 characters and a context-menu name over
32; a translation that is too long is left out, so that locale shows the English.
"""

from __future__ import annotations

import logging

from discord import Locale, app_commands
from discord.app_commands import TranslationContextLocation as Where
from discord.app_commands import TranslationContextTypes, locale_str

from bot.i18n import catalogue, resolve

log = logging.getLogger(__name__)

DESCRIPTION_MAX = 100  # Discord: descriptions and choice names, 1-100 characters
MENU_NAME_MAX = 32  # Discord: command names, context menus included, 1-32 characters
_DESCRIPTIONS = (Where.command_description, Where.group_description, Where.parameter_description)


def label(name: str) -> locale_str:
    """A choice's name that is a word for members, so it is translated in their client (a
    choice named by a plain string is an identifier and is shown as it is)."""
    return locale_str(name, label=True)


def labelled(*values: str) -> list[app_commands.Choice[str]]:
    """Choices named by their English word (`labelled("day", "week")`): the value a command
    receives stays that word in every language; the name the member picks is translated."""
    return [app_commands.Choice(name=label(value), value=value) for value in values]


def length_limit(string: locale_str, context: TranslationContextTypes) -> int | None:
    """The longest translation Discord takes for `string` where it is, or None when it is not
    translated at all (names, and choices not written with `label`)."""
    where = context.location
    if where in _DESCRIPTIONS:
        return DESCRIPTION_MAX
    if where is Where.choice_name and string.extras.get("label"):
        return DESCRIPTION_MAX
    if where is Where.command_name and isinstance(context.data, app_commands.ContextMenu):
        return MENU_NAME_MAX
    return None


def localised(message: str, locale: str, limit: int) -> str | None:
    """`message` in a Discord locale, or None when that locale shows the English (English
    itself, a language not shipped, no translation yet, or one longer than `limit`)."""
    translations = catalogue.for_locale(resolve(locale))
    if translations is None:
        return None
    text = translations.gettext(message)
    if text == message:
        return None
    if not 1 <= len(text) <= limit:
        log.warning(
            "%s translation of %r is over %d characters: English used", locale, message, limit
        )
        return None
    return text


class CatalogueTranslator(app_commands.Translator):
    """Command localisations from the message catalogues (see the module's docstring)."""

    async def translate(
        self, string: locale_str, locale: Locale, context: TranslationContextTypes
    ) -> str | None:
        limit = length_limit(string, context)
        if limit is None:
            return None
        return localised(string.message, locale.value, limit)
