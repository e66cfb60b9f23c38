"""How each provider has been doing lately (`/providers`), read from the ledger's numbers."""

from __future__ import annotations

from db.stats import ProviderHealth, StatsStore

__all__ = ["ProviderHealth", "ProviderHealthReport"]


class ProviderHealthReport:
    """Built once by the composition root, so `/providers` needs no store of its own."""

    def __init__(self, stats: StatsStore) -> None:
        self._stats = stats

    async def recent(self, window_s: float) -> dict[str, ProviderHealth]:
        """Per provider, over the jobs created in the last `window_s` seconds."""
        return await self._stats.provider_health(window_s)
