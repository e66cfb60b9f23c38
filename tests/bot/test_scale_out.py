"""Several bot processes on one PostgreSQL ledger (issue 13), as real `python -m bot` processes
against the loopback fakes (tests/processes.py): shards split over processes, the quota and
one-job-per-interaction held across them, a SIGKILLed process's job taken over by another, a
gateway process beside a worker, and Discord's request budget shared by all of them.

The processes `a` (shard 0) and `b` (shard 1) serve the tests up to the last of theirs, which
kills one of them. Without PostgreSQL these tests are skipped with the one-line reason
(tests/postgres.py); the SQLite refusal at the end needs none.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.jobs.intake import quota_day
from tests.fakes.discord import Interaction
from tests.fakes.fal import FakeFal, Script
from tests.postgres import Cluster
from tests.processes import (
    LEASE_S,
    QUOTA,
    ROOT,
    Fleet,
    delivered,
    fal_keys,
    fal_of_its_own,
    final_rows,
    fleet,
    imagine,
    row,
    serving,
    until,
    uploads,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def cluster(postgres_cluster: Cluster | str) -> Cluster:
    if isinstance(postgres_cluster, str):
        pytest.skip(postgres_cluster)
    return postgres_cluster


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fal() -> AsyncIterator[FakeFal]:
    """One fake fal for the module (the port is the session's: closed before other modules)."""
    async with fal_of_its_own() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(
    cluster: Cluster, fal: FakeFal, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Fleet]:
    """`a` runs shard 0, `b` shard 1 of 2; both accept and run jobs."""
    tmp = tmp_path_factory.mktemp("pair")
    a, b = ("shard_count = 2\nshard_ids = [0]", "shard_count = 2\nshard_ids = [1]")
    async with fleet(cluster, fal, tmp, 2, ("a", a, "all"), ("b", b, "all")) as crew:
        await asyncio.gather(
            serving(crew.fake, crew.bot("a"), 0), serving(crew.fake, crew.bot("b"), 1)
        )
        yield crew


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def split(
    cluster: Cluster, fal: FakeFal, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Fleet]:
    """A `gateway` process (every shard, no jobs) and a `worker` (jobs, no gateway)."""
    tmp = tmp_path_factory.mktemp("split")
    async with fleet(
        cluster, fal, tmp, 1, ("gateway", "", "gateway"), ("worker", "", "worker")
    ) as crew:
        await serving(crew.fake, crew.bot("gateway"), 0)
        yield crew


# ------------------------------------------------------------------ the rules


async def test_each_process_acknowledges_the_commands_of_its_own_shards_guilds(
    pair: Fleet,
) -> None:
    fake = pair.fake
    on_a = await imagine(fake, "a harbour at dawn", 5001)
    on_b = await imagine(fake, "a harbour at dusk", 5002, guild=pair.second)
    for interaction in (on_a, on_b):
        message = await delivered(interaction, pair.bots)
        assert len(message.attachments) == 1
        assert uploads(fake, interaction) == 1
    shards = {p["token"]: p["shard"] for p in fake.identify_payloads}
    assert shards == {"a-token": [0, 2], "b-token": [1, 2]}
    sent = {d.data["id"]: d.shard for d in fake.dispatches if d.event == "INTERACTION_CREATE"}
    assert sent == {str(on_a.id): [0, 2], str(on_b.id): [1, 2]}  # only a's, only b's session
    for interaction in (on_a, on_b):
        assert [c.status for c in interaction.callbacks()] in ([200], [204])
        found = await final_rows(pair.db, "interaction_id", interaction.id, "quota_state")
        assert found == [("done", "committed")]
    assert fake.spec_violations == []


async def test_an_interaction_delivered_to_both_processes_makes_one_job(pair: Fleet) -> None:
    fake, prompt, member = pair.fake, "a lighthouse, delivered twice", 5101
    twice = await imagine(fake, prompt, member, shard=[0, 1])
    message = await delivered(twice, pair.bots)
    await asyncio.sleep(1.0)  # whatever the second process does with it has happened by now
    reached = [d.shard for d in fake.dispatches if d.data.get("id") == str(twice.id)]
    assert sorted(reached) == [[0, 2], [1, 2]]
    found = await final_rows(pair.db, "interaction_id", twice.id, "quota_state")
    assert found == [("done", "committed")]
    statuses = [c.status for c in twice.callbacks()]
    assert len([s for s in statuses if s < 300]) == 1, statuses
    assert all(s < 300 or s == 400 for s in statuses), statuses  # 400: 40060, already acked
    assert len(message.attachments) == 1 and uploads(fake, twice) == 1
    assert len(fal_keys(pair.fal, prompt)) == 1
    assert twice.private_answers() == []  # no "something went wrong" from the second
    assert await pair.db.jobs.quota_used(member, quota_day(), fake.guild_id) == 1


async def test_the_process_whose_acknowledgement_was_refused_leaves_the_interaction_alone(
    pair: Fleet,
) -> None:
    """A 40060 on the acknowledgement means another process has the interaction (normal with
    several processes): no second try at answering it, and no error in the log."""
    fake = pair.fake
    logged = {bot.name: bot.log.stat().st_size for bot in pair.bots}
    twice = await imagine(fake, "a lighthouse, delivered twice again", 5102, shard=[0, 1])
    await delivered(twice, pair.bots)
    await asyncio.sleep(1.0)
    callbacks = [(c.status, c.json.get("type")) for c in twice.callbacks()]
    assert len(callbacks) == 2, callbacks  # one per process
    since = {bot.name: bot.log.read_bytes()[logged[bot.name] :].decode() for bot in pair.bots}
    errors = [
        f"{name}: {line}"
        for name, text in since.items()
        for line in text.splitlines()
        if " ERROR " in line or line.startswith("Traceback")
    ]
    assert errors == []


async def test_concurrent_commands_over_both_processes_take_exactly_the_quota_left(
    pair: Fleet,
) -> None:
    """50 /imagine of one member in one server at once, half reaching each process, with 5
    images left: 5 jobs, 45 refusals, 5 images charged."""
    fake, member = pair.fake, 5201
    burst = await asyncio.gather(
        *(imagine(fake, f"a fox, take {i}", member, shard=i % 2) for i in range(50))
    )

    def answered() -> tuple[list[Interaction], list[Interaction]]:
        refused = [i for i in burst if i.private_answers()]
        done = [i for i in burst if (m := i.original()) and m.attachments and not m.deleted]
        return refused, done

    async def settled() -> bool:
        return sum(map(len, answered())) >= 50

    await until(settled, 40)
    refused, done = answered()
    jobs = await final_rows(pair.db, "user_id", member, "quota_state")
    assert jobs == [("done", "committed")] * QUOTA
    assert len(done) == QUOTA and len(refused) == 50 - QUOTA
    answers = [i.private_answers() for i in refused]
    quota_line = f"You have used all {QUOTA} of your images for today."
    assert all(len(a) == 1 and a[0].startswith(quota_line) for a in answers), answers
    assert await pair.db.jobs.quota_used(member, quota_day(), fake.guild_id) == QUOTA
    assert len([s for s in pair.fal.submits if s[1]["prompt"].startswith("a fox")]) == QUOTA


async def test_discord_requests_of_all_processes_stay_within_the_bots_budget(
    pair: Fleet,
) -> None:
    """120 long jobs at once, half in each process: their progress edits together stay within
    Discord's 50 requests a second, counted over both processes."""
    fake, count = pair.fake, 120
    pair.fal.script(
        None, Script(queue_s=0.2, queue_positions=[0], run_s=12.0, steps=16), times=count
    )
    burst: list[Interaction] = []
    for index in range(count // 2):
        member, guild = 5300 + index, (fake.guild_id, pair.second)[index % 2]
        for take in range(2):
            burst.append(await imagine(fake, f"a storm {member}/{take}", member, guild=guild))
        await asyncio.sleep(0.05)

    async def acknowledged() -> bool:
        return all(i.responded_at is not None for i in burst)

    await until(acknowledged, 20)
    steady_from = max(i.responded_at or 0.0 for i in burst) + 1.0
    await asyncio.gather(*(delivered(i, pair.bots, timeout=90) for i in burst))
    tokens = {i.token for i in burst}
    first_done = min(r.time for r in fake.requests if r.files and r.params.get("token") in tokens)
    assert first_done - steady_from >= 3.0, "no window with every job running: slow machine?"
    peak = fake.peak_requests_per_second(since=steady_from, until=first_done)
    overall = fake.peak_requests_per_second(since=burst[0].sent_at)
    assert peak <= 50, f"{peak} requests in one second (whole burst: {overall})"


async def test_a_worker_without_a_gateway_delivers_jobs_a_gateway_process_accepted(
    split: Fleet,
) -> None:
    fake, prompt = split.fake, "a quiet workshop"
    interaction = await imagine(fake, prompt, 5501)
    message = await delivered(interaction, split.bots)
    assert len(message.attachments) == 1 and uploads(fake, interaction) == 1
    assert fal_keys(split.fal, prompt) == ["Key worker-key"]
    by_gateway = [r for r in split.fal.requests if "gateway-key" in str(r.headers)]
    assert [(r.method, r.path) for r in by_gateway] == []  # the gateway runs no job
    tokens = [p.get("token") for p in fake.identify_payloads]
    assert tokens.count("worker-token") == 0 and tokens.count("gateway-token") >= 1
    owner = await row(split.db, "SELECT owner FROM jobs WHERE interaction_id = ?", interaction.id)
    assert owner is not None and split.bot("worker").owns(owner[0]), owner
    assert fake.spec_violations == []


async def test_a_sigkilled_processs_job_is_taken_over_by_the_other_and_delivered_once(
    pair: Fleet,
) -> None:
    """Last: it kills one of the pair. The job is re-attached by its provider request id, not
    submitted again, and charged once."""
    fake, prompt, member = pair.fake, "a phoenix mid-flight", 5401
    pair.fal.script(None, Script(queue_s=0.2, queue_positions=[0], run_s=5.0, steps=10), times=1)
    interaction = await imagine(fake, prompt, member)
    query = "SELECT owner, provider_request_id FROM jobs WHERE interaction_id = ?"

    async def submitted() -> bool:
        found = await row(pair.db, query, interaction.id)
        return found is not None and found[0] is not None and found[1] is not None

    await until(submitted, 20)
    owner = await row(pair.db, query, interaction.id)
    assert owner is not None and owner[1] is not None, f"never submitted: {owner}"
    victim = next(b for b in pair.bots if b.owns(owner[0]))
    survivor = next(b for b in pair.bots if b is not victim)
    victim.process.kill()  # SIGKILL mid-generation: no cleanup of any kind
    await victim.process.wait()
    killed_at = time.monotonic()

    async def taken_over() -> bool:
        found = await row(pair.db, query, interaction.id)
        return found is not None and survivor.owns(found[0])

    await until(taken_over, 4 * LEASE_S)
    taken_after = time.monotonic() - killed_at
    assert taken_after < 4 * LEASE_S, f"not taken over in {taken_after:.1f}s\n{survivor.tail()}"
    message = await delivered(interaction, [survivor])
    await asyncio.sleep(LEASE_S)  # a second delivery or charge would show by now
    assert len(message.attachments) == 1
    assert sum(1 for r in fake.requests if r.files and r.time >= interaction.sent_at) == 1
    assert fal_keys(pair.fal, prompt) == [f"Key {victim.name}-key"]  # one submit, re-attached
    found = await final_rows(
        pair.db, "user_id", member, "quota_state, image_count, refunded_images"
    )
    assert found == [("done", "committed", 1, 0)]
    assert await pair.db.jobs.quota_used(member, quota_day(), fake.guild_id) == 1


async def test_a_worker_on_sqlite_is_refused_with_one_line_naming_database_url(
    tmp_path: Path,
) -> None:
    """No PostgreSQL needed: the config is refused before anything is opened."""
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "bot.db"}"\n', encoding="utf-8")
    env = {**os.environ, "DISCORD_TOKEN": "t", "FAL_KEY": "k"}
    env.pop("DATABASE_URL", None)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "--config", str(config), "--role", "worker"),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "[database] url" in lines[0], lines
    assert not (tmp_path / "bot.db").exists()
