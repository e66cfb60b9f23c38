"""The config's sections as frozen pydantic models: every key, its type, default and rule.

pydantic checks the types (strictly: `"5"` is not a number, `1` is not `true`) and refuses
unknown keys; the value rules below are written as "[section] key …" endings, so the message
module can turn any failure into one line that names the key and the fix. Each provider's
defaults live on its own subclass of `ProviderConfig`, which also lets its checks quote the
right example (its usual key variable, its API root).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.config.section import Check, IntList, Price, Secret, Section, StrList
from bot.config.shards import check_one_process, check_shards

ProviderName = Literal["fal", "replicate", "civitai", "openai"]
PROVIDER_NAMES: tuple[str, ...] = get_args(ProviderName)
SECRET_ENV: dict[str, str] = {
    "fal": "FAL_KEY",
    "replicate": "REPLICATE_API_TOKEN",
    "civitai": "CIVITAI_API_TOKEN",
    "openai": "OPENAI_API_KEY",  # [providers.openai] api_key_env names another variable
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HTTP = ("http://", "https://")


class DiscordConfig(Section):
    api_base: str = "https://discord.com/api/v10"
    dev_guild_id: int | None = None
    shard_count: int | None = None  # None: the count Discord recommends (GET /gateway/bot)
    shard_ids: IntList | None = None  # None: all of them (bot/config/shards.py)
    role: Literal["all", "gateway", "worker"] = "all"  # --role: what this process does

    checks: ClassVar[dict[str, Check]] = {
        "api_base": (
            lambda url: url.startswith(_HTTP),
            '= {value!r} is not an http(s) URL: use e.g. "https://discord.com/api/v10".',
        ),
        "dev_guild_id": (
            lambda guild: guild is None or guild > 0,
            "must be a server id (a positive number), or be removed to sync commands globally.",
        ),
        "shard_count": (lambda n: n is None or n >= 1, "must be at least 1, or be removed."),
    }

    @model_validator(mode="after")
    def _shards_are_valid(self) -> DiscordConfig:
        check_shards(self.shard_count, self.shard_ids)
        return self


class DatabaseConfig(Section):
    path: str = "data/artfactory.db"  # SQLite; with `url`, only where the intake journal lives
    url: str | None = None  # postgresql://user@host:port/db; DATABASE_URL wins
    busy_wait_s: float = 60.0
    lease_s: float = 30.0  # a dead process's jobs move to another after this (PostgreSQL)

    checks: ClassVar[dict[str, Check]] = {
        "path": (
            lambda path: bool(path.strip()),
            'is empty: set it to a file, e.g. "data/artfactory.db".',
        ),
        "busy_wait_s": (
            lambda s: 0 < s <= 600,
            "= {value} is out of range: use a number of seconds between 1 and 600.",
        ),
        "url": (
            lambda url: url is None or url.startswith(("postgresql://", "postgres://")),
            "is not a PostgreSQL URL: use postgresql://user@host:5432/artfactory, or remove "
            "it to use the SQLite file at [database] path.",
        ),
        "lease_s": (
            lambda s: 1 <= s <= 600,
            "= {value} is out of range: use a number of seconds between 1 and 600.",
        ),
    }

    @property
    def target(self) -> str:
        """What `Database.open` is given: the PostgreSQL URL, else the SQLite file."""
        return self.url or self.path


class GenerationConfig(Section):
    default_provider: ProviderName = "fal"
    job_timeout_s: float = 300.0
    max_concurrent_jobs: int = 16
    max_jobs_per_user: int = 2
    progress_interval_s: float = 1.5
    fallback_providers: StrList = ()
    retry_attempts: int = 5
    retry_base_delay_s: float = 0.5
    retry_total_s: float = 60.0

    checks: ClassVar[dict[str, Check]] = {
        "job_timeout_s": (
            lambda s: 0 < s <= 3600,
            "= {value} is out of range: use a number of seconds between 1 and 3600.",
        ),
        "max_concurrent_jobs": (lambda n: n >= 1, "must be at least 1."),
        "max_jobs_per_user": (lambda n: n >= 1, "must be at least 1."),
        "progress_interval_s": (
            lambda s: s >= 1.5,
            "must be at least 1.5 (seconds between edits of one message), or Discord rate "
            "limits will delay the final result.",
        ),
        "retry_attempts": (lambda n: 1 <= n <= 20, "must be between 1 and 20."),
        "retry_base_delay_s": (lambda s: 0 < s <= 30, "must be between 0 and 30 seconds."),
        "retry_total_s": (
            lambda s: 0 < s <= 3600,
            "must be between 0 and 3600 seconds (the job's own deadline, job_timeout_s, "
            "always wins).",
        ),
    }

    @field_validator("fallback_providers")
    @classmethod
    def _known_providers(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if name not in PROVIDER_NAMES:
                choices = " or ".join(repr(p) for p in PROVIDER_NAMES)
                raise ValueError(f"names unknown provider {name!r}: use {choices}.")
        return names


class ProviderConfig(Section):
    """One provider's settings; the subclasses below hold each provider's defaults."""

    enabled: bool = True
    model: str = ""
    models: StrList = ()
    img2img_model: str = ""  # "" = this provider offers no image-to-image here
    lora_model: str = ""
    upscale_model: str = ""
    poll_interval_s: float = 1.0
    base_url: str = ""  # civitai: orchestration API; openai: the API root with /v1
    models_base_url: str = ""  # civitai: the public models API (civitai.com)
    api_key_env: str = ""  # the variable holding the key ("" = the provider's usual one)

    checks: ClassVar[dict[str, Check]] = {
        "model": (lambda model: bool(model.strip()), "is empty: set a model id."),
        "poll_interval_s": (
            lambda s: 0.2 <= s <= 30,
            "must be between 0.2 and 30 seconds.",
        ),
    }

    def allowed_models(self) -> tuple[str, ...]:
        return self.models if self.model in self.models else (self.model, *self.models)

    @field_validator("base_url", "models_base_url")
    @classmethod
    def _http_url(cls, url: str, info: ValidationInfo) -> str:
        if url and not url.startswith(_HTTP):
            key = info.field_name or ""
            example = cls.model_fields[key].default or "https://api.example.com/v1"
            raise ValueError(f'= {url!r} is not an http(s) URL: use e.g. "{example}".')
        return url

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str) -> str:
        usual: str = cls.model_fields["api_key_env"].default
        if not name:
            return usual
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f'= {name!r} is not an environment variable name: use e.g. "{usual}".')
        return name


class FalConfig(ProviderConfig):
    model: str = "fal-ai/flux/dev"
    models: StrList = ("fal-ai/flux/dev", "fal-ai/flux/schnell")
    img2img_model: str = "fal-ai/flux/dev/image-to-image"
    lora_model: str = "fal-ai/flux-lora"
    upscale_model: str = "fal-ai/esrgan"
    models_base_url: str = "https://api.fal.ai"  # fal's platform API: the models' schemas
    api_key_env: str = SECRET_ENV["fal"]
    # fal's storage API (input images too large to send inline are uploaded through it). Its own
    # setting: fal-client's upload hosts are fixed, not moved by FAL_RUN_HOST.
    storage_url: str = "https://rest.fal.ai"

    @field_validator("storage_url")
    @classmethod
    def _storage_http_url(cls, url: str) -> str:
        if not url.startswith(_HTTP):
            raise ValueError(f'= {url!r} is not an http(s) URL: use e.g. "https://rest.fal.ai".')
        return url


class ReplicateConfig(ProviderConfig):
    enabled: bool = False
    model: str = "black-forest-labs/flux-dev"
    models: StrList = ("black-forest-labs/flux-dev", "black-forest-labs/flux-schnell")
    img2img_model: str = "black-forest-labs/flux-dev"
    lora_model: str = "black-forest-labs/flux-dev-lora"
    upscale_model: str = "nightmareai/real-esrgan"
    api_key_env: str = SECRET_ENV["replicate"]


class CivitaiConfig(ProviderConfig):
    """Checkpoints are AIRs; LoRAs ride on the chosen checkpoint, so `lora_model` defaults to
    `model`. SDXL 1.0 base is the default checkpoint."""

    enabled: bool = False
    model: str = "urn:air:sdxl:checkpoint:civitai:101055@128078"
    models: StrList = ("urn:air:sdxl:checkpoint:civitai:101055@128078",)
    lora_model: str = "urn:air:sdxl:checkpoint:civitai:101055@128078"
    base_url: str = "https://orchestration.civitai.com"
    models_base_url: str = "https://civitai.com"
    api_key_env: str = SECRET_ENV["civitai"]

    @model_validator(mode="before")
    @classmethod
    def _lora_on_the_checkpoint(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model" in data and "lora_model" not in data:
            return {**data, "lora_model": data["model"]}
        return data


class OpenAIConfig(ProviderConfig):
    enabled: bool = False
    model: str = "gpt-image-1.5"
    models: StrList = ("gpt-image-1.5", "gpt-image-1-mini")
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = SECRET_ENV["openai"]


class ProvidersConfig(Section):
    """The [providers.*] tables; a provider left out keeps its defaults."""

    fal: FalConfig = FalConfig()
    replicate: ReplicateConfig = ReplicateConfig()
    civitai: CivitaiConfig = CivitaiConfig()
    openai: OpenAIConfig = OpenAIConfig()

    def by_name(self) -> dict[str, ProviderConfig]:
        return {name: getattr(self, name) for name in PROVIDER_NAMES}


DEFAULT_PROVIDERS: dict[str, ProviderConfig] = ProvidersConfig().by_name()


class QuotaConfig(Section):
    images_per_user_per_day: int = 25
    monthly_budget_per_server: float | None = None  # default cap; /admin settings overrides

    checks: ClassVar[dict[str, Check]] = {
        "images_per_user_per_day": (
            lambda n: n >= 0,
            "must be 0 or more (0 disables generation).",
        ),
        "monthly_budget_per_server": (
            lambda cap: cap is None or cap >= 0,
            "must be 0 or more, or removed.",
        ),
    }


class CostConfig(Section):
    """Estimated cost per image: the operator's price for the model first, then the model
    catalogue's (USD only), then the operator's price for the provider
    (`bot/providers/pricing.py`). The catalogue prices the shipped generation models; the
    upscalers' defaults stay here, as fal bills esrgan per second and Replicate publishes no
    price for real-esrgan."""

    currency: str = "USD"
    per_image: dict[str, Price] = Field(default_factory=lambda: {"fal": 0.025, "replicate": 0.025})
    per_model: dict[str, Price] = Field(
        default_factory=lambda: {"fal-ai/esrgan": 0.002, "nightmareai/real-esrgan": 0.002}
    )


class RuntimeConfig(Section):
    # "asyncio": the standard loop; "uvloop" insists on uvloop (`pip install ".[uvloop]"`);
    # "auto": uvloop where installed, else asyncio. Why asyncio is the default: measured in
    # bench/README.md (bot/ops/eventloop.py).
    event_loop: Literal["auto", "uvloop", "asyncio"] = "asyncio"


class ConfigFile(Section):
    """What the TOML file may hold, checked as a whole (secrets come from the environment)."""

    discord: DiscordConfig = DiscordConfig()
    database: DatabaseConfig = DatabaseConfig()
    generation: GenerationConfig = GenerationConfig()
    providers: ProvidersConfig = ProvidersConfig()
    quotas: QuotaConfig = QuotaConfig()
    costs: CostConfig = CostConfig()
    runtime: RuntimeConfig = RuntimeConfig()

    @model_validator(mode="before")
    @classmethod
    def _default_provider_is_on(cls, data: Any) -> Any:
        """The default provider is enabled unless the file says `enabled = false` for it."""
        if not isinstance(data, dict):
            return data
        generation = data.get("generation", {})
        providers = data.get("providers", {})
        if not isinstance(generation, dict) or not isinstance(providers, dict):
            return data
        name = generation.get("default_provider", GenerationConfig().default_provider)
        table = providers.get(name, {}) if isinstance(name, str) else None
        if name not in PROVIDER_NAMES or not isinstance(table, dict) or "enabled" in table:
            return data
        return {**data, "providers": {**providers, name: {**table, "enabled": True}}}

    @model_validator(mode="after")
    def _one_process_unless_shared(self) -> ConfigFile:
        """Several processes need PostgreSQL: SQLite serves one (bot/config/shards.py)."""
        if self.database.url is None:
            check_one_process(self.discord.shard_count, self.discord.shard_ids, self.discord.role)
        return self

    @model_validator(mode="after")
    def _chosen_providers_are_enabled(self) -> ConfigFile:
        # Raised whole: these lines name their own section and key.
        providers = self.providers.by_name()
        default = self.generation.default_provider
        if not providers[default].enabled:
            raise ValueError(
                f"[generation] default_provider is {default!r} but [providers.{default}] "
                "enabled = false: enable it or choose another default provider."
            )
        for name in self.generation.fallback_providers:
            if not providers[name].enabled:
                raise ValueError(
                    f"[generation] fallback_providers names {name!r} but [providers.{name}] "
                    "is not enabled: enable it or remove it from the list."
                )
        return self


class Secrets(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    discord_token: Secret
    provider_keys: dict[str, Secret] = Field(default_factory=dict)


class Config(BaseModel):
    """The whole, checked configuration the bot runs with."""

    model_config = ConfigDict(frozen=True)

    discord: DiscordConfig
    database: DatabaseConfig
    generation: GenerationConfig
    providers: dict[str, ProviderConfig]
    quotas: QuotaConfig
    secrets: Secrets
    costs: CostConfig = CostConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    source: Path | None = None
    # The model catalogue built for this config (bot.providers.catalogue.catalogue_for): derived
    # from the providers' published schemas, not configured, so it is no field.
    _catalogue: Any = PrivateAttr(default=None)

    @property
    def enabled_providers(self) -> tuple[str, ...]:
        return tuple(name for name in PROVIDER_NAMES if self.providers[name].enabled)
