"""Per-server preferences that shape a request before it is built (not admission rules)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config
from bot.providers.offers import Needs, can_serve
from db.settings import SettingsStore


async def default_provider(
    config: Config,
    store: SettingsStore,
    guild_id: int | None,
    channel_id: int | None = None,
    model: str | None = None,
    needs: Needs | None = None,
) -> str:
    """The provider a member gets when they name none: the one offering the model they chose,
    else the server's `default_provider`, else the bot's; moved to the first provider the
    channel (or server) allows when that one is not allowed there, and to the first allowed one
    that `can_serve` the job's `needs` (img2img, enough LoRAs) when it cannot. When none can,
    the preferred one stays, so the refusal names a provider that can."""
    enabled = list(config.enabled_providers)
    choice: str = config.generation.default_provider
    allowed = enabled
    if guild_id is not None:
        settings = await store.guild(guild_id)
        if settings.default_provider in enabled:
            choice = settings.default_provider
        rules = await store.channel(guild_id, channel_id) if channel_id else None
        rule = (rules.provider_list if rules else ()) or settings.provider_list
        allowed = [p for p in rule if p in enabled] or enabled
    if model:
        offering = [p for p in enabled if model.strip() in config.providers[p].allowed_models()]
        if offering:
            return choice if choice in offering else offering[0]
    able = [p for p in allowed if needs is None or can_serve(config, p, needs)]
    if choice in able:
        return choice
    return able[0] if able else choice


@dataclass(frozen=True)
class Here:
    """What a server (and channel) lets members use, as the admission gate applies it: the
    providers allowed (empty: all enabled), the models allowed for plain text-to-image (empty:
    all), and the server's default provider (None: the bot's)."""

    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    default_provider: str | None = None


class Preferences:
    """`default_provider` for the adapters, built once by the composition root: commands ask
    this instead of reaching into the settings store."""

    def __init__(self, config: Config, store: SettingsStore) -> None:
        self._config = config
        self._store = store

    async def default_provider(
        self,
        guild_id: int | None,
        channel_id: int | None = None,
        model: str | None = None,
        needs: Needs | None = None,
    ) -> str:
        return await default_provider(self._config, self._store, guild_id, channel_id, model, needs)

    async def here(self, guild_id: int | None, channel_id: int | None = None) -> Here:
        """What `/models` lists for a member in this channel."""
        if guild_id is None:
            return Here()
        settings = await self._store.guild(guild_id)
        channel = await self._store.channel(guild_id, channel_id) if channel_id else None
        providers = (channel.provider_list if channel else ()) or settings.provider_list
        return Here(providers, settings.model_list, settings.default_provider)

    async def private_allowed(self, guild_id: int | None) -> bool:
        """Whether results may be private here (a member's DMs: always)."""
        if guild_id is None:
            return True
        return (await self._store.guild(guild_id)).private_results
