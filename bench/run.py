"""Benchmark: the bot's own overhead, from one job to ten thousand in flight.

Runs the real bot (`python -m bot --config …`, a separate process) against the loopback fakes
of tests/fakes (Discord with per-route rate limits, fal over TLS, Replicate, an image CDN), in
this process, and prints a table. See bench/README.md for what each figure means.

    /work/venv/bin/python bench/run.py            # the full run, ~8 min on 2 cores
    /work/venv/bin/python bench/run.py --quick    # fewer jobs, a smoke test (~3 min)
    /work/venv/bin/python bench/run.py --no-scale --no-announce   # without the two long phases
    /work/venv/bin/python bench/run.py --profile  # the bot under cProfile (slower; see README)

Not part of the test suite: pytest only collects tests/.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import io
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tests.fakes.cdn import FakeCDN  # noqa: E402
from tests.fakes.discord import FakeDiscord, Interaction  # noqa: E402
from tests.fakes.fal import FakeFal  # noqa: E402
from tests.fakes.fal import Script as FalScript  # noqa: E402
from tests.fakes.replicate import FakeReplicate  # noqa: E402
from tests.fakes.replicate import Script as ReplicateScript  # noqa: E402
from tests.fakes.tls import make_tls  # noqa: E402

TOKEN = "bench-bot-token"
# Discord's documented/observed per-route limits, per bucket (major parameters: channel, or
# webhook id + token). Interaction callbacks have no bucket of their own beyond "once".
RATE_LIMITS: dict[str, tuple[int, float]] = {
    "PATCH /webhooks/{id}/{token}/messages/{mid}": (5, 2.0),
    "GET /webhooks/{id}/{token}/messages/{mid}": (5, 2.0),
    "DELETE /webhooks/{id}/{token}/messages/{mid}": (5, 2.0),
    "POST /webhooks/{id}/{token}": (5, 2.0),
    "POST /channels/{cid}/messages": (5, 5.0),
    "PATCH /channels/{cid}/messages/{mid}": (5, 5.0),
}
DISCORD_GLOBAL_LIMIT = 50  # requests/s per bot token (interaction endpoints are exempt)
WEBHOOK_PATCH = "PATCH /webhooks/{id}/{token}/messages/{mid}"
_FAL_JOB = re.compile(r"/requests/(?P<id>[^/]+)(?P<rest>/status/stream|/status|/cancel)?/?$")
_FRAME = re.compile(r"^(.*) \((?:.*/)?([^/:]+)(?::\d+)?\)$")  # "f (/x/y.py:12)" -> "f (y.py)"
_REP_JOB = re.compile(r"^/v1/predictions/(?P<id>[^/]+)(?P<rest>/cancel)?$")
# the bot's phases, in order (the naive baseline, between throughput and scale, is a process of
# its own)
PHASES = ("idle", "steady", "replicate", "burst", "throughput", "scale", "announce")
ANNOUNCE_CHANNEL_BASE = 60_000_000  # the announce phase's channels: this id + 0, 1, 2…
ANNOUNCE_CHANNELS = 5


# ------------------------------------------------------------------------------ statistics


def pct(values: Iterable[float], q: float) -> float | None:
    data = sorted(values)
    if not data:
        return None
    rank = max(0, min(len(data) - 1, round(q / 100 * len(data) + 0.5) - 1))
    return data[rank]


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.0f} ms"


def num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def le(value: float | None, goal: float) -> bool | None:
    return None if value is None else value <= goal


# ------------------------------------------------------------------------------ the bot


def fake_discord(**kwargs: Any) -> FakeDiscord:
    """The fake Discord with Discord's rate limits and no OpenAPI validation (it costs the fake
    milliseconds per request, which would be measured as the bot's latency; the test suite
    validates the same requests). `kwargs`: e.g. shard_count, max_concurrency."""
    fake = FakeDiscord(spec_path=None, **kwargs)
    fake.rate_limits = dict(RATE_LIMITS)
    return fake


class BotProcess:
    """`python -m bot --config …` with the fakes' environment, plus /proc readings."""

    def __init__(
        self,
        workdir: Path,
        config: Path,
        env: dict[str, str],
        profile: Path | None,
        *,
        flags: Sequence[str] = (),
        name: str = "bot",
    ):
        self.workdir = workdir
        self.config = config
        self.env = env
        self.profile = profile
        self.flags = list(flags)  # e.g. --shard-count 2 --shard-ids 0 (bench/postgres.py)
        self.name = name
        self.lag_log = workdir / f"{name}-loop-lag.log"
        self.log_path = workdir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**self.env, "ARTFACTORY_LOOP_LAG_LOG": str(self.lag_log)}
        prefix = [sys.executable]
        if self.profile is not None:
            prefix += ["-m", "cProfile", "-o", str(self.profile)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = await asyncio.create_subprocess_exec(
            *prefix,
            "-m",
            "bot",
            "--config",
            str(self.config),
            *self.flags,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def lag(self, since: float, until: float) -> list[tuple[float, float, int]]:
        """(max loop lag s, longest GC pause s, full collections) of each one-second window
        between two unix times, from the bot's loop-lag probe."""
        if not self.lag_log.exists():
            return []
        out = []
        for line in self.lag_log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6 and since <= float(parts[0]) <= until:
                out.append((float(parts[1]) / 1000, float(parts[4]) / 1000, int(parts[5])))
        return out

    async def stop(self) -> int:
        if self.process is None:  # never started
            return 0
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._log.close()
        return self.process.returncode or 0


# ------------------------------------------------------------------------------ one phase


@dataclass
class Job:
    n: int
    prompt: str
    provider: str
    inter: Interaction | None = None
    send_wall: float = 0.0
    channel_id: int | None = None  # None: its server's usual channel


@dataclass
class PhaseResult:
    name: str
    jobs: list[Job]
    started: float  # monotonic
    ended: float
    started_wall: float
    ended_wall: float
    cpu_s: float
    rss_samples: list[tuple[int, int]] = field(default_factory=list)  # (in flight, KiB)
    delivered: dict[str, float] = field(default_factory=dict)  # token -> monotonic time
    failed: int = 0
    undelivered: int = 0
    rate_limited: int = 0
    hwm_kb: int = 0  # the bot's peak RSS so far, read at the end of the phase


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = tempfile.TemporaryDirectory(prefix="artfactory-bench-")
        self.workdir = Path(self.tmp.name)
        self.tls = make_tls(self.workdir)
        self.cdn = FakeCDN()
        self.fal = FakeFal(self.tls, self.cdn, FakeFal.pick_port())
        self.replicate = FakeReplicate(self.cdn)
        self.discord = fake_discord()
        self.bot: BotProcess | None = None
        self.counter = 0
        self.results: dict[str, Any] = {}
        self._payloads_seen = 0  # discord.requests up to here: forget_new_payloads() did them

    # -- setup ------------------------------------------------------------------------

    async def start(self) -> None:
        for server in (self.cdn, self.fal, self.replicate, self.discord):
            await server.start()
        png = io.BytesIO()
        size = self.args.image_px
        Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(png, "PNG")
        self.image = png.getvalue()
        self.fal.image_bytes = self.image
        self.replicate.image_bytes = self.image
        config = self.workdir / "config.toml"
        config.write_text(
            f"""
[discord]
api_base = "{self.discord.api_base}"
dev_guild_id = {self.discord.guild_id}
[database]
{self.database_toml()}
[generation]
max_concurrent_jobs = {self.job_cap()}
max_jobs_per_user = 50
job_timeout_s = {self.job_timeout_s()}
[providers.fal]
poll_interval_s = 2.0
[providers.replicate]
enabled = true
poll_interval_s = 2.0
[quotas]
images_per_user_per_day = 1000000
[runtime]
event_loop = "{self.args.event_loop}"
""",
            encoding="utf-8",
        )
        env = {
            **os.environ,
            **self.fal.env("bench-fal-key"),
            "DISCORD_TOKEN": TOKEN,
            "REPLICATE_API_TOKEN": "bench-r8",
            "REPLICATE_BASE_URL": self.replicate.base_url,
        }
        env.pop("SSL_CERT_DIR", None)
        self.env = env
        self.spy: asyncio.subprocess.Process | None = None
        await self.start_bot(config)
        async with asyncio.timeout(60):
            await self.ready()
        # discord.py dispatches READY `guild_ready_timeout` (2 s) after the last guild.
        await asyncio.sleep(2.5)
        # The fakes time-stamp what they receive: a full collection in this process (the fakes
        # keep every request) would pause them and be measured as the bot's latency. So no
        # automatic collection here; run_phase() collects between phases.
        gc.collect()
        gc.freeze()
        gc.disable()

    def job_cap(self) -> int:
        """`max_concurrent_jobs`: no phase may wait for a slot, so at least the largest scale
        level and the announcement (10,000 at the least)."""
        largest = max([*(getattr(self.args, "scale_levels", None) or []), 0])
        return max(10_000, largest, getattr(self.args, "announce_jobs", None) or 0)

    def job_timeout_s(self) -> int:
        """`job_timeout_s`: 300, or longer if a scale level's generations last longer
        (a level of N generates for N / rate + 5 s, its last job starts N / rate s in)."""
        largest = max([*(getattr(self.args, "scale_levels", None) or []), 0])
        rate = getattr(self.args, "scale_rate", None) or 100.0
        return min(3600, max(300, int(2 * largest / rate + 120)))

    def database_toml(self) -> str:
        """The `[database]` keys (bench/postgres.py gives a PostgreSQL URL instead)."""
        return f'path = "{self.workdir / "data" / "bench.db"}"'

    async def start_bot(self, config: Path) -> None:
        profile = self.workdir / "bot.prof" if self.args.profile else None
        self.bot = BotProcess(self.workdir, config, self.env, profile)
        await self.bot.start()

    async def ready(self) -> None:
        """Until the bot is connected and its commands are synced."""
        await self.discord.identified.wait()
        while "imagine" not in self.discord.commands:
            await asyncio.sleep(0.05)

    async def start_py_spy(self) -> None:
        """Sample the bot with py-spy from now until stop_py_spy() (run_phase() does it for the
        phase named by --py-spy-phase)."""
        assert self.bot is not None
        if self.args.py_spy and self.spy is None:
            self.spy = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(self.bot.pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                *(["--duration", str(seconds)] if (seconds := self.args.py_spy_seconds) else []),
                "-o",
                str(self.args.py_spy),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )

    async def stop_py_spy(self) -> None:
        if self.spy is not None and self.spy.returncode is None:
            self.spy.send_signal(signal.SIGINT)
            await self.spy.wait()
            self.results["py-spy"] = summarise_py_spy(self.args.py_spy)
            self.results["py-spy-phase"] = self.args.py_spy_phase

    async def close(self) -> None:
        await self.stop_py_spy()
        if self.bot is not None:
            code = await self.bot.stop()
            self.results["bot_exit"] = code
            if self.args.profile and self.bot.profile is not None:
                self.results["profile"] = summarise_profile(self.bot.profile)
        for server in (self.discord, self.replicate, self.fal, self.cdn):
            await server.close()

    # -- jobs -------------------------------------------------------------------------

    def new_job(self, provider: str, tag: str) -> Job:
        self.counter += 1
        return Job(self.counter, f"bench {tag} {self.counter}", provider)

    async def send(self, job: Job, user_id: int) -> None:
        options = [{"name": "prompt", "type": 3, "value": job.prompt}]
        if job.provider != "fal":
            options.append({"name": "provider", "type": 3, "value": job.provider})
        job.send_wall = time.time()
        job.inter = await self.discord.send_interaction(
            "imagine",
            options,
            user_id=user_id,
            guild_id=self.guild_for(job),
            channel_id=job.channel_id,
        )

    def guild_for(self, job: Job) -> int | None:
        """The server a job's command comes from (None: the fake's first one, on shard 0)."""
        return None

    def state(self, job: Job) -> str:
        """ "pending", "delivered" (images posted) or "failed" (ended without images)."""
        inter = job.inter
        if inter is None:
            return "pending"
        message = inter.original()
        if message is None:
            return "pending"
        if message.attachments:
            return "delivered"
        content = message.content or ""
        if "Generation failed" in content or "Cancelled" in content or message.deleted:
            return "failed"
        return "pending"

    async def run_phase(
        self,
        name: str,
        jobs: list[Job],
        *,
        rate: float | None,
        users: int,
        timeout: float,
        sequential: bool = False,
    ) -> PhaseResult:
        """Send `jobs` at `rate` per second (None: all at once; `sequential`: one at a time,
        each after the previous was delivered) and wait until every one ended."""
        assert self.bot is not None
        gc.collect()  # the bench runs with automatic collection off (see start())
        if name == self.args.py_spy_phase:
            await self.start_py_spy()
        limited_before = self.discord.rate_limited_count
        cpu_before = self.bot.cpu_s()
        started, started_wall = time.monotonic(), time.time()
        result = PhaseResult(name, jobs, started, 0.0, started_wall, 0.0, 0.0)
        sampler = asyncio.create_task(self._sample_rss(jobs, result))
        sends: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout(timeout):
                for i, job in enumerate(jobs):
                    user = 10_000 + (i % users)
                    if sequential:
                        await self.send(job, user)
                        while self.state(job) == "pending":
                            await asyncio.sleep(0.01)
                        continue
                    if rate is not None:
                        wait = started + i / rate - time.monotonic()
                        if wait > 0:
                            await asyncio.sleep(wait)
                    sends.append(asyncio.create_task(self.send(job, user)))
                await asyncio.gather(*sends)
                await self._wait_ended(jobs)
        except TimeoutError:
            pass
        finally:
            sampler.cancel()
        await asyncio.sleep(0.3)  # let the last answers be recorded
        result.ended, result.ended_wall = time.monotonic(), time.time()
        if name == self.args.py_spy_phase:
            await self.stop_py_spy()
        result.cpu_s = self.bot.cpu_s() - cpu_before
        result.rate_limited = self.discord.rate_limited_count - limited_before
        states = Counter(self.state(j) for j in jobs)
        result.failed = states["failed"]
        result.undelivered = states["pending"]
        tokens = {j.inter.token for j in jobs if j.inter is not None}
        for rec in self.discord.requests:
            if rec.route == WEBHOOK_PATCH and rec.files and rec.params.get("token") in tokens:
                result.delivered.setdefault(rec.params["token"], rec.time)
        result.hwm_kb = self.bot.status_kb("VmHWM")
        peak_rss = max((kb for _, kb in result.rss_samples), default=0)
        print(
            f"[{name}] {len(jobs)} jobs: {len(result.delivered)} delivered, {result.failed} "
            f"failed, {result.undelivered} unfinished; {result.ended - started:.0f} s; bot CPU "
            f"{result.cpu_s:.1f} s; RSS peak {peak_rss // 1024} MB, high-water "
            f"{result.hwm_kb // 1024} MB",
            file=sys.stderr,
        )
        return result

    async def _wait_ended(self, jobs: list[Job]) -> None:
        """Until every job ended. Checked in order from the first unfinished one (jobs end
        roughly in the order they were sent), so a check costs the jobs that ended since the
        last one, not every job in flight: at 10,000 in flight a full pass stalls this
        process's loop, the fakes' clock, for ~6 ms, which would be measured as the bot's."""
        first = 0
        while first < len(jobs):
            while first < len(jobs) and self.state(jobs[first]) != "pending":
                first += 1
            if first < len(jobs):
                await asyncio.sleep(0.1)

    async def _sample_rss(self, jobs: list[Job], result: PhaseResult) -> None:
        """(jobs in flight, VmRSS) every 0.2 s. Ended jobs are not looked at again, and the
        count yields to the fakes every 1000 jobs (see _wait_ended)."""
        assert self.bot is not None
        unended = list(jobs)
        while True:
            in_flight = 0
            still: list[Job] = []
            for k, job in enumerate(unended):
                if k % 1000 == 999:
                    await asyncio.sleep(0)
                if self.state(job) == "pending":
                    still.append(job)
                    in_flight += job.inter is not None
            unended = still
            result.rss_samples.append((in_flight, self.bot.status_kb("VmRSS")))
            self.forget_new_payloads()
            await asyncio.sleep(0.2)

    # -- measurements -----------------------------------------------------------------

    def acks(self, result: PhaseResult) -> list[tuple[float, float]]:
        """(send time, ack latency) per job that was acknowledged."""
        out = []
        for job in result.jobs:
            inter = job.inter
            if inter is not None and inter.responded_at is not None:
                out.append((inter.sent_at, inter.responded_at - inter.sent_at))
        return out

    def in_flight_at(self, result: PhaseResult) -> Callable[[float], int]:
        sent = sorted(j.inter.sent_at for j in result.jobs if j.inter is not None)
        done = sorted(result.delivered.values())

        def count(t: float) -> int:
            return bisect.bisect_left(sent, t) - bisect.bisect_left(done, t)

        return count

    def fal_breakdown(self, result: PhaseResult) -> tuple[list[float], list[float], Counter[str]]:
        """Per job: provider requests, delivery latency; and request kinds overall."""
        prompts = {j.prompt: j for j in result.jobs}
        rid_of: dict[str, str] = {}
        for _, args, rid in self.fal.submits:
            if args.get("prompt") in prompts:
                rid_of[args["prompt"]] = rid
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for rec in self.fal.requests:
            m = _FAL_JOB.search(rec.path)
            if m is None:
                if rec.method == "POST" and isinstance(rec.json, dict):
                    prompt = rec.json.get("prompt")
                    if prompt in rid_of:
                        counts[rid_of[prompt]]["submit"] += 1
                continue
            rest = m["rest"] or ""
            kind = {"": "result", "/status": "status poll", "/status/stream": "status stream"}
            counts[m["id"]][kind.get(rest, "cancel")] += 1
        for _, path, _ in self.cdn.requests:
            parts = path.strip("/").split("/")
            if len(parts) >= 2 and parts[0] == "files":
                counts[parts[1]]["image download"] += 1
        return self._per_job(result, rid_of, counts, self.fal.completed_at)

    def replicate_breakdown(
        self, result: PhaseResult
    ) -> tuple[list[float], list[float], Counter[str]]:
        prompts = {j.prompt: j for j in result.jobs}
        rid_of = {inp.get("prompt"): pid for _, inp, pid in self.replicate.creates}
        rid_of = {p: r for p, r in rid_of.items() if p in prompts}
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for rec in self.replicate.requests:
            m = _REP_JOB.match(rec.path.rstrip("/"))
            if m is not None:
                counts[m["id"]]["cancel" if m["rest"] else "status poll"] += 1
            elif rec.method == "POST" and isinstance(rec.json, dict):
                prompt = (rec.json.get("input") or {}).get("prompt")
                if prompt in rid_of:
                    counts[rid_of[prompt]]["submit"] += 1
        for _, path, _ in self.cdn.requests:
            parts = path.strip("/").split("/")
            if len(parts) >= 2 and parts[0] == "xezq":
                counts[parts[1]]["image download"] += 1
        return self._per_job(result, rid_of, counts, self.replicate.completed_at)

    def _per_job(
        self,
        result: PhaseResult,
        rid_of: dict[str, str],
        counts: dict[str, Counter[str]],
        completed_at: Callable[[str], float | None],
    ) -> tuple[list[float], list[float], Counter[str]]:
        per_job: list[float] = []
        latency: list[float] = []
        kinds: Counter[str] = Counter()
        for job in result.jobs:
            rid = rid_of.get(job.prompt)
            if rid is None or job.inter is None:
                continue
            per_job.append(sum(counts[rid].values()))
            kinds.update(counts[rid])
            done = completed_at(rid)
            delivered = result.delivered.get(job.inter.token)
            if done is not None and delivered is not None:
                latency.append(delivered - done)
        return per_job, latency, kinds

    def discord_per_job(self, result: PhaseResult) -> tuple[list[float], float]:
        """Discord requests per job, and the share of them that counts against the global
        per-token limit (those sent with the bot token; interaction endpoints are exempt)."""
        tokens = {j.inter.token: 0 for j in result.jobs if j.inter is not None}
        global_counted = 0
        for rec in self.discord.requests:
            token = rec.params.get("token")
            if token in tokens:
                tokens[token] += 1
                if (rec.headers.get("Authorization") or "").startswith("Bot "):
                    global_counted += 1
        per_job = [float(v) for v in tokens.values()]
        return per_job, global_counted / max(len(per_job), 1)

    def lag_max(self, result: PhaseResult) -> tuple[float | None, float | None, int]:
        """Max loop lag, longest GC pause and number of full collections during a phase."""
        assert self.bot is not None
        windows = self.bot.lag(result.started_wall, result.ended_wall)
        if not windows:
            return None, None, 0
        return (
            max(w[0] for w in windows),
            max(w[1] for w in windows),
            sum(w[2] for w in windows),
        )

    def repeats(self, jobs: Iterable[Job]) -> dict[str, int]:
        """What must happen at most once per job, counted: jobs submitted to the provider
        twice (charged twice), delivered twice, and submitted but never delivered."""
        token_of = {j.prompt: j.inter.token for j in jobs if j.inter is not None}
        finals: Counter[str] = Counter()
        for rec in self.discord.requests:
            token = rec.params.get("token")
            if rec.route == WEBHOOK_PATCH and rec.files and token is not None:
                finals[token] += 1
        submits: Counter[str] = Counter()
        for _, arguments, _ in self.fal.submits:
            prompt = arguments.get("prompt")
            if isinstance(prompt, str) and prompt in token_of:
                submits[prompt] += 1
        return {
            "submitted_twice": sum(n > 1 for n in submits.values()),
            "delivered_twice": sum(finals[token_of[p]] > 1 for p in token_of),
            "submitted_not_delivered": sum(finals[token_of[p]] == 0 for p in submits),
        }

    def forget_new_payloads(self) -> None:
        """forget_payloads() for the requests answered since the last call and the messages
        they edited, as a phase goes: 10,000 deliveries would otherwise keep 10,000 uploaded
        images (~8 GB) in this process until the phase ends."""
        records = self.discord.requests
        i = self._payloads_seen
        while i < len(records) and records[i].status != 0:  # 0: still being answered
            rec = records[i]
            i += 1
            if not rec.files:
                continue
            for f in rec.files:
                f.data = b""
            token, mid = rec.params.get("token") or "", rec.params.get("mid") or ""
            if mid == "@original":
                message = self.discord.message(token)
            else:
                message = self.discord.message(int(mid)) if mid.isdigit() else None
            if message is not None:
                for f in (*message.attachments, *message.previous_attachments):
                    f.data = b""
        self._payloads_seen = i

    def forget_payloads(self) -> None:
        """Drop image bytes the fakes kept from earlier phases (they add up to gigabytes)."""
        for rec in self.discord.requests:
            for f in rec.files:
                f.data = b""
        for message in self.discord.messages.values():
            for f in (*message.attachments, *message.previous_attachments):
                f.data = b""


def summarise_py_spy(path: Path, top: int = 30) -> str:
    """Own and inclusive share of samples per function, from py-spy's collapsed stacks."""
    if not path.exists():
        return "(no py-spy output)"
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_FRAME.sub(r"\1 (\2)", f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "(no samples)"
    lines = [f"{total} samples; own time:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines.append("inclusive time:")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def summarise_profile(path: Path, top: int = 25) -> str:
    import pstats

    if not path.exists():
        return "(no profile written)"
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ------------------------------------------------------------------------------ the run


async def steady_phase(
    bench: Bench, args: argparse.Namespace, scale: float, slack_s: float = 90
) -> PhaseResult:
    """Arrivals at `steady_rate`/s, each a `generation_s` generation with 28 logged steps: in
    flight climbs to ~rate x generation time (1000) and completions run at `rate`/s. Jobs
    not delivered `slack_s` after the last generation could end are given up on."""
    gen_s = args.generation_s
    bench.fal.script(None, FalScript(queue_s=1.0, queue_positions=[2, 1, 0], run_s=gen_s, steps=28))
    return await bench.run_phase(
        "steady",
        [
            bench.new_job("fal", "steady")
            for _ in range(int(args.steady_rate * args.steady_s * scale))
        ],
        rate=args.steady_rate,
        users=500,
        timeout=gen_s + args.steady_s * scale + slack_s,
    )


async def throughput_phase(
    bench: Bench, args: argparse.Namespace, scale: float, timeout: float = 180
) -> tuple[PhaseResult, float | None, float]:
    """Jobs offered at `throughput_rate`/s to a 0 s provider, so the bot is the bottleneck:
    the phase, jobs/s completed (last delivery - first interaction) and bot CPU s per job."""
    bench.fal.script(None, FalScript(queue_s=0.0, queue_positions=[0], run_s=0.0, steps=0))
    tput = await bench.run_phase(
        "throughput",
        [bench.new_job("fal", "tput") for _ in range(int(args.throughput_jobs * max(scale, 0.5)))],
        rate=args.throughput_rate,
        users=500,
        timeout=timeout,
    )
    times = sorted(tput.delivered.values())
    first_sent = min(j.inter.sent_at for j in tput.jobs if j.inter is not None)
    span = (times[-1] - first_sent) if times else None
    jobs_per_s = len(times) / span if span else None
    return tput, jobs_per_s, tput.cpu_s / max(len(times), 1)


@dataclass
class ScaleLevel:
    """One level of the scale phase: N jobs in flight at once, and what they cost."""

    n: int
    result: PhaseResult
    peak: int  # jobs in flight at once (sent, not yet delivered)
    acks: list[float]
    delivery: list[float]
    discord_reqs: list[float]
    fal_reqs: list[float]

    @property
    def cpu_per_job(self) -> float:
        return self.result.cpu_s / self.n


def peak_in_flight(result: PhaseResult) -> int:
    """The most jobs sent and not yet delivered at once (just after each send)."""
    sent = sorted(j.inter.sent_at for j in result.jobs if j.inter is not None)
    done = sorted(result.delivered.values())
    return max(
        (bisect.bisect_right(sent, t) - bisect.bisect_right(done, t) for t in sent), default=0
    )


async def scale_phase(bench: Bench, args: argparse.Namespace) -> list[ScaleLevel]:
    """One level per N in `scale_levels`, smallest first, each drained before the next; py-spy
    (--py-spy-phase scale) samples all of them."""
    levels: list[ScaleLevel] = []
    if args.py_spy_phase == "scale":
        await bench.start_py_spy()
    try:
        for n in args.scale_levels:
            await asyncio.sleep(1.0)  # the previous phase's last settlements: not this level's
            levels.append(await scale_level(bench, args, n))
    finally:
        if args.py_spy_phase == "scale":
            await bench.stop_py_spy()
    return levels


async def scale_level(bench: Bench, args: argparse.Namespace, n: int) -> ScaleLevel:
    """N jobs offered at `scale_rate`/s, each generating for N / rate + 5 s (2 logged steps):
    all N are in flight before the first completes, then completions come at ~rate/s. Every
    job has a member of its own, so no per-member cap holds any back."""
    rate = args.scale_rate
    gen_s = n / rate + 5.0
    bench.fal.script(None, FalScript(queue_s=0.5, queue_positions=[0], run_s=gen_s, steps=2))
    result = await bench.run_phase(
        f"scale {n}",  # not "scale": scale_phase() runs py-spy across the levels
        [bench.new_job("fal", f"scale{n}") for _ in range(n)],
        rate=rate,
        users=n,
        timeout=2 * n / rate + gen_s + 120,
    )
    fal_reqs, delivery, _ = bench.fal_breakdown(result)
    discord_reqs, _ = bench.discord_per_job(result)
    level = ScaleLevel(
        n,
        result,
        peak_in_flight(result),
        [a for _, a in bench.acks(result)],
        delivery,
        discord_reqs,
        fal_reqs,
    )
    bench.forget_payloads()
    return level


def scale_rows(bench: Bench, levels: list[ScaleLevel]) -> list[tuple[str, str, str, str]]:
    """A row per level, and the ratio of the largest level's CPU per job to the smallest's."""
    rows = []
    for level in levels:
        r = level.result
        rss_kb = max((kb for _, kb in r.rss_samples), default=0)
        rows.append(
            (
                f"8. Cost per job, {level.n} in flight",
                f"{len(r.delivered)}/{level.n} delivered, peak {level.peak} in flight; bot CPU "
                f"{level.cpu_per_job * 1000:.1f} ms/job ({num(pct(level.discord_reqs, 50), 0)} "
                f"Discord requests/job); ack p50 {ms(pct(level.acks, 50))} · "
                f"p99 {ms(pct(level.acks, 99))}; delivery p50 {ms(pct(level.delivery, 50))} · "
                f"p99 {ms(pct(level.delivery, 99))}; RSS peak {rss_kb / 1024:.0f} MB; loop lag "
                f"max {ms(bench.lag_max(r)[0])}",
                "flat",
                "—",
            )
        )
    if len(levels) >= 2:
        low, high = min(levels, key=lambda lv: lv.n), max(levels, key=lambda lv: lv.n)
        cpu = high.cpu_per_job / low.cpu_per_job if low.cpu_per_job else None
        d_low, d_high = pct(low.delivery, 99), pct(high.delivery, 99)
        rows.append(
            (
                f"8. CPU per job, {high.n} vs {low.n} in flight",
                f"{num(cpu, 2)}× ({high.cpu_per_job * 1000:.1f} vs "
                f"{low.cpu_per_job * 1000:.1f} ms/job); delivery p99 {ratio(d_high, d_low)}",
                "≈ 1× (flat)",
                "—",
            )
        )
    return rows


def scale_notes(levels: list[ScaleLevel], rate: float) -> list[str]:
    return [
        f"scale {lv.n}: offered at {rate:g}/s, {lv.n / rate + 5:g} s generations; "
        f"{len(lv.result.delivered)} delivered, {lv.result.failed} failed, "
        f"{lv.result.undelivered} unfinished over {lv.result.ended - lv.result.started:.0f} s; "
        f"bot CPU {lv.result.cpu_s:.1f} s; requests/job p50 · p99: Discord "
        f"{num(pct(lv.discord_reqs, 50), 0)} · {num(pct(lv.discord_reqs, 99), 0)}, fal "
        f"{num(pct(lv.fal_reqs, 50), 0)} · {num(pct(lv.fal_reqs, 99), 0)}; "
        f"429s: {lv.result.rate_limited}"
        for lv in levels
    ]


async def announce_phase(bench: Bench, args: argparse.Namespace) -> PhaseResult:
    """`announce_jobs` /imagine in the same instant from one server (a member each, spread
    over ANNOUNCE_CHANNELS channels), each a ~2 s fal generation: every one must be
    acknowledged quickly; they are then delivered as fast as the bot can."""
    n = args.announce_jobs
    bench.fal.script(None, FalScript(queue_s=0.2, queue_positions=[0], run_s=2.0, steps=2))
    jobs = [bench.new_job("fal", "announce") for _ in range(n)]
    for job in jobs:
        job.channel_id = ANNOUNCE_CHANNEL_BASE + job.n % ANNOUNCE_CHANNELS
    result = await bench.run_phase("announce", jobs, rate=None, users=n, timeout=120 + n / 10)
    return result


def refused(job: Job) -> bool:
    """The member got an answer but no job: a private answer as the callback, or the public
    placeholder deleted (a refusal after the acknowledgement, cogs/ui/interactions.py)."""
    inter = job.inter
    if inter is None or inter.responded_at is None:
        return False
    if inter.response_type == 4:  # CHANNEL_MESSAGE: answered instead of deferred
        return True
    message = inter.original()
    return message is not None and message.deleted


def announce_note(result: PhaseResult) -> str:
    """How long the fake Discord took to dispatch the burst: a callback that arrives while it
    is still sending waits for its loop, so the first commands' acks can include part of it."""
    sent = [j.inter.sent_at for j in result.jobs if j.inter is not None]
    spread = max(sent) - min(sent) if sent else None
    return (
        f"announce phase: the fake Discord dispatched the {len(result.jobs)} commands over "
        f"{ms(spread)}; bot CPU {result.cpu_s:.1f} s over {result.ended - result.started:.0f} s; "
        f"RSS peak {max((kb for _, kb in result.rss_samples), default=0) / 1024:.0f} MB"
    )


def announce_rows(bench: Bench, result: PhaseResult) -> list[tuple[str, str, str, str]]:
    n = len(result.jobs)
    acks = [a for _, a in bench.acks(result)]
    p99 = pct(acks, 99)
    _, delivery, _ = bench.fal_breakdown(result)
    answered_all = len(acks) == n
    return [
        (
            f"9. Ack latency, {n} /imagine at once (one server)",
            f"p50 {ms(pct(acks, 50))} · p99 {ms(p99)} · max {ms(max(acks, default=None))} "
            f"({len(acks)}/{n} answered, {sum(refused(j) for j in result.jobs)} refused)",
            "p99 ≤ 500 ms",
            verdict(None if p99 is None else (p99 <= 0.5 and answered_all)),
        ),
        (
            f"9. Announcement of {n}: delivery",
            f"{len(result.delivered)}/{n} delivered ({result.failed} failed, "
            f"{result.undelivered} unfinished) in {result.ended - result.started:.0f} s; "
            f"delivery p50 {ms(pct(delivery, 50))} · p99 {ms(pct(delivery, 99))}; "
            f"{result.rate_limited} × 429; loop lag max {ms(bench.lag_max(result)[0])}",
            "—",
            "—",
        ),
    ]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    rows: list[tuple[str, str, str, str]] = []  # figure, measured, goal, verdict
    notes: list[str] = []
    scale = 0.25 if args.quick else 1.0
    gen_s = args.generation_s
    await bench.start()
    assert bench.bot is not None
    try:
        # 1. Idle: one job at a time (0 in flight), fal with a short generation.
        bench.fal.script(None, FalScript(queue_s=0.2, queue_positions=[0], run_s=0.5, steps=4))
        idle = await bench.run_phase(
            "idle",
            [bench.new_job("fal", "idle") for _ in range(args.idle_jobs)],
            rate=None,
            users=1,
            timeout=120,
            sequential=True,
        )
        idle_acks = [a for _, a in bench.acks(idle)]
        _, idle_delivery, _ = bench.fal_breakdown(idle)

        # 2. Steady state: ~1000 in flight, completions at `steady_rate`/s.
        steady = await steady_phase(bench, args, scale)
        hwm_kb = bench.bot.status_kb("VmHWM")
        in_flight = bench.in_flight_at(steady)
        acks = bench.acks(steady)
        peak = max((in_flight(t) for t, _ in acks), default=0)
        near = int(peak * 0.9)
        low = [a for t, a in acks if 50 <= in_flight(t) <= 150]
        high = [a for t, a in acks if in_flight(t) >= near]
        fal_reqs, fal_delivery, fal_kinds = bench.fal_breakdown(steady)
        discord_reqs, _ = bench.discord_per_job(steady)
        rss_at_peak = max((kb for n, kb in steady.rss_samples if n >= near), default=0)
        bench.forget_payloads()

        # 3. Replicate: the same job shape, adaptive polling (fewer jobs: same per-job figures).
        bench.replicate.script(None, ReplicateScript(queue_s=1.0, run_s=gen_s, steps=28))
        rep = await bench.run_phase(
            "replicate",
            [bench.new_job("replicate", "rep") for _ in range(int(args.replicate_jobs * scale))],
            rate=args.replicate_rate,
            users=100,
            timeout=gen_s + 120,
        )
        rep_reqs, rep_delivery, rep_kinds = bench.replicate_breakdown(rep)
        rep_discord, _ = bench.discord_per_job(rep)
        rep_peak = max((n for n, _ in rep.rss_samples), default=0)
        bench.forget_payloads()

        # 4. A burst of 200 simultaneous jobs in one channel, realistic rate limits on.
        bench.fal.script(None, FalScript(queue_s=0.5, queue_positions=[1, 0], run_s=6.0, steps=12))
        burst = await bench.run_phase(
            "burst",
            [bench.new_job("fal", "burst") for _ in range(int(200 * max(scale, 0.5)))],
            rate=None,
            users=200,
            timeout=120,
        )
        burst_acks = [a for _, a in bench.acks(burst)]
        burst_discord, _ = bench.discord_per_job(burst)
        _, burst_delivery, _ = bench.fal_breakdown(burst)
        bench.forget_payloads()

        # 5. Throughput with a 0 s provider: the bot is the bottleneck.
        tput, jobs_per_s, cpu_per_job = await throughput_phase(bench, args, scale)
        times = sorted(tput.delivered.values())
        tput_discord, tput_global = bench.discord_per_job(tput)
        bench.forget_payloads()

        # 6. The naive pattern on the same job shape, as its own process (before the largest
        # phases: after 10,000 jobs the fakes' own records slow them down).
        bench.fal.script(
            None, FalScript(queue_s=1.0, queue_positions=[2, 1, 0], run_s=gen_s, steps=28)
        )
        naive = await run_naive(bench, int(args.naive_jobs * scale), args.steady_rate, gen_s)

        # 7. Cost per job from 100 to 10,000 in flight; 8. an announcement's burst of commands.
        levels = [] if args.no_scale else await scale_phase(bench, args)
        announce = None if args.no_announce else await announce_phase(bench, args)
        bench.forget_payloads()
        lag_all = bench.bot.lag(idle.started_wall, time.time())
        bench_lag_windows = bench.bot.lag(steady.started_wall, steady.ended_wall)
    finally:
        await bench.close()

    # ---------------------------------------------------------------- the table
    p99_high = pct(high, 99)
    rows.append(
        (
            "1. Ack latency, 0 in flight",
            f"p50 {ms(pct(idle_acks, 50))} · p99 {ms(pct(idle_acks, 99))} (n={len(idle_acks)})",
            "—",
            "—",
        )
    )
    rows.append(
        (
            "1. Ack latency, ~100 in flight",
            f"p50 {ms(pct(low, 50))} · p99 {ms(pct(low, 99))} (n={len(low)})",
            "—",
            "—",
        )
    )
    rows.append(
        (
            f"1. Ack latency, ≥{near} in flight (peak {peak})",
            f"p50 {ms(pct(high, 50))} · p99 {ms(p99_high)} (n={len(high)})",
            "p99 ≤ 100 ms at 1000",
            verdict(le(p99_high, 0.1) if peak >= 900 else None),
        )
    )
    rows.append(
        (
            "1. Ack latency, 200 at once (burst)",
            f"p50 {ms(pct(burst_acks, 50))} · p99 {ms(pct(burst_acks, 99))}",
            "—",
            "—",
        )
    )
    d50, d99 = pct(fal_delivery, 50), pct(fal_delivery, 99)
    rows.append(
        (
            f"2. Delivery latency, fal, ~{peak} in flight",
            f"p50 {ms(d50)} · p99 {ms(d99)} (n={len(fal_delivery)})",
            "p50 ≤ 150 ms, p99 ≤ 500 ms",
            verdict(None if d50 is None else (d50 <= 0.15 and (d99 or 0) <= 0.5)),
        )
    )
    rows.append(
        (
            "2. Delivery latency, fal, idle",
            f"p50 {ms(pct(idle_delivery, 50))} · p99 {ms(pct(idle_delivery, 99))}",
            "—",
            "—",
        )
    )
    r50, r99 = pct(rep_delivery, 50), pct(rep_delivery, 99)
    rows.append(
        (
            f"2. Delivery latency, Replicate ({len(rep.jobs)} jobs)",
            f"p50 {ms(r50)} · p99 {ms(r99)}",
            "p50 ≤ 150 ms, p99 ≤ 500 ms",
            verdict(None if r50 is None else (r50 <= 0.15 and (r99 or 0) <= 0.5)),
        )
    )
    rows.append(
        (
            "2. Delivery latency, burst of 200",
            f"p50 {ms(pct(burst_delivery, 50))} · p99 {ms(pct(burst_delivery, 99))}",
            "—",
            "—",
        )
    )
    f50, f99 = pct(fal_reqs, 50), pct(fal_reqs, 99)
    rows.append(
        (
            f"3. fal requests/job, {gen_s:g} s generation",
            f"p50 {num(f50, 0)} · p99 {num(f99, 0)} ({kinds_text(fal_kinds, len(fal_reqs))})",
            "≤ 25",
            verdict(le(f99, 25)),
        )
    )
    q50, q99 = pct(rep_reqs, 50), pct(rep_reqs, 99)
    rows.append(
        (
            f"3. Replicate requests/job, {gen_s:g} s generation",
            f"p50 {num(q50, 0)} · p99 {num(q99, 0)} ({kinds_text(rep_kinds, len(rep_reqs))})",
            "≤ 25",
            verdict(le(q99, 25)),
        )
    )
    rows.append(
        (
            f"4. Discord requests/job, {gen_s:g} s generation, ~{peak} in flight",
            f"p50 {num(pct(discord_reqs, 50), 0)} · p99 {num(pct(discord_reqs, 99), 0)}; "
            f"429s: {steady.rate_limited}",
            "edits coalesced",
            "—",
        )
    )
    rows.append(
        (
            f"4. Discord requests/job, {gen_s:g} s generation, ~{rep_peak} in flight",
            f"p50 {num(pct(rep_discord, 50), 0)} · p99 {num(pct(rep_discord, 99), 0)}; "
            f"429s: {rep.rate_limited}",
            "edits coalesced",
            "—",
        )
    )
    rows.append(
        (
            "4. Burst of 200 in one channel",
            f"{burst.rate_limited} × 429; Discord requests/job p50 "
            f"{num(pct(burst_discord, 50), 0)} · p99 {num(pct(burst_discord, 99), 0)}",
            "0 × 429",
            verdict(burst.rate_limited == 0),
        )
    )
    rows.append(
        (
            "5. Throughput, 0 s provider",
            f"{num(jobs_per_s)} jobs/s ({len(times)} jobs); bot CPU "
            f"{cpu_per_job * 1000:.1f} ms/job → "
            f"{num(1 / cpu_per_job if cpu_per_job else None)} jobs/s per core",
            "≥ 50 jobs/s",
            verdict(None if jobs_per_s is None else jobs_per_s >= 50),
        )
    )
    global_ceiling = DISCORD_GLOBAL_LIMIT / tput_global if tput_global else None
    rows.append(
        (
            "5. Discord's ceiling for one token",
            f"{num(pct(tput_discord, 50), 0)} requests/job, {tput_global:.2f} of them under the "
            f"global 50/s limit → "
            + (f"{global_ceiling:.0f} jobs/s" if global_ceiling else "no global-limit ceiling"),
            "(reported)",
            "—",
        )
    )
    rows.append(
        (
            f"6. Peak RSS, ~{peak} in flight",
            f"{rss_at_peak / 1024:.0f} MB at the peak; high-water mark {hwm_kb / 1024:.0f} MB",
            "≤ 200 MB",
            verdict(hwm_kb / 1024 <= 200),
        )
    )
    lag_rows = [
        ("idle", bench.lag_max(idle)),
        ("steady", bench.lag_max(steady)),
        ("replicate", bench.lag_max(rep)),
        ("burst", bench.lag_max(burst)),
        ("throughput", bench.lag_max(tput)),
    ]
    lag_text = " · ".join(f"{n} {ms(v[0])}" for n, v in lag_rows)
    steady_lag = dict(lag_rows)["steady"]
    steady_windows = bench_lag_windows
    over = sum(1 for w in steady_windows if w[0] > 0.05)
    lag_text += f" (steady: {over} of {len(steady_windows)} seconds over 50 ms)"
    rows.append(
        (
            "6. Max event-loop lag",
            lag_text,
            "≤ 50 ms",
            verdict(le(steady_lag[0], 0.05)),
        )
    )
    gc_text = " · ".join(f"{n} {ms(v[1])} ({v[2]} full)" for n, v in lag_rows)
    rows.append(("6. Longest GC pause (full collections)", gc_text, "—", "—"))
    n_del, n_req = naive["delivery"], naive["requests"]
    rows.append(
        (
            "7. Naive baseline: delivery latency",
            f"p50 {ms(pct(n_del, 50))} · p99 {ms(pct(n_del, 99))} → bot is "
            f"{ratio(pct(n_del, 50), d50)} faster (p50)",
            "(ratio)",
            "—",
        )
    )
    rows.append(
        (
            "7. Naive baseline: provider requests/job",
            f"p50 {num(pct(n_req, 50), 0)} · p99 {num(pct(n_req, 99), 0)} → bot/naive "
            f"{ratio(f50, pct(n_req, 50))}",
            "(ratio)",
            "—",
        )
    )
    notes.append(
        f"steady phase: {len(steady.jobs)} jobs at {args.steady_rate:g}/s; delivered "
        f"{len(steady.delivered)}, failed {steady.failed}, unfinished {steady.undelivered}; "
        f"bot CPU {steady.cpu_s:.1f} s over {steady.ended - steady.started:.0f} s"
    )
    notes.append(
        f"throughput phase: offered {args.throughput_rate:g} jobs/s; bot CPU {tput.cpu_s:.1f} s "
        f"for {len(times)} jobs"
    )
    rows += scale_rows(bench, levels)
    notes += scale_notes(levels, args.scale_rate)
    if announce is not None:
        rows += announce_rows(bench, announce)
    if announce is not None:
        notes.append(announce_note(announce))
    notes.append(f"naive baseline: {naive['summary']}")
    notes.append(
        f"loop lag over the whole run: max {ms(max((w[0] for w in lag_all), default=None))}; "
        f"longest GC pause {ms(max((w[1] for w in lag_all), default=None))}, "
        f"{sum(w[2] for w in lag_all)} full collections"
    )
    return {"rows": rows, "notes": notes, "extra": bench.results}


def kinds_text(kinds: Counter[str], jobs: int) -> str:
    if not jobs:
        return "no jobs"
    return ", ".join(f"{k} {v / jobs:.1f}" for k, v in sorted(kinds.items()))


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.1f}×"


async def run_naive(bench: Bench, jobs: int, rate: float, gen_s: float) -> dict[str, Any]:
    """The naive client as its own process; delivery = fal completion → its channel post."""
    prefix = "naive job"
    channel_base = 50_000_000
    before = len(bench.discord.requests)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "naive.py"),
        "--jobs",
        str(jobs),
        "--rate",
        str(rate),
        "--api-base",
        bench.discord.api_base,
        "--channel-base",
        str(channel_base),
        "--token",
        TOKEN,
        "--prefix",
        prefix,
        cwd=ROOT,
        env=bench.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(gen_s + jobs / rate + 120):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        output = b"(timed out)"
    posted: dict[str, float] = {}
    for rec in bench.discord.requests[before:]:
        if rec.route == "POST /channels/{cid}/messages" and rec.files:
            content = rec.json.get("content") if isinstance(rec.json, dict) else None
            if isinstance(content, str):
                posted[content] = rec.time
    rid_of = {
        args.get("prompt"): rid
        for _, args, rid in bench.fal.submits
        if str(args.get("prompt", "")).startswith(prefix)
    }
    counts: Counter[str] = Counter()
    naive_ids = set(rid_of.values())
    for rec in bench.fal.requests:
        m = _FAL_JOB.search(rec.path)
        if m is not None and m["id"] in naive_ids:
            counts[m["id"]] += 1
    for _, path, _ in bench.cdn.requests:
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "files" and parts[1] in counts:
            counts[parts[1]] += 1
    delivery, requests = [], []
    for prompt, rid in rid_of.items():
        requests.append(float(counts[rid] + 1))  # + the submit
        done = bench.fal.completed_at(rid)
        if prompt in posted and done is not None:
            delivery.append(posted[prompt] - done)
    summary = output.decode(errors="replace").strip().splitlines()
    return {
        "delivery": delivery,
        "requests": requests,
        "summary": f"{jobs} jobs, {len(delivery)} delivered; {summary[-1] if summary else ''}",
    }


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {model}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def render(report: dict[str, Any], elapsed: float) -> str:
    lines = [f"Machine: {machine()}; run took {elapsed:.0f} s", ""]
    lines.append("| figure | measured | goal | verdict |")
    lines.append("| --- | --- | --- | --- |")
    for row in report["rows"]:
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.extend(f"- {note}" for note in report["notes"])
    if "py-spy" in report["extra"]:
        phase = report["extra"].get("py-spy-phase", "steady")
        lines += ["", f"Bot profile (py-spy, {phase} phase):", "", "```"]
        lines.append(report["extra"]["py-spy"].strip())
        lines.append("```")
    if "profile" in report["extra"]:
        lines += ["", "Bot profile (cProfile, top functions by own time):", "", "```"]
        lines.append(report["extra"]["profile"].strip())
        lines.append("```")
    return "\n".join(lines)


def workload_args(parser: argparse.ArgumentParser) -> None:
    """The flags bench/postgres.py shares: the steady and throughput workloads, the image."""
    parser.add_argument("--quick", action="store_true", help="a quarter of the jobs")
    parser.add_argument(
        "--event-loop",
        choices=("auto", "uvloop", "asyncio"),
        default="asyncio",
        help='the bot\'s [runtime] event_loop (uvloop needs `pip install -e ".[uvloop]"`)',
    )
    parser.add_argument("--generation-s", type=float, default=20.0)
    parser.add_argument("--steady-rate", type=float, default=50.0, help="arrivals per second")
    parser.add_argument("--steady-s", type=float, default=24.0, help="seconds of arrivals")
    parser.add_argument("--throughput-jobs", type=int, default=800)
    parser.add_argument("--throughput-rate", type=float, default=100.0)
    parser.add_argument("--image-px", type=int, default=512, help="side of the noise PNG")
    parser.add_argument("--json", type=Path, help="also write the raw rows here")


def levels_arg(text: str) -> list[int]:
    """--scale-levels: "100,1000,10000" -> [100, 1000, 10000] (sorted, each at least 1)."""
    try:
        levels = sorted(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not levels or levels[0] < 1:
        raise argparse.ArgumentTypeError("give at least one level, each at least 1")
    return levels


def raise_fd_limit(needed: int) -> None:
    """Each job in flight holds a connection in the bot (its fal status stream) and one in
    this process (the fake fal's end): 10,000 in flight need ~10,000 descriptors in each
    process. Raise the soft limit to the hard one (the bot inherits it), and say so if that is
    not enough."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        try:  # root (or CAP_SYS_RESOURCE) may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            soft = needed
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        print(
            f"warning: open files limited to {soft} (ulimit -n); the most jobs in flight "
            f"need ~{needed}: expect connection errors",
            file=sys.stderr,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    workload_args(parser)
    parser.add_argument("--profile", action="store_true", help="run the bot under cProfile")
    parser.add_argument("--idle-jobs", type=int, default=20)
    parser.add_argument("--replicate-jobs", type=int, default=200)
    parser.add_argument("--replicate-rate", type=float, default=20.0)
    parser.add_argument("--naive-jobs", type=int, default=1200)
    parser.add_argument(
        "--scale-levels",
        type=levels_arg,
        help="jobs in flight at each level of the scale phase (default 100,1000,10000; "
        "--quick 100,1000)",
    )
    parser.add_argument(
        "--scale-rate", type=float, default=100.0, help="scale phase: arrivals per second"
    )
    parser.add_argument("--no-scale", action="store_true", help="skip the scale phase")
    parser.add_argument(
        "--announce-jobs",
        type=int,
        help="commands at once in the announce phase (3000; --quick 750)",
    )
    parser.add_argument("--no-announce", action="store_true", help="skip the announce phase")
    parser.add_argument("--py-spy", type=Path, help="sample the bot with py-spy into this file")
    parser.add_argument(
        "--py-spy-phase",
        choices=PHASES,
        default="steady",
        help="the phase --py-spy samples (default: steady)",
    )
    parser.add_argument(
        "--py-spy-seconds",
        type=int,
        default=None,
        help="sample only the first N seconds of that phase (e.g. an announcement's acks)",
    )
    args = parser.parse_args()
    if args.scale_levels is None:
        args.scale_levels = [100, 1000] if args.quick else [100, 1000, 10_000]
    if args.announce_jobs is None:
        args.announce_jobs = 750 if args.quick else 3000
    raise_fd_limit(
        max(
            [0]
            + ([] if args.no_scale else args.scale_levels)
            + ([] if args.no_announce else [args.announce_jobs])
        )
        + 2000
    )
    started = time.monotonic()
    report = asyncio.run(run(args))
    text = render(report, time.monotonic() - started)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
