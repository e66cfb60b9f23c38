"""Property-based test of the runner's invariants under random interleavings of submits,
progress, crashes, restarts, cancels and timeouts (hypothesis drives the schedule).

The provider here is an in-memory implementation of the bot's own `Provider` interface (it
keeps its state across "restarts", like a remote service would), and the messenger records what
members would see; the ledger is the real SQLite database and the images come from the
loopback CDN over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.config import parse_config
from bot.delivery.downloads import ImageFile
from bot.delivery.messenger import Delivered
from bot.errors import ProviderError, QuotaExceeded
from bot.jobs.intake import JobService
from bot.jobs.model import FINAL_STATES, Origin
from bot.jobs.retry import RetryPolicy
from bot.jobs.runner import JobRunner
from bot.providers.base import GeneratedImage, GenerationResult, Provider, ProviderUpdate
from bot.providers.request import GenerationRequest, build_request
from db.database import Database
from tests.fakes.cdn import FakeCDN, make_png

BEHAVIOURS = ("ok", "ok", "fail", "hang", "refuse", "ambiguous")


@dataclass
class Remote:
    """What the provider 'service' knows; survives bot restarts."""

    behaviour: str
    started: float
    cancelled: bool = False


@dataclass
class ScriptedProvider(Provider):
    cdn_url: str
    plans: dict[str, list[str]] = field(default_factory=dict)  # prompt -> behaviours, in order
    remote: dict[str, Remote] = field(default_factory=dict)
    submits: Counter[str] = field(default_factory=Counter)  # prompt -> accepted submits
    ids: itertools.count[int] = field(default_factory=itertools.count)
    name = "fal"

    def build_input(
        self, request: GenerationRequest, image: str | None = None, extra: object = None
    ) -> dict[str, Any]:
        return {"prompt": request.prompt}

    async def submit(
        self, request: GenerationRequest, image: str | None = None, extra: object = None
    ) -> str:
        await asyncio.sleep(0.02)  # the request is on the wire: a crash now is ambiguous
        plan = self.plans.setdefault(request.prompt, [])
        behaviour = plan.pop(0) if plan else "ok"
        if behaviour == "refuse":
            raise ProviderError("fal", "busy", retryable=True, status=503)
        request_id = f"r{next(self.ids)}"
        self.submits[request.prompt] += 1
        await asyncio.sleep(0.02)  # accepted, but the answer is still on its way back
        self.remote[request_id] = Remote(behaviour, asyncio.get_running_loop().time())
        if behaviour == "ambiguous":
            raise ProviderError("fal", "timed out", retryable=True, maybe_accepted=True)
        return request_id

    async def watch(self, model: str, request_id: str) -> AsyncGenerator[ProviderUpdate, None]:
        remote = self.remote[request_id]
        while True:
            elapsed = asyncio.get_running_loop().time() - remote.started
            if remote.cancelled:
                yield ProviderUpdate("completed", error="cancelled")
                return
            if remote.behaviour != "hang" and elapsed > 0.08:
                error = "model error" if remote.behaviour == "fail" else None
                yield ProviderUpdate("completed", error=error)
                return
            yield ProviderUpdate("running", step=min(int(elapsed * 50), 3), total_steps=4)
            await asyncio.sleep(0.02)

    async def result(self, model: str, request_id: str) -> GenerationResult:
        remote = self.remote[request_id]
        if remote.behaviour == "fail" or remote.cancelled:
            raise ProviderError("fal", "model error", retryable=False, status=422)
        return GenerationResult(images=(GeneratedImage(self.cdn_url),), seed=1)

    async def cancel(self, model: str, request_id: str) -> None:
        self.remote[request_id].cancelled = True


@dataclass
class RecordingMessenger:
    """Stands in for Discord: records every final message per job."""

    deliveries: Counter[int] = field(default_factory=Counter)
    finals: Counter[int] = field(default_factory=Counter)
    progress_components: None = None

    async def edit(self, job_id: int, origin: Origin, content: str) -> None:
        await asyncio.sleep(0)

    async def finish(
        self,
        job_id: int,
        origin: Origin,
        content: str,
        files: Sequence[ImageFile] = (),
        *,
        kind: str | None = None,
        items: int | None = None,
        policy: RetryPolicy | None = None,
    ) -> Delivered:
        await asyncio.sleep(0.001)
        self.finals[job_id] += 1
        if files:
            self.deliveries[job_id] += 1
        return Delivered("edit", 1, ())


Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("new"), st.integers(1, 3)),
        st.tuples(st.just("wait"), st.integers(1, 6)),
        st.tuples(st.just("crash"), st.just(0)),
        st.tuples(st.just("cancel"), st.integers(0, 9)),
    ),
    min_size=1,
    max_size=14,
)
plans = st.lists(st.sampled_from(BEHAVIOURS), min_size=0, max_size=3)


async def run_schedule(
    tmp: Path, cdn_url: str, schedule: list[Step], job_plans: list[list[str]]
) -> None:
    config = parse_config(
        {
            "database": {"path": str(tmp / "ledger.db")},
            "generation": {
                "job_timeout_s": 0.6,
                "retry_attempts": 2,
                "retry_base_delay_s": 0.01,
                "max_jobs_per_user": 2,
                "max_concurrent_jobs": 3,
            },
            "quotas": {"images_per_user_per_day": 6},
        },
        {"DISCORD_TOKEN": "t", "FAL_KEY": "k"},
    )
    db = await Database.open(config.database.path)
    provider = ScriptedProvider(cdn_url)
    messenger = RecordingMessenger()
    session = aiohttp.ClientSession()
    policy = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02, total_s=1)

    def new_runner() -> JobRunner:
        return JobRunner(
            config,
            db,
            {"fal": provider},
            messenger,  # type: ignore[arg-type]
            session,
            retry_policy=policy,
            watchdog_interval_s=0.2,
        )

    runner = new_runner()
    await runner.start()
    service = JobService(config, db, runner)
    job_ids: list[int] = []
    try:
        for number, (action, arg) in enumerate(schedule):
            if action == "new":
                prompt = f"job-{number}"
                provider.plans[prompt] = list(job_plans[number % len(job_plans)])
                request = build_request(config, prompt=prompt, count=arg)
                origin = Origin(number % 2, 1, 1, 1, None, f"tok{number}", 0.0, 1, 10**7)
                with contextlib.suppress(QuotaExceeded):  # nothing is written then
                    job_ids.append(await service.create(request, origin))
            elif action == "wait":
                await asyncio.sleep(arg * 0.03)
            elif action == "crash":
                await runner.stop()  # tasks die where they stand; nothing is tidied up
                runner = new_runner()
                service = JobService(config, db, runner)
                await runner.start()
            elif action == "cancel" and job_ids:
                await runner.cancel(job_ids[arg % len(job_ids)], 99)
        async with asyncio.timeout(30):
            while True:  # let everything settle (deadlines are 0.6 s)
                await runner.wait_idle()
                await asyncio.sleep(0.25)
                if runner.idle.is_set():
                    break

        jobs = [await db.jobs.get(job_id) for job_id in job_ids]
        for job in jobs:
            assert job is not None
            assert job.state in FINAL_STATES, (job.id, job.state)
            assert job.error != "Something went wrong inside the bot.", job.id  # no crashes
            assert messenger.deliveries[job.id] <= 1
            assert (messenger.deliveries[job.id] == 1) == (job.state == "done")
            assert provider.submits[f"job-{int(job.interaction_token[3:])}"] <= 1
            assert job.quota_state == ("committed" if job.state == "done" else "refunded")
        for user in (0, 1):
            used = sum(
                j.image_count
                for j in jobs
                if j is not None and j.state == "done" and j.user_id == user
            )
            assert await db.jobs.quota_used(user, jobs[0].quota_day if jobs else "") == (
                used if jobs else 0
            )
    finally:
        await runner.stop()
        await session.close()
        await db.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=steps, job_plans=st.lists(plans, min_size=1, max_size=4))
# Always try a crash while the submit's answer is in flight, and one mid-generation.
@example(schedule=[("new", 1), ("wait", 1), ("crash", 0), ("wait", 2)], job_plans=[["ok"]])
@example(schedule=[("new", 2), ("wait", 3), ("crash", 0), ("cancel", 0)], job_plans=[["ok"]])
def test_runner_invariants_hold_under_random_interleavings(
    tmp_path_factory: Any, schedule: list[Step], job_plans: list[list[str]]
) -> None:
    async def main() -> None:
        cdn = FakeCDN()
        await cdn.start()
        try:
            url = cdn.put("img.png", make_png(8, 8))
            await run_schedule(tmp_path_factory.mktemp("prop"), url, schedule, job_plans)
        finally:
            await cdn.close()

    asyncio.run(main())


async def test_the_watchdog_picks_up_a_job_whose_runner_died(tmp_path: Path) -> None:
    cdn = FakeCDN()
    await cdn.start()
    config = parse_config(
        {"database": {"path": str(tmp_path / "l.db")}}, {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}
    )
    db = await Database.open(config.database.path)
    session = aiohttp.ClientSession()
    provider = ScriptedProvider(cdn.put("i.png", make_png(8, 8)))
    messenger = RecordingMessenger()
    runner = JobRunner(
        config,
        db,
        {"fal": provider},
        messenger,
        session,
        watchdog_interval_s=0.1,  # type: ignore[arg-type]
    )
    try:
        await runner.start()
        # A row that no task holds, as if its runner had died without settling it.
        orphan = await JobService(config, db, JobSubmitterThatDrops()).create(
            build_request(config, prompt="orphan"), Origin(1, 1, 1, 1, None, "t", 0.0, 1, 10**7)
        )
        async with asyncio.timeout(10):
            while (job := await db.jobs.get(orphan)) is None or not job.is_final:
                await asyncio.sleep(0.05)
        assert job.state == "done" and messenger.deliveries[orphan] == 1
    finally:
        await runner.stop()
        await session.close()
        await db.close()
        await cdn.close()


class JobSubmitterThatDrops:
    def enqueue(self, job_id: int, user_id: int) -> None:
        """Forgets the job: the runner never hears of it."""
