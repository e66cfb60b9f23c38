"""Benchmark: the bot on a shared PostgreSQL ledger, one process and two, against SQLite; and
how long the jobs of a killed process wait before another process takes them over.

Runs bench/run.py's steady and throughput workloads (its `Bench`, fakes and measurements) on
three set-ups, each with fresh fakes and a fresh ledger: SQLite with one process (the baseline),
PostgreSQL with one process, PostgreSQL with two (shards 0 and 1 of 2, half the commands from a
server on each). Then two processes with a short `[database] lease_s`: one is SIGKILLed while
its jobs are mid-generation, and the other's take-over is timed. The PostgreSQL server is a
throwaway cluster made for the run (tests/postgres.py). See bench/README.md.

    python bench/postgres.py --quick     # a quarter of the steady jobs, one kill (2.5-3 min)
    python bench/postgres.py             # the full steady workload, three kills (~5 min)

Not part of the test suite: pytest only collects tests/.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.run import (  # noqa: E402
    Bench,
    BotProcess,
    Job,
    PhaseResult,
    fake_discord,
    machine,
    ms,
    num,
    pct,
    steady_phase,
    throughput_phase,
    workload_args,
)
from bench.takeover import takeover_rows, time_takeovers  # noqa: E402
from tests.postgres import Cluster, drop_ledger, ledger_url, start_cluster  # noqa: E402

SETUPS = {  # --setups key: name, PostgreSQL?, processes
    "sqlite": ("SQLite, 1 process", False, 1),
    "pg": ("PostgreSQL, 1 process", True, 1),
    "pg2": ("PostgreSQL, 2 processes", True, 2),
}
PROBLEM_WORDS = (" WARNING ", " ERROR ", " CRITICAL ", "Traceback")
# A read for the benchmark's report, not the bot's: where an undelivered job's row stopped.
JOB_ROWS = (
    "SELECT id, state, owner, lease_until, submit_pending, provider_request_id, attempts, "
    "error, created_at, updated_at, interaction_token FROM jobs "
    "WHERE interaction_token = ANY($1) ORDER BY id"
)
# What every run logs here and means nothing: no voice libraries; api.fal.ai is not reachable,
# so the model catalogue keeps its snapshots.
NOISE = ("voice will NOT be supported", "using the snapshot schema of")


# ------------------------------------------------------------------------------ processes


class BotGroup(BotProcess):
    """The processes of one bot, read as one: CPU, memory and loop lag over all of them."""

    def __init__(self, members: list[BotProcess]) -> None:
        first = members[0]
        super().__init__(first.workdir, first.config, first.env, None, name="group")
        self.members = members

    async def start(self) -> None:
        for member in self.members:
            await member.start()

    @property
    def pid(self) -> int:
        return self.members[0].pid

    def live(self) -> list[BotProcess]:
        return [m for m in self.members if m.process is not None and m.process.returncode is None]

    def cpu_s(self) -> float:
        return sum(m.cpu_s() for m in self.live())

    def status_kb(self, key: str) -> int:
        return sum(m.status_kb(key) for m in self.live())

    def lag(self, since: float, until: float) -> list[tuple[float, float, int]]:
        return [w for m in self.members for w in m.lag(since, until)]

    async def stop(self) -> int:
        codes = await asyncio.gather(*(m.stop() for m in self.members))
        return next((c for c in codes if c not in (0, -signal.SIGKILL)), 0)

    def problems(self) -> dict[str, Any]:
        """Warnings, errors and tracebacks in the processes' logs: a count, the first lines."""
        found: list[str] = []
        for member in self.members:
            if member.log_path.exists():
                text = member.log_path.read_text(encoding="utf-8", errors="replace")
                found += [
                    f"{member.name}: {line}"
                    for line in text.splitlines()
                    if any(w in line for w in PROBLEM_WORDS) and not any(w in line for w in NOISE)
                ]
        return {"count": len(found), "first": found[:8]}

    def save_logs(self, folder: Path | None, prefix: str) -> None:
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        for member in self.members:
            if member.log_path.exists():
                shutil.copyfile(member.log_path, folder / f"{prefix}-{member.name}.log")


class ShardedBench(Bench):
    """bench/run.py's `Bench` on a given ledger (None: SQLite) with `processes` processes, each
    running one shard of as many; job n's command comes from the server on shard n mod that."""

    def __init__(
        self, args: argparse.Namespace, *, url: str | None, processes: int, lease_s: float
    ) -> None:
        super().__init__(args)
        self.url = url
        self.processes = processes
        self.lease_s = lease_s
        if processes > 1:
            self.discord = fake_discord(shard_count=processes, max_concurrency=processes)
        others = [self.discord.add_guild(shard=i) for i in range(1, processes)]
        self.guilds = [self.discord.guild_id, *others]
        self._group: BotGroup | None = None

    @property
    def group(self) -> BotGroup:
        assert self._group is not None, "start() first"
        return self._group

    def problems(self, logs: Path | None, prefix: str) -> dict[str, Any]:
        """The logs' warnings and errors (bench/run.py's temporary folder goes at the end: a
        copy of each log goes to `logs`, if given)."""
        if self._group is None:
            return {"count": 0, "first": []}
        self._group.save_logs(logs, prefix)
        return self._group.problems()

    def database_toml(self) -> str:
        path = super().database_toml()  # with a URL, only where the intake journals live
        if self.url is None:
            return path
        return f'{path}\nurl = "{self.url}"\nlease_s = {self.lease_s}'

    def flags(self, shard: int) -> list[str]:
        if self.processes == 1:
            return []
        return ["--shard-count", str(self.processes), "--shard-ids", str(shard)]

    async def start_bot(self, config: Path) -> None:
        members = [
            BotProcess(self.workdir, config, self.env, None, flags=self.flags(i), name=f"bot{i}")
            for i in range(self.processes)
        ]
        self.bot = self._group = BotGroup(members)
        await self._group.start()

    async def ready(self) -> None:
        await super().ready()
        while len(self.discord.live_shards()) < self.processes:
            await asyncio.sleep(0.05)

    def guild_for(self, job: Job) -> int | None:
        return self.guilds[job.n % len(self.guilds)]


# ------------------------------------------------------------------------------ the server


def server_cpu_s(cluster: Cluster) -> float | None:
    """CPU seconds the PostgreSQL server has used: the postmaster, its live backends, and the
    children it has reaped (None for a server this run did not start)."""
    if cluster.directory is None:
        return None
    pid_file = cluster.directory / "data" / "postmaster.pid"
    postmaster = int(pid_file.read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


# ------------------------------------------------------------------------------ one set-up


async def measure_setup(args: argparse.Namespace, cluster: Cluster, key: str) -> dict[str, Any]:
    """Steady and throughput workloads on one set-up, with its own fakes and ledger."""
    name, postgres, processes = SETUPS[key]
    print(f"== {name}", file=sys.stderr)
    scale = 0.25 if args.quick else 1.0
    url = await ledger_url(cluster, ROOT / f"bench-{os.getpid()}-{processes}") if postgres else None
    bench = ShardedBench(args, url=url, processes=processes, lease_s=args.steady_lease_s)
    out: dict[str, Any] = {"setup": name}
    try:
        await bench.start()
        server_before = server_cpu_s(cluster) if postgres else None
        steady = await steady_phase(bench, args, scale, slack_s=30)
        server_mid = server_cpu_s(cluster) if postgres else None
        out["steady"] = phase_figures(bench, steady, server_before, server_mid)
        out["steady"]["not_delivered"] = await not_delivered(bench, steady, url)
        bench.forget_payloads()
        if not args.no_throughput:
            # Twice the time it takes to offer the jobs, and 20 s, is ample for those that are
            # delivered (~10 s in --quick): the rest would not be.
            offer_s = args.throughput_jobs * max(scale, 0.5) / args.throughput_rate
            tput, jobs_per_s, _ = await throughput_phase(bench, args, scale, 20 + 2 * offer_s)
            server_after = server_cpu_s(cluster) if postgres else None
            out["throughput"] = phase_figures(bench, tput, server_mid, server_after)
            out["throughput"]["jobs_per_s"] = jobs_per_s
            out["throughput"]["not_delivered"] = await not_delivered(bench, tput, url)
    finally:
        await bench.close()
        out["bot_exit"] = bench.results.get("bot_exit")
        out["log_problems"] = bench.problems(args.logs, key)
        if url is not None:
            await drop_ledger(cluster, url)
        thaw()
    return out


def phase_figures(
    bench: ShardedBench, phase: PhaseResult, server_before: float | None, server_after: float | None
) -> dict[str, Any]:
    delivered = sorted(phase.delivered.values())
    n = len(delivered)
    acks = [a for _, a in bench.acks(phase)]
    _, delivery, _ = bench.fal_breakdown(phase)
    server_s = (
        None if server_before is None or server_after is None else server_after - server_before
    )
    span = delivered[-1] - delivered[0] if n > 1 else None
    return {
        "jobs": len(phase.jobs),
        "delivered": n,
        "failed": phase.failed,
        "unfinished": phase.undelivered,
        "completions_per_s": (n - 1) / span if span else None,
        "bot_cpu_s": phase.cpu_s,
        "bot_cpu_per_job_s": phase.cpu_s / n if n else None,
        "server_cpu_per_job_s": None if server_s is None or not n else server_s / n,
        "ack": {"p50": pct(acks, 50), "p95": pct(acks, 95), "n": len(acks)},
        "delivery": {"p50": pct(delivery, 50), "p95": pct(delivery, 95), "n": len(delivery)},
        "peak_rss_kb": max((kb for _, kb in phase.rss_samples), default=0),
        **bench.repeats(phase.jobs),
    }


async def not_delivered(
    bench: ShardedBench, phase: PhaseResult, url: str | None
) -> list[dict[str, Any]]:
    """The ledger's rows of a phase's jobs that were not delivered (PostgreSQL only), to
    see where each one stopped; each is also printed."""
    shown = {
        j.inter.token: (j.inter.original() or None)
        for j in phase.jobs
        if j.inter is not None and bench.state(j) != "delivered"
    }
    if url is None or not shown:
        return []
    conn = await asyncpg.connect(url)
    try:
        rows = [dict(r) for r in await conn.fetch(JOB_ROWS, list(shown)[:20])]
    finally:
        await conn.close()
    for row in rows:
        message = shown.get(row.pop("interaction_token"))
        row["discord_message"] = None if message is None else (message.content or "")[:160]
        print(f"[{phase.name}] not delivered: {row}", file=sys.stderr)
    return rows


def thaw() -> None:
    """Bench.start froze what the bench held then and turned the collector off: unfrozen, a
    finished set-up's fakes go in the next start's collection."""
    gc.unfreeze()
    gc.enable()


# ------------------------------------------------------------------------------ the table


PHASE_LABELS = {"steady": "steady", "throughput": "throughput, 0 s provider"}


def phase_cells(figures: dict[str, Any]) -> dict[str, str]:
    """One set-up's phase as the table shows it."""
    missing = figures["failed"] + figures["unfinished"]
    done = f"{figures['delivered']}/{figures['jobs']}"
    if missing:
        done += f" ({figures['failed']} failed, {figures['unfinished']} unfinished)"
    cells = {"jobs delivered": done}
    if "jobs_per_s" in figures:
        cells["jobs/s (first command → last delivery)"] = num(figures["jobs_per_s"])
    else:
        cells["completions/s (first → last delivery)"] = num(figures["completions_per_s"])
    cells["bot CPU per job (all processes)"] = ms(figures["bot_cpu_per_job_s"])
    cells["PostgreSQL server CPU per job"] = ms(figures["server_cpu_per_job_s"])
    for key in ("ack", "delivery"):
        cells[f"{key} latency p50 · p95"] = f"{ms(figures[key]['p50'])} · {ms(figures[key]['p95'])}"
    cells["peak RSS (all processes)"] = f"{figures['peak_rss_kb'] // 1024} MB"
    cells["jobs submitted twice · delivered twice · submitted, not delivered"] = " · ".join(
        str(figures[key])
        for key in ("submitted_twice", "delivered_twice", "submitted_not_delivered")
    )
    return cells


def setup_rows(setups: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for phase, title in PHASE_LABELS.items():
        cells = [phase_cells(s[phase]) if s.get(phase) else {} for s in setups]
        labels = dict.fromkeys(label for c in cells for label in c)
        rows += [[f"{title}: {label}", *(c.get(label, "—") for c in cells)] for label in labels]
    problems = [str(s["log_problems"]["count"]) for s in setups]
    return [*rows, ["warning/error lines in the bot's log", *problems]]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render(report: dict[str, Any], elapsed: float) -> str:
    setups = report["setups"]
    load = " → ".join(f"{a:.1f}" for a in (report["load_before"], os.getloadavg()[0]))
    lines = [f"Machine: {machine()}; run took {elapsed:.0f} s; load average {load}", ""]
    if setups:
        lines += table(["figure", *(s["setup"] for s in setups)], setup_rows(setups))
    if report.get("takeover"):
        lines += ["", *table(*takeover_rows(report["takeover"]))]
    problems = [(s["setup"], s["log_problems"]) for s in setups]
    if report.get("takeover"):
        problems.append(("take-over", report["takeover"]["log_problems"]))
    for setup in setups:
        for phase in PHASE_LABELS:
            rows = (setup.get(phase) or {}).get("not_delivered") or []
            if rows:
                lines += ["", f"{setup['setup']}, {phase}: the ledger's rows of undelivered jobs:"]
                lines += [f"    {row}" for row in rows]
    for name, found in problems:
        if found["count"]:
            lines += ["", f"{name}: {found['count']} warning/error lines in the bot's log, first:"]
            lines += [f"    {line}" for line in found["first"]]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the run


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cluster = start_cluster()
    # The load average of the machine before (the fakes, the bot and PostgreSQL share it).
    report: dict[str, Any] = {"setups": [], "takeover": None, "load_before": os.getloadavg()[0]}
    try:
        for key in args.setups:
            report["setups"].append(await measure_setup(args, cluster, key))
        if args.kills:
            print(f"== take-over after SIGKILL, lease_s = {args.lease_s:g}", file=sys.stderr)
            url = await ledger_url(cluster, ROOT / f"bench-{os.getpid()}-takeover")
            bench = ShardedBench(args, url=url, processes=2, lease_s=args.lease_s)
            try:
                report["takeover"] = await time_takeovers(bench, url, args)
            finally:
                await drop_ledger(cluster, url)
                thaw()
    finally:
        cluster.stop()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    workload_args(parser)
    parser.add_argument("--no-throughput", action="store_true", help="only the steady workload")
    parser.add_argument(
        "--setups", default="sqlite,pg,pg2", help="which set-ups, in order (default: all three)"
    )
    parser.add_argument("--logs", type=Path, help="keep a copy of every bot log in this folder")
    parser.add_argument(
        "--steady-lease-s", type=float, default=30.0, help="[database] lease_s of the set-ups"
    )
    parser.add_argument(
        "--lease-s", type=float, default=3.0, help="[database] lease_s for the take-over"
    )
    parser.add_argument(
        "--kills", type=int, help="processes killed one after another (default 3, --quick 1)"
    )
    parser.add_argument(
        "--kill-jobs", type=int, default=4, help="jobs mid-generation on the killed process"
    )
    args = parser.parse_args()
    args.setups = [key for key in args.setups.split(",") if key]  # "": the take-over only
    unknown = set(args.setups) - set(SETUPS)
    if unknown:
        parser.error(f"--setups: unknown {', '.join(sorted(unknown))}; use {', '.join(SETUPS)}")
    args.profile, args.py_spy, args.py_spy_phase = False, None, None  # run.py's, not offered
    args.py_spy_seconds = None
    if args.kills is None:
        args.kills = 1 if args.quick else 3
    started = time.monotonic()
    report = asyncio.run(run(args))
    print(render(report, time.monotonic() - started))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
