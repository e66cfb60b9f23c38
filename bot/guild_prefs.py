"""Per-server preferences that shape a request before it is built (not admission rules)."""

from __future__ import annotations

from bot.config import Config
from db.moderation import ModerationStore


async def default_provider(
    config: Config,
    store: ModerationStore,
    guild_id: int | None,
    channel_id: int | None = None,
    model: str | None = None,
) -> str | None:
    """The provider a member gets when they name none: the one offering the model they chose,
    else the server's `default_provider`, else the bot's; moved to the first provider the
    channel (or server) allows when that one is not allowed there. None outside a server."""
    if guild_id is None:
        return None
    enabled = config.enabled_providers
    settings = await store.guild_settings(guild_id)
    choice: str = config.generation.default_provider
    if settings.default_provider in enabled:
        choice = settings.default_provider
    if model:
        offering = [p for p in enabled if model.strip() in config.providers[p].allowed_models()]
        if offering and choice not in offering:
            return offering[0]
        if offering:
            return choice
    rules = await store.channel_settings(guild_id, channel_id) if channel_id else None
    rule = (rules.provider_list if rules else ()) or settings.provider_list
    allowed = [p for p in rule if p in enabled]
    if allowed and choice not in allowed:
        return allowed[0]
    return choice
