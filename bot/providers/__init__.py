"""Provider adapters behind one interface (`bot.providers.base.Provider`)."""

from __future__ import annotations

from bot.config import Config
from bot.providers.base import Provider


def build_providers(config: Config) -> dict[str, Provider]:
    """One client per enabled provider, created once and shared by every job."""
    providers: dict[str, Provider] = {}
    for name in config.enabled_providers:
        key = config.secrets.provider_keys[name].get()
        interval = config.providers[name].poll_interval_s
        if name == "fal":
            from bot.providers.fal import FalProvider

            providers[name] = FalProvider(key, poll_interval_s=interval)
        elif name == "replicate":
            from bot.providers.replicate import ReplicateProvider

            providers[name] = ReplicateProvider(key, poll_interval_s=interval)
    return providers


__all__ = ["Provider", "build_providers"]
