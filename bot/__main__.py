"""Entry point: `python -m bot --config config.toml` (add `--check` to only validate;
`db check`, `db migrate` and `doctor` are maintenance commands)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
from collections.abc import Sequence

import asyncpg
import discord

from bot.config import Config, load_config
from bot.config.shards import add_shard_flags, shard_overrides
from bot.errors import ConfigError
from bot.ops import eventloop, limits, tlsbuffers
from bot.refusals import RefusedByDiscord, explain
from db.database import redacted
from db.lock import LedgerLock, LedgerUnavailable

log = logging.getLogger("bot")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Art Factory: image generation for Discord servers."
    )
    parser.add_argument("--config", default="config.toml", help="path to the TOML config file")
    parser.add_argument(
        "--check", action="store_true", help="validate the config and exit (0 = valid)"
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    add_shard_flags(parser)  # --shard-count, --shard-ids: they win over [discord]
    parser.add_argument(
        "command",
        nargs="*",
        help="optional maintenance command: `db check` (ledger integrity), `db migrate` "
        "(apply pending migrations; not while the bot runs), `doctor` (each provider's key "
        "and reachability) or `healthcheck` (the running bot's /healthz, for containers)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    try:
        # doctor reports every missing secret itself, one line each, instead of the first one.
        # healthcheck only asks the running bot: it needs no secret.
        secrets = list(args.command or ()) not in (["doctor"], ["healthcheck"])
        config = load_config(args.config, require_secrets=secrets, overrides=shard_overrides(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        providers = ", ".join(config.enabled_providers)
        print(f"config OK: {args.config} (providers: {providers})")
        return 0
    if args.command:
        if list(args.command) in (["db", "check"], ["db", "migrate"]):
            from bot.ops.ledger import db_command

            return db_command(config, args.command[1])
        if list(args.command) == ["doctor"]:
            from bot.ops.doctor import doctor

            return asyncio.run(doctor(config))
        if list(args.command) == ["healthcheck"]:
            from bot.ops.healthcheck import healthcheck

            return healthcheck(config)
        print(
            f"unknown command {' '.join(args.command)!r}: use `db check`, `db migrate`, "
            "`doctor` or `healthcheck`.",
            file=sys.stderr,
        )
        return 2
    return serve(config)


def serve(config: Config) -> int:
    """Run the bot until it is stopped; every way it can't start is one line and exit 2."""
    try:
        # One process per SQLite ledger (db/lock.py): taken before the journal and the
        # database are opened, released once they are closed.
        # PostgreSQL serves several processes (db/postgres.py): no file lock there.
        lock = LedgerLock(config.database.path) if config.database.url is None else None
        with lock or contextlib.nullcontext():
            limits.raise_open_files()
            tlsbuffers.share_tls_read_buffers()
            eventloop.run(lambda: run_bot(config), config.runtime.event_loop)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except LedgerUnavailable as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except sqlite3.DatabaseError as exc:
        print(
            f"database error: {config.database.path}: {exc}: check the file, or run "
            "`python -m bot db check --config ...`.",
            file=sys.stderr,
        )
        return 2
    except (asyncpg.PostgresError, ConnectionError) as exc:  # unreachable, wrong password
        if config.database.url is None:
            raise
        print(
            f"database error: {redacted(config.database.url or '')}: {exc}: check [database] "
            "url (or DATABASE_URL) and that PostgreSQL is running.",
            file=sys.stderr,
        )
        return 2
    except RefusedByDiscord as exc:  # a refused token, too few shards, ... (bot/refusals.py)
        print(exc, file=sys.stderr)
        return 2
    return 0


async def run_bot(config: Config) -> None:
    from bot.app import ArtFactoryBot
    from bot.ops import looplag

    probe = looplag.start_from_env()  # None unless ARTFACTORY_LOOP_LAG_LOG is set
    log.info("event loop: %s", eventloop.name())
    bot = ArtFactoryBot(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with bot:
        token = config.secrets.discord_token.get()
        runner = asyncio.create_task(_start(bot, token, gateway=config.discord.role != "worker"))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("shutting down: unfinished jobs will resume on the next start")
            await asyncio.wait_for(bot.close(), timeout=8)
            runner.cancel()
        else:
            stopper.cancel()
        results = await asyncio.gather(runner, return_exceptions=True)
        if probe is not None:
            probe.cancel()
        error = results[0]
        if isinstance(error, BaseException) and not isinstance(error, asyncio.CancelledError):
            count, recommended = config.discord.shard_count, bot.gateway_pin.shards
            raise explain(error, shard_count=count, recommended=recommended)


async def _start(bot: discord.Client, token: str, *, gateway: bool = True) -> None:
    """`bot.start(token)`, i.e. `login` then `connect`, with the garbage-collector settings for
    a long run (see bot.ops.gctune) in between: `login` runs `setup_hook` (extensions, commands,
    shared clients), so start-up is over, and no interaction can arrive before the gateway
    connection, so the one full collection there (~40 ms) pauses nobody's command."""
    from bot.ops import gctune

    await bot.login(token)
    gctune.tune_for_long_run()
    if gateway:
        await bot.connect()
    else:  # --role worker: jobs from the ledger, answers over REST; no gateway to hold
        log.info("worker: running jobs from the ledger (no gateway connection)")
        await asyncio.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
