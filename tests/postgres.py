"""A throwaway PostgreSQL for the suite's PostgreSQL half, and one schema per test ledger.

Every test that asks for `db_path` runs twice: on SQLite, and on PostgreSQL (tests/conftest.py).
The cluster is made once per session on loopback with `initdb` and `pg_ctl` (as the `postgres`
user when the tests run as root, because both refuse root), with fsync off: it is thrown away.
`ARTFACTORY_TEST_POSTGRES_URL` names a server to use instead. Without either, the PostgreSQL
half is skipped with one line saying why.

A test ledger is a schema of its own, named after the SQLite path the test would have used, so
a test that "restarts" the bot on the same `db_path` finds the same ledger; the URL carries
the schema as `search_path` (asyncpg passes unknown URL parameters on as server settings).
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ENV_URL = "ARTFACTORY_TEST_POSTGRES_URL"


@dataclass
class Cluster:
    url: str  # the server's database, without a search_path
    directory: Path | None  # ours to stop and remove; None for a server we were given

    def stop(self) -> None:
        if self.directory is None:
            return
        _as_postgres([_binary("pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate",
                      "stop"], check=False)  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(name)
    return candidates[-1]


def _as_postgres(argv: list[str], *, check: bool = True) -> None:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    subprocess.run(argv, check=check, capture_output=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_cluster() -> Cluster:
    """The server to test on; raises `RuntimeError` with the one-line reason if there is none."""
    given = os.environ.get(ENV_URL)
    if given:
        return Cluster(given, None)
    try:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    except FileNotFoundError:
        raise RuntimeError(
            f"PostgreSQL is not installed (no initdb): apt-get install postgresql, or set {ENV_URL}"
        ) from None
    directory = Path(tempfile.mkdtemp(prefix="artfactory-pg-"))
    os.chmod(directory, 0o777)
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
    )
    try:
        _as_postgres([initdb, "-D", str(directory / "data"), "-A", "trust", "-U", "postgres"])
        _as_postgres([pg_ctl, "-D", str(directory / "data"), "-o", options,
                      "-l", str(directory / "log"), "-w", "start"])  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL could not start a throwaway cluster: {exc}") from None
    return Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", directory)


def schema_for(path: Path) -> str:
    return "t_" + hashlib.sha1(str(path).encode()).hexdigest()[:20]


async def ledger_url(cluster: Cluster, path: Path) -> str:
    """A fresh (or, for the same path, the same) schema, as a URL the bot can be given."""
    schema = schema_for(path)
    conn = await asyncpg.connect(cluster.url)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute("CREATE EXTENSION IF NOT EXISTS citext SCHEMA public")
    finally:
        await conn.close()
    separator = "&" if "?" in cluster.url else "?"
    return f"{cluster.url}{separator}search_path={schema},public"


async def drop_ledger(cluster: Cluster, url: str) -> None:
    schema = url.rsplit("search_path=", 1)[1].split(",", 1)[0]
    conn = await asyncpg.connect(cluster.url)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                return
            except asyncpg.PostgresError:
                if time.monotonic() > deadline:
                    return  # left for the cluster's removal at the end of the session
                await asyncio.sleep(0.1)
    finally:
        await conn.close()
