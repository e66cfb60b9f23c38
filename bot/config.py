"""Typed configuration, loaded and validated once at start.

Every problem is reported as one `ConfigError` line that names the key and the fix, so
`python -m bot` can print it and exit 2 without a traceback. Secrets never live in the TOML
file: they come from the environment and are kept in `Secret` objects that do not print.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from bot.errors import ConfigError

PROVIDER_NAMES: tuple[str, ...] = ("fal", "replicate", "civitai", "openai")
SECRET_ENV: dict[str, str] = {
    "fal": "FAL_KEY",
    "replicate": "REPLICATE_API_TOKEN",
    "civitai": "CIVITAI_API_TOKEN",
    "openai": "OPENAI_API_KEY",  # [providers.openai] api_key_env names another variable
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Secret:
    """A secret value that never shows up in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@dataclass(frozen=True)
class DiscordConfig:
    api_base: str = "https://discord.com/api/v10"
    dev_guild_id: int | None = None
    shard_count: int | None = None

    def validate(self) -> None:
        if not self.api_base.startswith(("http://", "https://")):
            raise ConfigError(
                f"[discord] api_base = {self.api_base!r} is not an http(s) URL: "
                'use e.g. "https://discord.com/api/v10".'
            )
        if self.dev_guild_id is not None and self.dev_guild_id <= 0:
            raise ConfigError(
                "[discord] dev_guild_id must be a server id (a positive number), "
                "or be removed to sync commands globally."
            )
        if self.shard_count is not None and self.shard_count < 1:
            raise ConfigError("[discord] shard_count must be at least 1, or be removed.")


@dataclass(frozen=True)
class DatabaseConfig:
    path: str = "data/artfactory.db"

    def validate(self) -> None:
        if not self.path.strip():
            raise ConfigError(
                '[database] path is empty: set it to a file, e.g. "data/artfactory.db".'
            )


@dataclass(frozen=True)
class GenerationConfig:
    default_provider: Literal["fal", "replicate", "civitai", "openai"] = "fal"
    job_timeout_s: float = 300.0
    max_concurrent_jobs: int = 16
    max_jobs_per_user: int = 2
    progress_interval_s: float = 1.5
    fallback_providers: tuple[str, ...] = ()
    retry_attempts: int = 5
    retry_base_delay_s: float = 0.5
    retry_total_s: float = 60.0

    def validate(self) -> None:
        if self.job_timeout_s <= 0 or self.job_timeout_s > 3600:
            raise ConfigError(
                f"[generation] job_timeout_s = {self.job_timeout_s} is out of range: "
                "use a number of seconds between 1 and 3600."
            )
        if self.max_concurrent_jobs < 1:
            raise ConfigError("[generation] max_concurrent_jobs must be at least 1.")
        if not 1 <= self.retry_attempts <= 20:
            raise ConfigError("[generation] retry_attempts must be between 1 and 20.")
        if not 0 < self.retry_base_delay_s <= 30:
            raise ConfigError("[generation] retry_base_delay_s must be between 0 and 30 seconds.")
        if not 0 < self.retry_total_s <= 3600:
            raise ConfigError(
                "[generation] retry_total_s must be between 0 and 3600 seconds "
                "(the job's own deadline, job_timeout_s, always wins)."
            )
        if self.max_jobs_per_user < 1:
            raise ConfigError("[generation] max_jobs_per_user must be at least 1.")
        if self.progress_interval_s < 1.5:
            raise ConfigError(
                "[generation] progress_interval_s must be at least 1.5 (seconds between edits of "
                "one message), or Discord rate limits will delay the final result."
            )


@dataclass(frozen=True)
class ProviderConfig:
    enabled: bool = True
    model: str = ""
    models: tuple[str, ...] = ()
    img2img_model: str = ""  # "" = this provider offers no image-to-image here
    lora_model: str = ""
    upscale_model: str = ""
    poll_interval_s: float = 1.0
    base_url: str = ""  # civitai: orchestration API; openai: the API root with /v1
    models_base_url: str = ""  # civitai: the public models API (civitai.com)
    api_key_env: str = ""  # the variable holding the key ("" = the provider's usual one)

    def allowed_models(self) -> tuple[str, ...]:
        return self.models if self.model in self.models else (self.model, *self.models)


DEFAULT_PROVIDERS: dict[str, ProviderConfig] = {
    "fal": ProviderConfig(
        enabled=True,
        model="fal-ai/flux/dev",
        models=("fal-ai/flux/dev", "fal-ai/flux/schnell"),
        img2img_model="fal-ai/flux/dev/image-to-image",
        lora_model="fal-ai/flux-lora",
        upscale_model="fal-ai/esrgan",
    ),
    "replicate": ProviderConfig(
        enabled=False,
        model="black-forest-labs/flux-dev",
        models=("black-forest-labs/flux-dev", "black-forest-labs/flux-schnell"),
        img2img_model="black-forest-labs/flux-dev",
        lora_model="black-forest-labs/flux-dev-lora",
        upscale_model="nightmareai/real-esrgan",
    ),
    # Checkpoints are AIRs; LoRAs ride on the chosen checkpoint, so `lora_model` defaults to
    # `model` (see parse_config). SDXL 1.0 base is the default checkpoint.
    "civitai": ProviderConfig(
        enabled=False,
        model="urn:air:sdxl:checkpoint:civitai:101055@128078",
        models=("urn:air:sdxl:checkpoint:civitai:101055@128078",),
        base_url="https://orchestration.civitai.com",
        models_base_url="https://civitai.com",
    ),
    "openai": ProviderConfig(
        enabled=False,
        model="gpt-image-1.5",
        models=("gpt-image-1.5", "gpt-image-1-mini"),
        base_url="https://api.openai.com/v1",
    ),
}


@dataclass(frozen=True)
class QuotaConfig:
    images_per_user_per_day: int = 25
    monthly_budget_per_server: float | None = None  # default cap; /admin settings overrides

    def validate(self) -> None:
        if self.images_per_user_per_day < 0:
            raise ConfigError(
                "[quotas] images_per_user_per_day must be 0 or more (0 disables generation)."
            )
        if self.monthly_budget_per_server is not None and self.monthly_budget_per_server < 0:
            raise ConfigError("[quotas] monthly_budget_per_server must be 0 or more, or removed.")


@dataclass(frozen=True)
class CostConfig:
    """Estimated cost per image, by model first, then by provider (currency as configured)."""

    currency: str = "USD"
    per_image: dict[str, float] = field(default_factory=lambda: {"fal": 0.025, "replicate": 0.025})
    per_model: dict[str, float] = field(
        default_factory=lambda: {
            "fal-ai/flux/schnell": 0.003,
            "black-forest-labs/flux-schnell": 0.003,
            "fal-ai/esrgan": 0.002,
            "nightmareai/real-esrgan": 0.002,
        }
    )

    def validate(self) -> None:
        for table, values in (("per_image", self.per_image), ("per_model", self.per_model)):
            for key, value in values.items():
                if value < 0:
                    raise ConfigError(f"[costs] {table}.{key} must be 0 or more.")


@dataclass(frozen=True)
class Secrets:
    discord_token: Secret
    provider_keys: dict[str, Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    discord: DiscordConfig
    database: DatabaseConfig
    generation: GenerationConfig
    providers: dict[str, ProviderConfig]
    quotas: QuotaConfig
    secrets: Secrets
    costs: CostConfig = field(default_factory=CostConfig)
    source: Path | None = None

    @property
    def enabled_providers(self) -> tuple[str, ...]:
        return tuple(name for name in PROVIDER_NAMES if self.providers[name].enabled)


MISSING_DISCORD_TOKEN = (
    "DISCORD_TOKEN is not set: export DISCORD_TOKEN=<your bot token> "
    "(Discord Developer Portal → your application → Bot → Reset Token)"
)


def load_config(
    path: str | Path,
    environ: typing.Mapping[str, str] | None = None,
    *,
    require_secrets: bool = True,
) -> Config:
    """Read, validate and type the config file; raise `ConfigError` with one clear line.
    `require_secrets=False` (for `doctor`) leaves a missing secret empty instead, so every
    missing one can be reported at once."""
    env = os.environ if environ is None else environ
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {str(path)!r} does not exist: copy config.example.toml to it "
            "(cp config.example.toml config.toml) or pass --config PATH."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"config file {str(path)!r} cannot be read ({reason}): check the path and permissions."
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}.") from None
    return parse_config(raw, env, source=path, require_secrets=require_secrets)


def parse_config(
    raw: dict[str, Any],
    environ: typing.Mapping[str, str],
    *,
    source: Path | None = None,
    require_secrets: bool = True,
) -> Config:
    known = {"discord", "database", "generation", "providers", "quotas", "costs"}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"unknown section or key [{key}] in the config: remove it "
                f"(known sections: {', '.join(sorted(known))})."
            )
    discord_cfg = _section(raw, "discord", DiscordConfig)
    database = _section(raw, "database", DatabaseConfig)
    generation = _section(raw, "generation", GenerationConfig)
    quotas = _section(raw, "quotas", QuotaConfig)
    costs = _section(raw, "costs", CostConfig)
    costs.validate()

    providers_raw = raw.get("providers", {})
    if not isinstance(providers_raw, dict):
        raise ConfigError(
            "[providers] must be a table with [providers.fal] / [providers.replicate]."
        )
    providers: dict[str, ProviderConfig] = {}
    for name in providers_raw:
        if name not in PROVIDER_NAMES:
            raise ConfigError(
                f"unknown provider [providers.{name}]: remove it "
                f"(supported: {', '.join(PROVIDER_NAMES)})."
            )
    for name in PROVIDER_NAMES:
        sub = providers_raw.get(name, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"[providers.{name}] must be a table.")
        defaults = DEFAULT_PROVIDERS[name]
        merged = {**dataclasses.asdict(defaults), **sub}
        cfg = _build(f"providers.{name}", merged, ProviderConfig, given=set(sub))
        if not cfg.model.strip():
            raise ConfigError(f"[providers.{name}] model is empty: set a model id.")
        if cfg.poll_interval_s < 0.2 or cfg.poll_interval_s > 30:
            raise ConfigError(
                f"[providers.{name}] poll_interval_s must be between 0.2 and 30 seconds."
            )
        for key in ("base_url", "models_base_url"):
            url = getattr(cfg, key)
            if url and not url.startswith(("http://", "https://")):
                example = getattr(defaults, key) or "https://api.example.com/v1"
                raise ConfigError(
                    f"[providers.{name}] {key} = {url!r} is not an http(s) URL: "
                    f'use e.g. "{example}".'
                )
        if cfg.api_key_env and not _ENV_NAME.fullmatch(cfg.api_key_env):
            raise ConfigError(
                f"[providers.{name}] api_key_env = {cfg.api_key_env!r} is not an environment "
                f'variable name: use e.g. "{SECRET_ENV[name]}".'
            )
        if name == "civitai" and "lora_model" not in sub:
            cfg = dataclasses.replace(cfg, lora_model=cfg.model)
        cfg = dataclasses.replace(cfg, api_key_env=cfg.api_key_env or SECRET_ENV[name])
        providers[name] = cfg

    default = generation.default_provider
    if not providers[default].enabled:
        if "enabled" in providers_raw.get(default, {}):
            raise ConfigError(
                f"[generation] default_provider is {default!r} but [providers.{default}] "
                "enabled = false: enable it or choose another default provider."
            )
        providers[default] = dataclasses.replace(providers[default], enabled=True)

    for section in (discord_cfg, database, generation, quotas):
        section.validate()
    for name in generation.fallback_providers:
        if name not in PROVIDER_NAMES:
            raise ConfigError(
                f"[generation] fallback_providers names unknown provider {name!r}: "
                f"use {' or '.join(repr(p) for p in PROVIDER_NAMES)}."
            )
        if not providers[name].enabled:
            raise ConfigError(
                f"[generation] fallback_providers names {name!r} but [providers.{name}] is not "
                "enabled: enable it or remove it from the list."
            )

    token = environ.get("DISCORD_TOKEN", "").strip()
    if not token and require_secrets:
        raise ConfigError(f"{MISSING_DISCORD_TOKEN}.")
    keys: dict[str, Secret] = {}
    for name in PROVIDER_NAMES:
        if not providers[name].enabled:
            continue
        var = providers[name].api_key_env
        value = environ.get(var, "").strip()
        if not value and require_secrets:
            how = (
                f"or set [providers.{name}] enabled = false"
                if name != default
                else "or choose another [generation] default_provider"
            )
            raise ConfigError(f"{var} is not set: export {var}=<your {name} API key>, {how}.")
        keys[name] = Secret(value)

    return Config(
        discord=discord_cfg,
        database=database,
        generation=generation,
        providers=providers,
        quotas=quotas,
        costs=costs,
        secrets=Secrets(discord_token=Secret(token), provider_keys=keys),
        source=source,
    )


def _section(raw: dict[str, Any], name: str, cls: type[Any]) -> Any:
    sub = raw.get(name, {})
    if not isinstance(sub, dict):
        raise ConfigError(f"[{name}] must be a table (a [{name}] header followed by keys).")
    return _build(name, sub, cls, given=set(sub))


def _build(section: str, values: dict[str, Any], cls: type[Any], *, given: set[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            raise ConfigError(
                f"unknown key {key!r} in [{section}]: remove it or fix its spelling "
                f"(known keys: {', '.join(sorted(names))})."
            )
    kwargs = {}
    for key, value in values.items():
        kwargs[key] = _coerce(section, key, value, hints[key])
    return cls(**kwargs)


def _coerce(section: str, key: str, value: Any, hint: Any) -> Any:
    where = f"[{section}] {key}"
    origin = get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _coerce(section, key, value, inner[0])
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            options = " or ".join(repr(a) for a in allowed)
            raise ConfigError(f"{where} = {value!r} is not valid: use {options}.")
        return value
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            raise ConfigError(f"{where} must be a table of numbers, e.g. {{ fal = 0.025 }}.")
        return {str(k): float(v) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f'{where} must be a list of strings, e.g. ["a", "b"].')
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} = {value!r} is not valid: use true or false.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} = {value!r} is not valid: use a whole number.")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} = {value!r} is not valid: use a number.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f'{where} = {value!r} is not valid: use a quoted string ("...").')
        return value
    raise TypeError(f"unsupported config type {hint!r} for {where}")  # a bug, not a user error
