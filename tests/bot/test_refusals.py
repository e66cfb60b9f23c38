"""The gateway closes an operator can fix become one line naming the fix (bot/refusals.py; the
4011 case runs end to end as `python -m bot` in test_sharding.py); the others keep their
traceback. discord.py's own exception types, as it raises them for these codes."""

from __future__ import annotations

from types import SimpleNamespace

import discord
import pytest

from bot.refusals import RefusedByDiscord, explain


def closed(code: int) -> discord.ConnectionClosed:
    return discord.ConnectionClosed(SimpleNamespace(close_code=code), shard_id=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            closed(4010),
            "Discord closed the gateway: invalid shard (4010): Discord does not accept 3 shards "
            "for this bot (very large bots must run a multiple of a number Discord sets): fix "
            "[discord] shard_count (or --shard-count), or leave it unset so the bot opens as "
            "many shards as Discord recommends.",
        ),
        (
            closed(4013),
            "Discord closed the gateway: invalid intents (4013): Discord does not know an intent "
            "this version of the bot asks for: update Art Factory (and discord.py) to a version "
            "made for Discord's current gateway.",
        ),
        (
            discord.PrivilegedIntentsRequired(0),
            "Discord closed the gateway: disallowed intents (4014): the bot asks for a privileged "
            "intent this application is not approved for: enable it in the Developer Portal "
            "(Bot → Privileged Gateway Intents).",
        ),
    ],
    ids=["4010", "4013", "4014"],
)
def test_a_gateway_close_the_operator_can_fix_is_one_line_naming_the_fix(
    error: Exception, line: str
) -> None:
    refused = explain(error, shard_count=3, recommended=4)
    assert isinstance(refused, RefusedByDiscord) and str(refused) == line
    assert refused.__cause__ is error


def test_other_gateway_closes_keep_their_traceback() -> None:
    error = closed(4004)
    assert explain(error, shard_count=None, recommended=1) is error
