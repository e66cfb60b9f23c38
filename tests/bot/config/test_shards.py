"""`[discord] shard_count` / `shard_ids` and the flags that replace them: each mistake is one line
naming the key and the fix; on SQLite a set that leaves shards to another process (or a role
other than `all`) is refused, since several processes need a shared PostgreSQL ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import parse_args
from bot.config import load_config, parse_config
from bot.config.shards import shard_overrides
from bot.errors import ConfigError

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}


@pytest.mark.parametrize(
    ("discord", "expected"),
    [
        (
            {"shard_count": 2, "shard_ids": [0, 2]},
            "[discord] shard_ids = [0, 2] names shard 2, but shard_count = 2 numbers the shards "
            "0 to 1: fix the id or the count.",
        ),
        (
            {"shard_count": 2, "shard_ids": [-1, 0, 1]},
            "[discord] shard_ids = [-1, 0, 1] names shard -1, but shard_count = 2 numbers the "
            "shards 0 to 1: fix the id or the count.",
        ),
        (
            {"shard_count": 2, "shard_ids": [0, 1, 1]},
            "[discord] shard_ids = [0, 1, 1] lists shard 1 twice: list each shard once.",
        ),
        (
            {"shard_ids": [0, 1]},
            "[discord] shard_ids = [0, 1] needs [discord] shard_count (how many shards the bot "
            "has in all): set it too, or remove shard_ids.",
        ),
        (
            {"shard_count": 2, "shard_ids": []},
            "[discord] shard_ids = [] names no shard: list the shards to run, e.g. [0, 1], or "
            "remove it to run all of them.",
        ),
        (
            {"shard_count": 2, "shard_ids": "0,1"},
            "[discord] shard_ids must be a list of whole numbers, e.g. [0, 1].",
        ),
        ({"shard_count": 0}, "[discord] shard_count must be at least 1, or be removed."),
    ],
)
def test_each_shard_mistake_is_one_line_naming_the_key_and_the_fix(
    discord: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"discord": discord}, ENV)
    assert str(info.value) == expected


def test_shard_ids_that_leave_shards_to_another_process_are_refused_on_sqlite() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"discord": {"shard_count": 4, "shard_ids": [2, 0]}}, ENV)
    assert str(info.value) == (
        "[discord] shard_ids = [2, 0] leaves shards 1 and 3 of 4 to another process, but "
        "several processes need a shared PostgreSQL ledger: set [database] url = "
        '"postgresql://user@host:5432/artfactory" (or DATABASE_URL) in every process; or '
        "remove shard_ids so this process runs all 4 shards."
    )


@pytest.mark.parametrize("role", ["gateway", "worker"])
def test_a_role_that_leaves_work_to_another_process_is_refused_on_sqlite(role: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"discord": {"role": role}}, ENV)
    assert str(info.value) == (
        f"[discord] role = '{role}' leaves the rest of the bot to another process, but "
        "several processes need a shared PostgreSQL ledger: set [database] url = "
        '"postgresql://user@host:5432/artfactory" (or DATABASE_URL) in every process; or '
        "remove --role to run everything in this one."
    )


def test_shards_and_roles_split_over_processes_are_accepted_on_postgresql() -> None:
    url = "postgresql://bot@db:5432/artfactory"
    discord = {"shard_count": 4, "shard_ids": [1], "role": "gateway"}
    config = parse_config({"discord": discord, "database": {"url": url}}, ENV)
    assert (config.discord.shard_ids, config.discord.role) == ((1,), "gateway")
    assert config.database.target == url


def test_database_url_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[database]\nurl = "postgresql://file@db/a"\n', encoding="utf-8")
    env = {**ENV, "DATABASE_URL": "postgresql://env@db/b"}
    assert load_config(path, env).database.url == "postgresql://env@db/b"


def test_a_database_url_that_is_not_postgresql_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"\[database\] url .*postgresql://"):
        parse_config({"database": {"url": "mysql://db/a"}}, ENV)


def test_every_shard_of_the_count_in_any_order_is_accepted() -> None:
    config = parse_config({"discord": {"shard_count": 3, "shard_ids": [2, 0, 1]}}, ENV)
    assert config.discord.shard_count == 3
    assert config.discord.shard_ids == (2, 0, 1)


def test_by_default_the_bot_runs_every_shard_discord_recommends() -> None:
    config = parse_config({}, ENV)
    assert config.discord.shard_count is None
    assert config.discord.shard_ids is None


def test_the_shard_flags_replace_the_configs_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[discord]\nshard_count = 4\nshard_ids = [0, 1, 2, 3]\n", encoding="utf-8")
    args = parse_args(["--shard-count", "2", "--shard-ids", "1,0"])
    config = load_config(path, ENV, overrides=shard_overrides(args))
    assert (config.discord.shard_count, config.discord.shard_ids) == (2, (1, 0))
    count_only = shard_overrides(parse_args(["--shard-count", "5"]))  # the file's ids stay
    with pytest.raises(ConfigError, match=r"shard_ids = \[0, 1, 2, 3\] leaves shard 4 of 5 "):
        load_config(path, ENV, overrides=count_only)


def test_a_shard_ids_flag_that_is_no_list_of_numbers_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--shard-ids", "0,one"])
    assert exited.value.code == 2
    assert "'0,one' is not a list of shard numbers: use e.g. --shard-ids 0,1" in (
        capsys.readouterr().err
    )
