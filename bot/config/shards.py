"""Gateway shards: `[discord] shard_count` / `shard_ids`, the `--shard-count` / `--shard-ids` flags
that replace them, and the one line for a shard set this version can't run.

Discord routes each guild's events to shard `(guild_id >> 22) % shard_count`. One process runs
every shard it is given (discord.py's `AutoShardedBot`); the shards of a count may only be split
over several processes that share a ledger, which needs PostgreSQL (`[database] url`):
SQLite serves one process, so there `shard_ids` that leave shards to another process, or a
`--role` other than `all`, are refused here, at start.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def check_shards(count: int | None, ids: Sequence[int] | None) -> None:
    """Raise `ValueError` with the whole "[discord] …" line when the shard set can't run here."""
    if ids is None:
        return
    shown = list(ids)
    if count is None:
        raise ValueError(
            f"[discord] shard_ids = {shown} needs [discord] shard_count (how many shards the "
            "bot has in all): set it too, or remove shard_ids."
        )
    if not shown:
        raise ValueError(
            "[discord] shard_ids = [] names no shard: list the shards to run, e.g. [0, 1], or "
            "remove it to run all of them."
        )
    for shard in shown:
        if not 0 <= shard < count:
            raise ValueError(
                f"[discord] shard_ids = {shown} names shard {shard}, but shard_count = {count} "
                f"numbers the shards 0 to {count - 1}: fix the id or the count."
            )
        if shown.count(shard) > 1:
            raise ValueError(
                f"[discord] shard_ids = {shown} lists shard {shard} twice: list each shard once."
            )


SEVERAL_PROCESSES = (
    "several processes need a shared PostgreSQL ledger: set [database] url = "
    '"postgresql://user@host:5432/artfactory" (or DATABASE_URL) in every process'
)


def check_one_process(count: int | None, ids: Sequence[int] | None, role: str) -> None:
    """On SQLite, refuse what would leave part of the bot to another process."""
    if role != "all":
        raise ValueError(
            f"[discord] role = {role!r} leaves the rest of the bot to another process, but "
            f"{SEVERAL_PROCESSES}; or remove --role to run everything in this one."
        )
    if count is None or ids is None:
        return
    left = [shard for shard in range(count) if shard not in ids]
    if left:
        raise ValueError(
            f"[discord] shard_ids = {list(ids)} leaves {_shards(left)} of {count} to another "
            f"process, but {SEVERAL_PROCESSES}; or remove shard_ids so this process runs all "
            f"{count} shards."
        )


def _shards(ids: list[int]) -> str:
    if len(ids) == 1:
        return f"shard {ids[0]}"
    return f"shards {', '.join(map(str, ids[:-1]))} and {ids[-1]}"


def add_shard_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shard-count",
        type=int,
        metavar="N",
        help="the bot's number of gateway shards; replaces [discord] shard_count",
    )
    parser.add_argument(
        "--shard-ids",
        type=_shard_list,
        metavar="0,1",
        help="the shards this process runs, comma-separated; replaces [discord] shard_ids",
    )
    parser.add_argument(
        "--role",
        choices=("all", "gateway", "worker"),
        help="all (default): everything; gateway: shards, acknowledgements and intake, no "
        "jobs; worker: runs jobs, no gateway (both need [database] url); replaces "
        "[discord] role",
    )


def _shard_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of shard numbers: use e.g. --shard-ids 0,1"
        ) from None


def shard_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The config keys the flags replace (the flags win over the file)."""
    keys: dict[str, Any] = {}
    if getattr(args, "role", None) is not None:
        keys["role"] = args.role
    if args.shard_count is not None:
        keys["shard_count"] = args.shard_count
    if args.shard_ids is not None:
        keys["shard_ids"] = args.shard_ids
    return {"discord": keys} if keys else {}
