"""Discord's refusals that end the bot, told in one line naming the fix (exit code 2, like a
config error) instead of a traceback: a bot token refused at login, and the gateway closes that
discord.py does not reconnect after and that the operator can act on.

Close codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes, "Gateway Close
Event Codes"): 4010 Invalid shard, 4011 Sharding required, 4013 Invalid intent(s), 4014
Disallowed intent(s). discord.py 2.7 raises ``ConnectionClosed`` for the first three and
``PrivilegedIntentsRequired`` for 4014. Any other error keeps its traceback.
"""

from __future__ import annotations

import discord


class RefusedByDiscord(Exception):
    """Discord refused the bot for a reason the operator can fix; ``str()`` is the line."""


LOGIN_REFUSED = (
    "config error: DISCORD_TOKEN was refused by Discord: export the bot token from the "
    "Developer Portal (Bot → Reset Token)."
)
DEFAULT_COUNT = "or leave it unset so the bot opens as many shards as Discord recommends"
INTENT_CLOSES = {
    4013: (
        "invalid intents",
        "Discord does not know an intent this version of the bot asks for: update Art Factory "
        "(and discord.py) to a version made for Discord's current gateway.",
    ),
    4014: (
        "disallowed intents",
        "the bot asks for a privileged intent this application is not approved for: enable it "
        "in the Developer Portal (Bot → Privileged Gateway Intents).",
    ),
}


def explain(
    error: BaseException, *, shard_count: int | None, recommended: int | None
) -> BaseException:
    """``RefusedByDiscord`` with the line (caused by ``error``) when the operator can fix what
    ``error`` reports, else ``error`` itself. ``shard_count`` is the configured count (None:
    Discord's), ``recommended`` the count ``GET /gateway/bot`` answered, if it was asked."""
    line = _line(error, shard_count, recommended)
    if line is None:
        return error
    refused = RefusedByDiscord(line)
    refused.__cause__ = error
    return refused


def _line(error: BaseException, count: int | None, recommended: int | None) -> str | None:
    if isinstance(error, discord.LoginFailure):
        return LOGIN_REFUSED
    if isinstance(error, discord.PrivilegedIntentsRequired):
        code = 4014
    elif isinstance(error, discord.ConnectionClosed):
        code = error.code
    else:
        return None
    closed = "Discord closed the gateway"
    shards = "its shards" if count is None else f"{count} shard{'s' if count != 1 else ''}"
    if code == 4011:
        at_least = f"to at least {recommended}" if recommended else "higher"
        return (
            f"{closed}: sharding required (4011): the bot is in too many servers for {shards}: "
            f"set [discord] shard_count (or --shard-count) {at_least}, {DEFAULT_COUNT}."
        )
    if code == 4010:
        return (
            f"{closed}: invalid shard (4010): Discord does not accept {shards} for this bot "
            "(very large bots must run a multiple of a number Discord sets): fix [discord] "
            f"shard_count (or --shard-count), {DEFAULT_COUNT}."
        )
    if code in INTENT_CLOSES:
        name, fix = INTENT_CLOSES[code]
        return f"{closed}: {name} ({code}): {fix}"
    return None
