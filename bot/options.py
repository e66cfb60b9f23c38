"""Checks the options of a slash command against what the command declares, before it runs.

Discord's client only sends an option with its declared type and, for a list of choices, one
of them; discord.py trusts the payload and hands the value over unchecked. A forged payload
would give a command the text "four" for an integer (which then fails somewhere deep inside,
answered only with "Something went wrong") or an aspect ratio that is not offered (which would
be charged and sent to a provider). So the command tree checks every option first and names
the wrong one. Ranges and lengths are left to the commands, whose answers say more.
"""

from __future__ import annotations

import math
from typing import Any

import discord
from discord import AppCommandOptionType, app_commands

from bot.i18n import N_, _

_KINDS: dict[AppCommandOptionType, str] = {  # shown with `_`
    AppCommandOptionType.string: N_("text"),
    AppCommandOptionType.integer: N_("a whole number"),
    AppCommandOptionType.number: N_("a number"),
    AppCommandOptionType.boolean: N_("true or false"),
    AppCommandOptionType.user: N_("a member"),
    AppCommandOptionType.channel: N_("a channel"),
    AppCommandOptionType.role: N_("a role"),
    AppCommandOptionType.mentionable: N_("a member or a role"),
    AppCommandOptionType.attachment: N_("an attachment"),
}
# The option types a payload may give for a parameter: discord.py reads the value by the
# payload's type (a number becomes a float, a snowflake is resolved), and a whole number is a
# fine value for a number parameter.
_PAYLOAD_TYPES: dict[AppCommandOptionType, tuple[int, ...]] = {
    AppCommandOptionType.number: (
        AppCommandOptionType.number.value,
        AppCommandOptionType.integer.value,
    ),
}
_SUBCOMMAND_TYPES = (
    AppCommandOptionType.subcommand.value,
    AppCommandOptionType.subcommand_group.value,
)


class InvalidOption(app_commands.CheckFailure):
    """An option Discord's client would not have sent; the message names it."""


def check_options(interaction: discord.Interaction) -> None:
    """Raise InvalidOption for the first option of a slash command invocation that has the
    wrong type or is not one of its choices. Autocomplete (half-typed values), context menus and
    unknown commands are left to discord.py."""
    if interaction.type is not discord.InteractionType.application_command:
        return
    command = interaction.command
    if not isinstance(command, app_commands.Command):
        return
    data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
    params = {param.display_name: param for param in command.parameters}
    for option in _leaf_options(data):
        param = params.get(str(option.get("name")))
        if param is not None:
            _check(param, option)


def _leaf_options(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The options of the invoked (sub)command, below any subcommand group and subcommand."""
    options: list[dict[str, Any]] = data.get("options") or []
    while options and options[0].get("type") in _SUBCOMMAND_TYPES:
        options = options[0].get("options") or []
    return options


def _check(param: app_commands.Parameter, option: dict[str, Any]) -> None:
    value = option.get("value")
    payload_types = _PAYLOAD_TYPES.get(param.type, (param.type.value,))
    if option.get("type") not in payload_types or not _has_kind(param.type, value):
        kind = _(_KINDS.get(param.type, N_("something else")))
        raise InvalidOption(
            _(
                "The option `{option}` must be {kind}; nothing was charged.",
                option=param.display_name,
                kind=kind,
            )
        )
    offered = [choice.value for choice in param.choices]
    if offered and value not in offered:
        listed = ", ".join(str(choice) for choice in offered)
        raise InvalidOption(
            _(
                "The option `{option}` must be one of {listed}; nothing was charged.",
                option=param.display_name,
                listed=listed,
            )
        )


def _has_kind(kind: AppCommandOptionType, value: Any) -> bool:
    if kind is AppCommandOptionType.string:
        return isinstance(value, str)
    if kind is AppCommandOptionType.boolean:
        return isinstance(value, bool)
    if kind is AppCommandOptionType.integer:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is AppCommandOptionType.number:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    # users, channels, roles, mentionables, attachments: a snowflake, resolved by discord.py
    return isinstance(value, str) and value.isdigit()
