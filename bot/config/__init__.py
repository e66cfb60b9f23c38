"""Typed configuration, loaded and validated once at start.

- `models`: the sections as frozen pydantic models (every key, type, default and rule),
  `Secret` (a value that never prints) and the assembled `Config`;
- `providers`: the [providers.*] tables, each provider's defaults on its own subclass.
- `load`: `load_config` / `parse_config`: the TOML file plus the secrets from the environment.
- `messages`: pydantic's errors turned into one `ConfigError` line naming the key and the fix,
  so `python -m bot --check` prints it and exits 2 without a traceback.
- `shards`: the checks on `[discord] shard_count` / `shard_ids` (a set that leaves shards to
  another process is refused) and the `--shard-count` / `--shard-ids` flags that replace them.
"""

from __future__ import annotations

from bot.config.load import MISSING_DISCORD_TOKEN, load_config, parse_config
from bot.config.models import (
    Config,
    ConfigFile,
    CostConfig,
    DatabaseConfig,
    DiscordConfig,
    GenerationConfig,
    QuotaConfig,
    Secret,
    Secrets,
)
from bot.config.providers import (
    DEFAULT_PROVIDERS,
    PROVIDER_NAMES,
    SECRET_ENV,
    CivitaiConfig,
    FalConfig,
    OpenAIConfig,
    ProviderConfig,
    ProvidersConfig,
    ReplicateConfig,
)

__all__ = [
    "DEFAULT_PROVIDERS",
    "MISSING_DISCORD_TOKEN",
    "PROVIDER_NAMES",
    "SECRET_ENV",
    "CivitaiConfig",
    "Config",
    "ConfigFile",
    "CostConfig",
    "DatabaseConfig",
    "DiscordConfig",
    "FalConfig",
    "GenerationConfig",
    "OpenAIConfig",
    "ProviderConfig",
    "ProvidersConfig",
    "QuotaConfig",
    "ReplicateConfig",
    "Secret",
    "Secrets",
    "load_config",
    "parse_config",
]
