"""The config's sections as frozen pydantic models: every key, its type, default and rule.

pydantic checks the types (strictly: `"5"` is not a number, `1` is not `true`) and refuses
unknown keys; the value rules below are written as "[section] key …" endings, so the message
module can turn any failure into one line that names the key and the fix. The [providers.*]
tables are in `providers.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from bot.config.providers import (
    HTTP_SCHEMES,
    PROVIDER_NAMES,
    ProviderConfig,
    ProviderName,
    ProvidersConfig,
)
from bot.config.section import Check, IntList, Price, Secret, Section, StrList
from bot.config.shards import check_one_process, check_shards


class DiscordConfig(Section):
    api_base: str = "https://discord.com/api/v10"
    dev_guild_id: int | None = None
    shard_count: int | None = None  # None: the count Discord recommends (GET /gateway/bot)
    shard_ids: IntList | None = None  # None: all of them (bot/config/shards.py)
    role: Literal["all", "gateway", "worker"] = "all"  # --role: what this process does

    checks: ClassVar[dict[str, Check]] = {
        "api_base": (
            lambda url: url.startswith(HTTP_SCHEMES),
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
    video_timeout_s: float = 900.0  # Animate: clips take minutes at the providers
    max_concurrent_jobs: int = 16
    max_jobs_per_user: int = 2
    progress_interval_s: float = 1.5
    fallback_providers: StrList = ()
    retry_attempts: int = 5
    retry_base_delay_s: float = 0.5
    retry_total_s: float = 60.0
    max_permutations: int = 4  # jobs one `{a,b}` prompt may make (bot/studio/permutations.py)

    def timeout_s(self, kind: str) -> float:
        """A job's own deadline: a video's is longer."""
        return self.video_timeout_s if kind == "animation" else self.job_timeout_s

    checks: ClassVar[dict[str, Check]] = {
        "job_timeout_s": (
            lambda s: 0 < s <= 3600,
            "= {value} is out of range: use a number of seconds between 1 and 3600.",
        ),
        "video_timeout_s": (
            lambda s: 0 < s <= 7200,
            "= {value} is out of range: use a number of seconds between 1 and 7200.",
        ),
        "max_concurrent_jobs": (lambda n: n >= 1, "must be at least 1."),
        "max_jobs_per_user": (lambda n: n >= 1, "must be at least 1."),
        "max_permutations": (lambda n: 1 <= n <= 10, "must be between 1 and 10."),
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


class QuotaConfig(Section):
    images_per_user_per_day: int = 25
    # A member's own quota where the bot is installed to their account (DMs, group DMs).
    images_per_user_per_day_outside_servers: int = 10
    monthly_budget_per_server: float | None = None  # default cap; /admin settings overrides
    # What the other outputs count as against the daily images: a second of video (a 5 s clip
    # = 5 images by default), and one /describe (its four prompts).
    images_per_video_second: float = 1.0
    images_per_describe: int = 1

    checks: ClassVar[dict[str, Check]] = {
        "images_per_user_per_day": (
            lambda n: n >= 0,
            "must be 0 or more (0 disables generation).",
        ),
        "images_per_user_per_day_outside_servers": (
            lambda n: n >= 0,
            "must be 0 or more (0: the bot makes nothing outside servers).",
        ),
        "monthly_budget_per_server": (
            lambda cap: cap is None or cap >= 0,
            "must be 0 or more, or removed.",
        ),
        "images_per_video_second": (lambda n: 0 < n <= 10, "must be more than 0, at most 10."),
        "images_per_describe": (lambda n: 1 <= n <= 10, "must be between 1 and 10."),
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


class PromptHelpConfig(Section):
    """Rewriting short prompts into richer ones through an OpenAI-compatible chat model (a
    LiteLLM proxy, OpenAI, fal's OpenRouter route); off unless enabled. The key comes from the
    environment variable `api_key_env`."""

    enabled: bool = False
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    max_words: int = 12  # prompts of at most this many words are rewritten
    cost_per_rewrite: float = 0.0  # counted in the server's budget, in [costs] currency
    timeout_s: float = 10.0  # a slower answer keeps the member's own prompt

    checks: ClassVar[dict[str, Check]] = {
        "max_words": (lambda n: 1 <= n <= 200, "must be between 1 and 200."),
        "cost_per_rewrite": (lambda c: c >= 0, "must be 0 or more."),
        "timeout_s": (lambda s: 0 < s <= 60, "must be between 0 and 60 seconds."),
        "base_url": (
            lambda u: u.startswith(HTTP_SCHEMES),
            'is not an http(s) URL: use e.g. "https://api.openai.com/v1".',
        ),
    }


class WebConfig(Section):
    """The bot's small web server (bot/web/): health, metrics, provider webhooks; off unless
    `listen` is set. `public_url`: how the world reaches it (links, webhooks), behind a proxy."""

    listen: str | None = None  # "127.0.0.1:8080"; port 0 picks a free one
    public_url: str | None = None
    # The web gallery (bot/web/gallery/): members sign in with Discord's OAuth2, as the
    # application `discord_client_id` (its secret: DISCORD_CLIENT_SECRET).
    gallery: bool = False
    discord_client_id: int | None = None
    oauth_base: str = "https://discord.com"

    checks: ClassVar[dict[str, Check]] = {
        "listen": (
            lambda v: v is None or _host_port(v) is not None,
            'is not host:port: use e.g. "127.0.0.1:8080" (or "0.0.0.0:8080" in a container).',
        ),
        "public_url": (
            lambda u: u is None or u.startswith(HTTP_SCHEMES),
            'is not an http(s) URL: use e.g. "https://art.example.com".',
        ),
        "oauth_base": (
            lambda u: u.startswith(HTTP_SCHEMES),
            'is not an http(s) URL: use "https://discord.com".',
        ),
    }

    @property
    def address(self) -> tuple[str, int] | None:
        return _host_port(self.listen) if self.listen else None


def _host_port(value: str) -> tuple[str, int] | None:
    host, _colon, port = value.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    return host.strip("[]"), int(port)


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
    prompt_help: PromptHelpConfig = PromptHelpConfig()
    web: WebConfig = WebConfig()
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
    prompt_help_key: Secret | None = None
    web_client_secret: Secret | None = None  # DISCORD_CLIENT_SECRET, with [web] gallery
    web_session_secret: Secret | None = None  # WEB_SESSION_SECRET (else one per process)


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
    prompt_help: PromptHelpConfig = PromptHelpConfig()
    web: WebConfig = WebConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    source: Path | None = None
    # The model catalogue built for this config (bot.providers.catalogue.catalogue_for): derived
    # from the providers' published schemas, not configured, so it is no field.
    _catalogue: Any = PrivateAttr(default=None)

    @property
    def enabled_providers(self) -> tuple[str, ...]:
        return tuple(name for name in PROVIDER_NAMES if self.providers[name].enabled)
