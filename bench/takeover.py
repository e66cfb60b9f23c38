"""The take-over half of bench/postgres.py: how long a SIGKILLed process's jobs wait.

Two processes share a PostgreSQL ledger with a short `[database] lease_s`. A few commands come
from the server on shard 0; once their fal generations are under way (their process holds the
leases and follows the status streams), that process is SIGKILLed. The other one must wait for
the leases to run out, notice (it looks at least twice per lease), claim the jobs and re-attach
to their provider request ids; the generation outlasts all that, so the job is then delivered
as usual. Timed from the kill, per job: the first request the survivor makes for the request id
at the fake fal, the moment the job's `owner` column changes (polled every 20 ms), delivery.
Between kills the killed process is started again, on the same shard.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import asyncpg

from bench.run import _FAL_JOB, WEBHOOK_PATCH, BotProcess, FalScript, Job, num

if TYPE_CHECKING:
    from bench.postgres import ShardedBench

# A read for the benchmark's own stopwatch, not the bot's: who holds each job, until when.
LEASES = (
    "SELECT provider_request_id, owner, lease_until FROM jobs WHERE provider_request_id = ANY($1)"
)


async def time_takeovers(bench: ShardedBench, url: str, args: argparse.Namespace) -> dict[str, Any]:
    await bench.start()
    conn = await asyncpg.connect(url)
    kills: list[dict[str, Any]] = []
    try:
        for n in range(args.kills):
            kill, victim = await one_kill(bench, conn, args, n)
            kills.append(kill)
            if n + 1 < args.kills:
                await restart(bench, victim, n)
    finally:
        await conn.close()
        await bench.close()
    return {
        "lease_s": args.lease_s,
        "kills": kills,
        "log_problems": bench.problems(args.logs, "takeover"),
    }


async def one_kill(
    bench: ShardedBench, conn: asyncpg.Connection, args: argparse.Namespace, n: int
) -> tuple[dict[str, Any], BotProcess]:
    """Commands from shard 0, the process holding their jobs SIGKILLed mid-generation: the
    figures, and the process killed."""
    # The generation outlasts the lease, the survivor's look-out (every lease_s / 2) and more.
    run_s = 3 * args.lease_s + 4
    bench.fal.script(None, FalScript(queue_s=0.2, queue_positions=[0], run_s=run_s, steps=28))
    jobs = [bench.new_job("fal", f"kill{n}") for _ in range(args.kill_jobs)]
    guilds, bench.guilds = bench.guilds, bench.guilds[:1]  # every command from shard 0
    try:
        for i, job in enumerate(jobs):
            await bench.send(job, 20_000 + i)
    finally:
        bench.guilds = guilds
    rids = await followed(bench, conn, jobs)
    await asyncio.sleep(1.0)  # mid-generation
    leases = await lease_rows(conn, list(rids))
    owner = Counter(o for o, _ in leases.values()).most_common(1)[0][0]
    victim = next(m for m in bench.group.live() if f":{m.pid}:" in owner)
    mine = {rid: job for rid, job in rids.items() if leases[rid][0] == owner}
    lease_left = max(leases[rid][1] for rid in mine) - time.time()
    seen = len(bench.fal.requests)
    killed = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.process is not None
    await victim.process.wait()
    print(f"[kill {n}] SIGKILL {victim.name} holding {len(mine)} job(s)", file=sys.stderr)
    times = await watch(bench, conn, mine, owner, seen, timeout=run_s + 60)
    await asyncio.sleep(args.lease_s)  # a second run of a job would show by now
    completion = [
        times["delivered"][rid] - done
        for rid in mine
        if rid in times["delivered"] and (done := bench.fal.completed_at(rid)) is not None
    ]
    return {
        "killed": victim.name,
        "jobs": len(mine),
        "lease_left_s": lease_left,
        "reattached_s": [t - killed for t in times["reattached"].values()],
        "owner_moved_s": [t - killed for t in times["moved"].values()],
        "delivered_s": [t - killed for t in times["delivered"].values()],
        "completion_to_delivery_s": completion,
        "taken_by": sorted(set(times["owners"].values())),
        **bench.repeats(mine.values()),
    }, victim


async def followed(
    bench: ShardedBench, conn: asyncpg.Connection, jobs: list[Job]
) -> dict[str, Job]:
    """Request id -> job, once every job was submitted, is leased and its status followed."""
    prompts = {job.prompt: job for job in jobs}
    async with asyncio.timeout(30):
        while True:
            rids = {rid: prompts[a["prompt"]] for _, a, rid in bench.fal.submits
                    if a.get("prompt") in prompts}  # fmt: skip
            asked = {m["id"] for r in bench.fal.requests if (m := _FAL_JOB.search(r.path))}
            leases = await lease_rows(conn, list(rids))
            owned = {rid for rid, (owner, _) in leases.items() if owner}
            if len(rids) == len(jobs) and set(rids) <= asked & owned:
                return rids
            await asyncio.sleep(0.05)


async def lease_rows(conn: asyncpg.Connection, rids: list[str]) -> dict[str, tuple[str, float]]:
    rows = await conn.fetch(LEASES, rids)
    return {r["provider_request_id"]: (r["owner"], r["lease_until"]) for r in rows}


async def watch(
    bench: ShardedBench,
    conn: asyncpg.Connection,
    mine: dict[str, Job],
    owner: str,
    seen: int,
    *,
    timeout: float,
) -> dict[str, dict[str, Any]]:
    """From the kill until every job is delivered (or `timeout`): when each was re-attached
    (first fal request for it), moved (`owner` changed, to whom) and delivered."""
    token_of = {job.inter.token: rid for rid, job in mine.items() if job.inter is not None}
    times: dict[str, dict[str, Any]] = {
        "reattached": {},
        "moved": {},
        "delivered": {},
        "owners": {},
    }
    names = {m.pid: m.name for m in bench.group.members if m.process is not None}
    posted = 0
    try:
        async with asyncio.timeout(timeout):
            while len(times["delivered"]) < len(mine):
                for rec in bench.fal.requests[seen:]:
                    m = _FAL_JOB.search(rec.path)
                    if m is not None and m["id"] in mine:
                        times["reattached"].setdefault(m["id"], rec.time)
                seen = len(bench.fal.requests)
                now = time.monotonic()
                for rid, (holder, _) in (await lease_rows(conn, list(mine))).items():
                    if holder != owner and rid not in times["moved"]:
                        times["moved"][rid] = now
                        pid = int(holder.split(":")[1]) if holder else 0
                        times["owners"][rid] = names.get(pid, str(holder))
                for sent in bench.discord.requests[posted:]:
                    token = sent.params.get("token")
                    if sent.route == WEBHOOK_PATCH and sent.files and token in token_of:
                        times["delivered"].setdefault(token_of[token], sent.time)
                posted = len(bench.discord.requests)
                await asyncio.sleep(0.02)
    except TimeoutError:
        pass
    return times


async def restart(bench: ShardedBench, killed: BotProcess, n: int) -> None:
    """The killed process again, same shard, a log of its own; back once its shard is live."""
    fresh = BotProcess(
        killed.workdir,
        killed.config,
        killed.env,
        None,
        flags=killed.flags,
        name=f"{killed.name}-{n + 2}",
    )
    bench.group.members.append(fresh)
    await fresh.start()
    async with asyncio.timeout(60):
        while len(bench.discord.live_shards()) < bench.processes:
            await asyncio.sleep(0.05)
    await asyncio.sleep(2.5)  # discord.py's READY waits `guild_ready_timeout` for guilds


# ------------------------------------------------------------------------------ the table


def spread(values: list[float]) -> str:
    if not values:
        return "—"
    low, high = min(values), max(values)
    return f"{low:.2f} s" if high - low < 0.005 else f"{low:.2f}–{high:.2f} s"


def takeover_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = [
        f"kill (lease_s = {result['lease_s']:g})",
        "lease left at the kill",
        "kill → re-attached (survivor's first fal request)",
        "kill → `owner` changed",
        "kill → delivered",
        "fal COMPLETED → delivered",
        "delivered",
    ]
    rows = []
    for n, kill in enumerate(result["kills"], 1):
        rows.append(
            [
                f"{n}: {kill['killed']} → {', '.join(kill['taken_by']) or 'nobody'}",
                f"{num(kill['lease_left_s'], 2)} s",
                spread(kill["reattached_s"]),
                spread(kill["owner_moved_s"]),
                spread(kill["delivered_s"]),
                spread(kill["completion_to_delivery_s"]),
                f"{len(kill['delivered_s'])}/{kill['jobs']}; twice: submitted "
                f"{kill['submitted_twice']}, delivered {kill['delivered_twice']}",
            ]
        )
    return header, rows
