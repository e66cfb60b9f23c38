"""`GET /metrics` (issue 17): Prometheus' text format, read back with prometheus-client's own
parser, moving by exactly what one job did, through the real bot against the loopback fakes."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.metrics import LAG_TICK_S, Metrics, discord_route
from tests.fakes.cdn import FakeCDN
from tests.fakes.civitai import FakeCivitai
from tests.fakes.civitai import Script as CivitaiScript
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.fakes.openai_images import FakeOpenAIImages
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.harness import Harness, running_bot

WEB = {"web": {"listen": "127.0.0.1:0"}}
DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana-dashboard.json"
CALLBACK = "POST /interactions/{id}/{token}/callback"
EDIT = "PATCH /webhooks/{id}/{token}/messages/{id}"
FAL_JOB = {"provider": "fal", "model": "fal-ai/flux/dev", "mode": "txt2img"}

Samples = list[tuple[str, dict[str, str], float]]


def parse(text: str) -> Samples:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


async def scrape(h: Harness) -> Samples:
    assert h.bot.web is not None and h.bot.web.port
    url = f"http://127.0.0.1:{h.bot.web.port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        return parse(await response.text())


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for sample, have, value in samples
        if sample == name and all(have.get(k) == v for k, v in labels.items())
    )


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


async def started(h: Harness) -> None:
    """The start's own traffic (the model catalogue's refresh) is over."""
    refresh = h.bot.catalogue_refresh
    if refresh is not None:
        await asyncio.wait_for(asyncio.shield(refresh), 30)


async def test_one_imagine_job_moves_each_of_its_counters_by_exactly_what_it_did(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.2, run_s=0.3, steps=1))
    async with running_bot(fake_discord, db_path, **WEB) as h:
        await started(h)
        before = await scrape(h)
        discord_seen, fal_seen = len(fake_discord.requests), len(fake_fal.requests)
        interaction = await h.imagine(prompt="a lighthouse")
        await h.idle()
        after = await scrape(h)

        job = await h.job_for(interaction)
        assert job is not None and job.state == "done" and job.cost
        assert moved(before, after, "artfactory_jobs_total", state="done", **FAL_JOB) == 1
        assert moved(before, after, "artfactory_jobs_total") == 1
        assert moved(before, after, "artfactory_jobs_accepted_total", **FAL_JOB) == 1
        assert moved(before, after, "artfactory_ack_seconds_count") == 1
        assert moved(before, after, "artfactory_delivery_seconds_count", provider="fal") == 1
        spent = moved(before, after, "artfactory_spend_total", guild=str(job.guild_id))
        assert spent == pytest.approx(job.cost)
        assert total(after, "artfactory_jobs_waiting") == total(after, "artfactory_jobs_running")
        assert total(after, "artfactory_jobs_running") == 0

        # Every request to fal's queue (submit, status stream, result) counted, with its status.
        fal_requests = len(fake_fal.requests) - fal_seen
        assert fal_requests >= 3
        counted = moved(before, after, "artfactory_provider_requests_total", provider="fal")
        assert counted == fal_requests
        status_200 = moved(
            before, after, "artfactory_provider_requests_total", provider="fal", status="200"
        )
        assert status_200 == fal_requests
        assert moved(before, after, "artfactory_provider_errors_total") == 0

        # Every Discord API request: the acknowledgement and each edit of the job's message.
        sent = fake_discord.requests[discord_seen:]
        edits = [r for r in sent if r.route == "PATCH /webhooks/{id}/{token}/messages/{mid}"]
        assert [r.route for r in sent].count(CALLBACK) == 1 and edits
        name = "artfactory_discord_requests_total"
        assert moved(before, after, name, route=CALLBACK, status="200") == 1
        assert moved(before, after, name, route=EDIT, status="200") == len(edits)
        assert moved(before, after, name) == len(sent)
        buckets = {labels["bucket"] for n, labels, _ in after if n == name}
        assert "" not in buckets  # the fake sends X-RateLimit-Bucket on every answer


async def test_every_series_carries_the_process_role_and_shards(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path, **WEB) as h:
        samples = await scrape(h)
    ours = [(name, labels) for name, labels, _ in samples if name.startswith("artfactory_")]
    assert ours
    assert all((labels["role"], labels["shards"]) == ("all", "all") for _, labels in ours)
    assert total(samples, "artfactory_process_info", role="all", shards="all") == 1
    assert total(samples, "process_cpu_seconds_total", shards="all") > 0


def test_the_shard_label_names_this_process_s_shards() -> None:
    metrics = Metrics(role="worker", shard_ids=[3, 1], shard_count=4)
    samples = parse(generate_latest(metrics.registry).decode())
    assert total(samples, "artfactory_process_info", role="worker", shards="1,3") == 1
    assert total(samples, "artfactory_process_info", shard_count="4") == 1
    assert all(labels["shards"] == "1,3" for _, labels, _ in samples)


async def test_a_discord_429_is_counted_by_route_bucket_and_scope(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, run_s=0.2, steps=1))
    fake_discord.inject("PATCH", r"^/webhooks/", status=429)
    async with running_bot(fake_discord, db_path, **WEB) as h:
        before = await scrape(h)
        await h.imagine(prompt="a busy day")
        await h.idle()
        after = await scrape(h)
    limited = "artfactory_discord_rate_limited_total"
    assert moved(before, after, limited, route=EDIT, scope="user") == 1
    assert moved(before, after, limited) == 1
    name = "artfactory_discord_requests_total"
    assert moved(before, after, name, route=EDIT, status="429") == 1
    (bucket,) = {labels["bucket"] for n, labels, _ in after if n == limited}
    assert total(after, name, route=EDIT, bucket=bucket, status="200") >= 1  # its own bucket


async def test_a_provider_error_is_counted_by_status(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, run_s=0.2, steps=1))
    fake_fal.inject(
        "POST", r"^/fal-ai/flux", status=500, headers={"X-Fal-Retryable": "true"}, times=1
    )
    async with running_bot(fake_discord, db_path, **WEB) as h:
        await started(h)
        before = await scrape(h)
        await h.imagine(prompt="a shaky start")
        await h.idle()
        after = await scrape(h)
    errors = "artfactory_provider_errors_total"
    assert moved(before, after, errors, provider="fal", status="500") == 1
    assert moved(before, after, errors) == 1
    requests = "artfactory_provider_requests_total"
    assert moved(before, after, requests, provider="fal", status="500") == 1
    assert moved(before, after, "artfactory_jobs_total", provider="fal") == 1


async def test_replicate_requests_are_counted_through_its_httpx_client(
    fake_discord: FakeDiscord, fake_replicate: FakeReplicate, db_path: Path
) -> None:
    fake_replicate.script(None, ReplicateScript(queue_s=0.1, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path, **WEB) as h:
        await started(h)
        before = await scrape(h)
        seen = len(fake_replicate.requests)
        await h.imagine(prompt="a harbour", provider="replicate")
        await h.idle()
        after = await scrape(h)
    sent = len(fake_replicate.requests) - seen
    assert sent >= 2  # the prediction, then its polls
    name = "artfactory_provider_requests_total"
    assert moved(before, after, name, provider="replicate") == sent
    assert moved(before, after, "artfactory_provider_errors_total") == 0
    assert moved(before, after, "artfactory_jobs_total", state="done", provider="replicate") == 1


async def test_civitai_calls_on_the_bots_session_are_counted_and_its_downloads_are_not(
    fake_discord: FakeDiscord, fake_civitai: FakeCivitai, db_path: Path
) -> None:
    fake_civitai.script(CivitaiScript(queue_s=0.1, queue_positions=[0], run_s=0.2))
    async with running_bot(
        fake_discord,
        db_path,
        providers={"civitai": fake_civitai.config()},
        generation={"default_provider": "civitai"},
        **WEB,
    ) as h:
        await started(h)
        before = await scrape(h)
        seen, downloads = len(fake_civitai.requests), len(fake_civitai.blobs.requests)
        await h.imagine(prompt="a watercolour fox")
        await h.idle()
        after = await scrape(h)
    assert len(fake_civitai.blobs.requests) > downloads  # the image, on the same session
    sent = len(fake_civitai.requests) - seen
    assert sent >= 2  # the workflow, then its polls
    name = "artfactory_provider_requests_total"
    assert moved(before, after, name, provider="civitai") == sent
    assert moved(before, after, name) == sent
    assert moved(before, after, "artfactory_jobs_total", state="done", provider="civitai") == 1


async def test_openai_requests_are_counted_through_the_sdks_httpx_client(
    fake_discord: FakeDiscord, fake_openai: FakeOpenAIImages, db_path: Path
) -> None:
    async with running_bot(
        fake_discord, db_path, providers={"openai": fake_openai.config()}, **WEB
    ) as h:
        await started(h)
        before = await scrape(h)
        seen = len(fake_openai.requests)
        await h.imagine(prompt="a paper boat", provider="openai")
        await h.idle()
        after = await scrape(h)
    sent = len(fake_openai.requests) - seen
    assert sent >= 1
    name = "artfactory_provider_requests_total"
    assert moved(before, after, name, provider="openai", status="200") == sent
    assert moved(before, after, "artfactory_jobs_total", state="done", provider="openai") == 1


async def test_quota_and_budget_refusals_are_counted_by_kind(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    quotas = {"images_per_user_per_day": 2, "monthly_budget_per_server": 0.01}
    async with running_bot(fake_discord, db_path, quotas=quotas, **WEB) as h:
        before = await scrape(h)
        await h.imagine(prompt="over the budget")  # 1 image, about 0.025 > 0.01
        await h.settled()
        middle = await scrape(h)
        await h.imagine(prompt="over the quota", count=3)
        await h.settled()
        after = await scrape(h)
    name = "artfactory_quota_refusals_total"
    assert moved(before, middle, name, kind="budget") == 1
    assert moved(before, middle, name) == 1
    assert moved(middle, after, name, kind="quota") == 1
    assert moved(middle, after, name) == 1
    assert moved(before, after, "artfactory_jobs_accepted_total") == 0


async def test_without_web_listen_there_is_no_endpoint_but_the_metrics_still_count(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, run_s=0.2, steps=1))
    async with running_bot(fake_discord, db_path) as h:
        assert h.bot.web is None
        await h.imagine(prompt="unwatched")
        await h.idle()
        samples = parse(generate_latest(h.bot.metrics.registry).decode())
    assert total(samples, "artfactory_jobs_total", state="done") == 1


async def test_the_loop_lag_gauge_shows_a_blocked_loop() -> None:
    metrics = Metrics()
    metrics.start()
    try:
        await asyncio.sleep(0.3)  # the probe is sleeping now
        time.sleep(0.6)  # noqa: ASYNC251 - the point: the loop is blocked
        await asyncio.sleep(0.3)
        samples = parse(generate_latest(metrics.registry).decode())
    finally:
        await metrics.stop()
    # At least the blocked time less the part of a tick the probe was still due to sleep.
    assert total(samples, "artfactory_event_loop_lag_max_seconds") >= 0.6 - LAG_TICK_S
    assert total(samples, "artfactory_event_loop_lag_seconds_count") >= 2


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("POST", "/interactions/12/aW50ZXJhY3Rpb246MTIz/callback", CALLBACK),
        (
            "PATCH",
            "/webhooks/7/tok-EN_1/messages/@original",
            "PATCH /webhooks/{id}/{token}/messages/@original",
        ),
        ("PATCH", "/webhooks/7/A1b2/messages/99", EDIT),
        (
            "PUT",
            "/channels/5/messages/6/reactions/%E2%AD%90/@me",
            "PUT /channels/{id}/messages/{id}/reactions/{emoji}/@me",
        ),
        ("GET", "/users/@me", "GET /users/@me"),
        ("GET", "/invites/AbCdEf", "GET /invites/{value}"),
    ],
)
def test_a_discord_route_has_its_ids_tokens_and_emoji_replaced(
    method: str, path: str, route: str
) -> None:
    assert discord_route(method, path) == route


# -- the sample dashboard ------------------------------------------------------------------------

METRIC_NAME = re.compile(r"\b(?:artfactory|process|python)_[a-z0-9_]+")


def exposed_names(metrics: Metrics) -> dict[str, set[str]]:
    """Each metric family the registry exposes, with every sample name it can have."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "info": ("_info",),
    }
    return {
        family.name: {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
        | {sample.name for sample in family.samples}
        for family in metrics.registry.collect()
    }


def expressions(dashboard: dict[str, Any]) -> Iterable[str]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query":
            yield query if isinstance(query, str) else query["query"]


def test_the_sample_dashboard_names_only_metrics_the_bot_exposes_and_shows_each() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    families = exposed_names(Metrics())
    exposed = set().union(*families.values())
    used = {name for expr in expressions(dashboard) for name in METRIC_NAME.findall(expr)}
    assert used and used <= exposed, sorted(used - exposed)
    ours = {name for name in families if name.startswith("artfactory_")}
    unshown = {name for name in ours if not families[name] & used}
    assert unshown == set(), sorted(unshown)
    (datasource,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert datasource["query"] == "prometheus"
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
