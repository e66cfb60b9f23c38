from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.config import Secret, load_config, parse_config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
ENV = {"DISCORD_TOKEN": "discord-secret-token", "FAL_KEY": "fal-secret-key"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_with_documented_defaults(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.example.toml", ENV)
    assert config.discord.api_base == "https://discord.com/api/v10"
    assert config.discord.dev_guild_id is None
    assert config.database.path == "data/artfactory.db"
    assert config.generation.default_provider == "fal"
    assert config.providers["fal"].model == "fal-ai/flux/dev"
    assert config.providers["replicate"].model == "black-forest-labs/flux-dev"
    assert config.quotas.images_per_user_per_day == 25
    assert config.enabled_providers == ("fal",)


def test_empty_config_uses_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), ENV)
    assert config.generation.job_timeout_s == 300
    assert config.quotas.images_per_user_per_day == 25


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("", {"FAL_KEY": "k"}, "DISCORD_TOKEN is not set"),
        ("", {"DISCORD_TOKEN": "t"}, "FAL_KEY is not set"),
        (
            "[providers.replicate]\nenabled = true\n",
            ENV,
            "REPLICATE_API_TOKEN is not set",
        ),
        ("[generation]\njob_timout_s = 5\n", ENV, "unknown key 'job_timout_s' in [generation]"),
        ("[quotass]\n", ENV, "unknown section or key [quotass]"),
        ("[providers.midjourney]\n", ENV, "unknown provider [providers.midjourney]"),
        ('[generation]\ndefault_provider = "dalle"\n', ENV, "[generation] default_provider"),
        ('[quotas]\nimages_per_user_per_day = "lots"\n', ENV, "images_per_user_per_day"),
        ("[generation]\njob_timeout_s = -1\n", ENV, "job_timeout_s = -1.0 is out of range"),
        ('[discord]\napi_base = "discord.com"\n', ENV, "[discord] api_base"),
        ("[discord]\ndev_guild_id = -4\n", ENV, "[discord] dev_guild_id"),
        ("[generation]\nprogress_interval_s = 0.5\n", ENV, "progress_interval_s"),
        ("[generation\n", ENV, "is not valid TOML"),
    ],
)
def test_invalid_config_names_the_key(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"discord": 5}, "[discord] must be a table (a [discord] header followed by keys)."),
        (
            {"providers": []},
            "[providers] must be a table with [providers.fal] / [providers.replicate].",
        ),
        ({"providers": {"fal": "x"}}, "[providers.fal] must be a table."),
        (
            {"discord": {"shard_count": 1.5}},
            "[discord] shard_count = 1.5 is not valid: use a whole number.",
        ),
        (
            {"providers": {"fal": {"enabled": 1}}},
            "[providers.fal] enabled = 1 is not valid: use true or false.",
        ),
        (
            {"database": {"path": 3}},
            '[database] path = 3 is not valid: use a quoted string ("...").',
        ),
        (
            {"database": {"busy_wait_s": "1"}},
            "[database] busy_wait_s = '1' is not valid: use a number.",
        ),
        (
            {"generation": {"fallback_providers": "replicate"}},
            '[generation] fallback_providers must be a list of strings, e.g. ["a", "b"].',
        ),
        (
            {"costs": {"per_image": {"fal": "cheap"}}},
            "[costs] per_image must be a table of numbers, e.g. { fal = 0.025 }.",
        ),
        ({"costs": {"per_model": {"m": -1}}}, "[costs] per_model.m must be 0 or more."),
        (
            {"generation": {"fallback_providers": ["dalle"]}},
            "[generation] fallback_providers names unknown provider 'dalle': "
            "use 'fal' or 'replicate' or 'civitai' or 'openai'.",
        ),
        (
            {"generation": {"fallback_providers": ["replicate"]}},
            "[generation] fallback_providers names 'replicate' but [providers.replicate] is not "
            "enabled: enable it or remove it from the list.",
        ),
        (
            {"providers": {"fal": {"enabled": False}}},
            "[generation] default_provider is 'fal' but [providers.fal] enabled = false: "
            "enable it or choose another default provider.",
        ),
        ({"providers": {"fal": {"model": " "}}}, "[providers.fal] model is empty: set a model id."),
    ],
)
def test_each_kind_of_mistake_is_one_line_naming_the_key_and_the_fix(
    raw: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, ENV)
    assert str(info.value) == expected


def test_a_loaded_config_cannot_be_changed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), ENV)
    with pytest.raises(ValidationError, match="frozen"):
        config.generation.job_timeout_s = 1  # type: ignore[misc]
    assert config.generation.job_timeout_s == 300


def test_the_default_provider_is_enabled_unless_the_file_turns_it_off() -> None:
    config = parse_config(
        {"generation": {"default_provider": "replicate"}}, {**ENV, "REPLICATE_API_TOKEN": "r"}
    )
    assert config.enabled_providers == ("fal", "replicate")
    assert config.secrets.provider_keys["replicate"].get() == "r"


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cp config\.example\.toml config\.toml"):
        load_config(tmp_path / "nope.toml", ENV)


def test_secrets_never_show_in_reprs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), ENV)
    text = repr(config) + str(config)
    assert "discord-secret-token" not in text
    assert "fal-secret-key" not in text
    assert config.secrets.discord_token.get() == "discord-secret-token"
    assert repr(Secret("x")) == "Secret('********')"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "FAL_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_cli_invalid_config_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "[quotas]\nimages_per_user_per_day = -3\n")
    done = run_cli("--check", "--config", str(path), env=ENV)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "images_per_user_per_day" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_missing_secret_exits_2_without_echoing_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    done = run_cli("--check", "--config", str(path), env={"DISCORD_TOKEN": "sekrit-value"})
    assert done.returncode == 2
    assert "FAL_KEY is not set" in done.stderr
    assert "sekrit-value" not in done.stderr + done.stdout


def test_cli_check_accepts_valid_config(tmp_path: Path) -> None:
    done = run_cli("--check", "--config", str(ROOT / "config.example.toml"), env=ENV)
    assert done.returncode == 0, done.stderr
    assert "config OK" in done.stdout
