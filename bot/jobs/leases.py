"""This process's share of the ledger-as-queue (db/leases.py): the leases on the jobs it runs,
their heartbeat, the wake-ups from other processes, and its check-in among the processes.

Why leases and not "jobs belong to whoever accepted them": with several processes (PostgreSQL)
any process may run any job, and one that dies must not take its jobs with it. Its leases run
out after `[database] lease_s`; every process looks for such jobs at least twice per lease
(`poll_s`) and when another process announces work (`NOTIFY`), and takes them over by their
provider request ids, as a restarted bot does. On SQLite (one process) the same code runs with
nobody else to see it: at start it takes every lease back, since no other process can hold one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable

from db.database import Database

log = logging.getLogger(__name__)

CHANNEL = "artfactory_jobs"  # NOTIFY channel: a job was queued, or a slot freed up


def process_id() -> str:
    """This process among the ledger's processes: host, pid and a nonce (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Claim(enum.Enum):
    TAKEN = "taken"  # ours to run
    BUSY = "busy"  # the bot-wide or the member's cap is full in all processes: wait
    ELSEWHERE = "elsewhere"  # another live process holds it, or it has ended


class LeaseKeeper:
    def __init__(
        self,
        db: Database,
        *,
        owner: str,
        lease_s: float,
        limits: tuple[int, int],
        role: str = "all",
        shards: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.owner = owner
        self.lease_s = lease_s
        self.limits = limits
        self.role = role
        self.shards = shards
        self.clock = clock
        self.shared = db.postgres

    @property
    def poll_s(self) -> float:
        """How often to look for jobs nobody holds when nothing announced any."""
        return self.lease_s / 2

    async def start(self) -> None:
        if not self.shared:
            released = await self.db.leases.release_all()
            if released:
                log.info("took back %d lease(s) left by the previous process", released)
        await self.check_in()

    async def check_in(self) -> None:
        now = self.clock()
        await self.db.leases.check_in(
            self.owner,
            role=self.role,
            shards=self.shards,
            host=socket.gethostname(),
            pid=os.getpid(),
            now=now,
        )
        await self.db.leases.forget_processes(now - 10 * self.lease_s)

    async def running_processes(self) -> int:
        """Processes that run jobs (this one included): how the Discord budgets are split."""
        since = self.clock() - 2 * self.lease_s
        return max(1, await self.db.leases.live_processes(since, role="worker"))

    async def claim(self, job_id: int) -> Claim:
        now = self.clock()
        leases = self.db.leases
        taken = await leases.claim(
            job_id, self.owner, now=now, lease_s=self.lease_s, limits=self.limits
        )
        if taken:
            return Claim.TAKEN
        holder = await leases.holder(job_id, now)
        if holder is not None and holder != self.owner:
            return Claim.ELSEWHERE
        job = await self.db.jobs.get(job_id)
        return Claim.ELSEWHERE if job is None or job.is_final else Claim.BUSY

    async def renew(self, running: Iterable[int]) -> set[int]:
        """Extend the leases of the jobs running here; returns those lost to another process."""
        running = list(running)
        held = await self.db.leases.renew(self.owner, running, self.clock() + self.lease_s)
        lost = set()
        for job_id in set(running) - held:
            holder = await self.db.leases.holder(job_id, self.clock())
            if holder is not None and holder != self.owner:
                lost.add(job_id)
        return lost

    async def release(self, job_ids: Iterable[int] | None = None) -> None:
        """Leases given back; the others are told so they take the jobs at once."""
        ids = None if job_ids is None else list(job_ids)
        if await self.db.leases.release(self.owner, ids):
            await self.announce()

    async def announce(self) -> None:
        """Wake the other processes: a job was queued, or a slot freed up."""
        if self.shared:
            with contextlib.suppress(Exception):  # they poll anyway; never fail a job for it
                await self.db.notify(CHANNEL)

    async def listen(self, wake: Callable[[], None]) -> None:
        if self.shared:
            await self.db.listen(CHANNEL, wake)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.release()
            await self.db.leases.check_out(self.owner)


async def heartbeat(
    keeper: LeaseKeeper,
    running: Callable[[], Iterable[int]],
    lost: Callable[[int], None],
    share: Callable[[int], None],
) -> None:
    """Every third of a lease: renew this process's leases, drop the jobs another process took
    over (this one must have stalled past its lease), and re-split the Discord budgets."""
    while True:
        await asyncio.sleep(keeper.lease_s / 3)
        try:
            for job_id in await keeper.renew(running()):
                log.warning("job %s: another process took it over; stopping it here", job_id)
                lost(job_id)
            await keeper.check_in()
            share(await keeper.running_processes())
        except Exception:
            log.exception("lease heartbeat failed")
