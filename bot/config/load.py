"""Reading the config: the TOML file, checked by the models, plus secrets from the environment.

Every problem leaves here as one `ConfigError` line that names the key and the fix, so
`python -m bot` can print it and exit 2 without a traceback.
"""

from __future__ import annotations

import os
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config.messages import explain
from bot.config.models import Config, ConfigFile, Secret, Secrets
from bot.config.providers import PROVIDER_NAMES, ProviderConfig
from bot.errors import ConfigError

MISSING_DISCORD_TOKEN = (
    "DISCORD_TOKEN is not set: export DISCORD_TOKEN=<your bot token> "
    "(Discord Developer Portal → your application → Bot → Reset Token)"
)


def load_config(
    path: str | Path,
    environ: typing.Mapping[str, str] | None = None,
    *,
    require_secrets: bool = True,
    overrides: typing.Mapping[str, typing.Mapping[str, Any]] | None = None,
) -> Config:
    """Read, validate and type the config file; raise `ConfigError` with one clear line.
    `require_secrets=False` (for `doctor`) leaves a missing secret empty instead, so every
    missing one can be reported at once. `overrides` replace keys of the file's sections
    (command-line flags such as `--shard-count`), and are checked like them."""
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
    if env.get("DATABASE_URL", "").strip():  # the environment wins over the file
        database = raw.setdefault("database", {})
        if isinstance(database, dict):
            database["url"] = env["DATABASE_URL"].strip()
    for section, keys in (overrides or {}).items():
        table = raw.setdefault(section, {})
        if isinstance(table, dict):  # else the file's own mistake is reported
            table.update(keys)
    return parse_config(raw, env, source=path, require_secrets=require_secrets)


def parse_config(
    raw: dict[str, Any],
    environ: typing.Mapping[str, str],
    *,
    source: Path | None = None,
    require_secrets: bool = True,
) -> Config:
    """Check the parsed TOML (`raw`) and read the secrets the enabled providers need."""
    try:
        file = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(explain(exc)) from None
    providers = file.providers.by_name()
    return Config(
        discord=file.discord,
        database=file.database,
        generation=file.generation,
        providers=providers,
        quotas=file.quotas,
        costs=file.costs,
        prompt_help=file.prompt_help,
        web=file.web,
        runtime=file.runtime,
        secrets=_secrets(file, providers, environ, require_secrets),
        source=source,
    )


def _secrets(
    file: ConfigFile,
    providers: dict[str, ProviderConfig],
    environ: typing.Mapping[str, str],
    require: bool,
) -> Secrets:
    default = file.generation.default_provider
    token = environ.get("DISCORD_TOKEN", "").strip()
    if not token and require:
        raise ConfigError(f"{MISSING_DISCORD_TOKEN}.")
    keys: dict[str, Secret] = {}
    for name in PROVIDER_NAMES:
        if not providers[name].enabled:
            continue
        var = providers[name].api_key_env
        value = environ.get(var, "").strip()
        if not value and require:
            how = (
                f"or set [providers.{name}] enabled = false"
                if name != default
                else "or choose another [generation] default_provider"
            )
            raise ConfigError(f"{var} is not set: export {var}=<your {name} API key>, {how}.")
        keys[name] = Secret(value)
    helper = None
    if file.prompt_help.enabled:
        var = file.prompt_help.api_key_env
        found = environ.get(var, "").strip()
        if not found and require:
            raise ConfigError(
                f"{var} is not set: export {var}=<your chat API key>, or set [prompt_help] "
                "enabled = false."
            )
        helper = Secret(found)
    client, session = _web_secrets(file, environ, require)
    return Secrets(
        discord_token=Secret(token),
        provider_keys=keys,
        prompt_help_key=helper,
        web_client_secret=client,
        web_session_secret=session,
    )


def _web_secrets(
    file: ConfigFile, environ: typing.Mapping[str, str], require: bool
) -> tuple[Secret | None, Secret | None]:
    """The web gallery signs members in with Discord: it needs the application's id, its
    secret and somewhere to serve; the session secret is optional (bot/web/gallery/session.py)."""
    web = file.web
    if not web.gallery:
        return None, None
    if web.listen is None:
        raise ConfigError('[web] gallery = true needs [web] listen, e.g. "127.0.0.1:8080".')
    if web.discord_client_id is None:
        raise ConfigError(
            "[web] gallery = true needs [web] discord_client_id = <your application id> "
            "(Discord Developer Portal → your application → OAuth2)."
        )
    secret = environ.get("DISCORD_CLIENT_SECRET", "").strip()
    if not secret and require:
        raise ConfigError(
            "DISCORD_CLIENT_SECRET is not set: export DISCORD_CLIENT_SECRET=<your application's "
            "OAuth2 client secret>, or set [web] gallery = false."
        )
    session = environ.get("WEB_SESSION_SECRET", "").strip()
    return Secret(secret), Secret(session) if session else None
