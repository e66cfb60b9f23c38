"""Prometheus metrics (issue 17): one registry per bot, served at `GET /metrics` when the web
server runs (bot/web/metrics.py). Each process of a bot exposes its own, and every series
carries two labels more: `role` (`[discord] role`: all, gateway or worker) and `shards` (this
process's shard ids, "0,1", or "all"), so N processes stay apart.

Jobs:
- `artfactory_jobs_accepted_total{provider, model, mode}` counter: jobs written to the ledger
  (their quota reserved) and queued.
- `artfactory_jobs_total{state, provider, model, mode}` counter: jobs that ended in this
  process, by final state (done, failed, cancelled, expired).
- `artfactory_jobs_waiting` gauge: this process's jobs waiting for a slot (its queue depth).
- `artfactory_jobs_running` gauge: this process's jobs in a slot (in flight).
- `artfactory_ack_seconds` histogram: interaction received → acknowledged ("thinking…" landed),
  for each acknowledgement the intake journal notes (every job command, every deferred answer).
- `artfactory_delivery_seconds{provider}` histogram: job accepted → its result posted (done).
- `artfactory_quota_refusals_total{kind}` counter: jobs refused at reservation, `quota` (the
  member's daily images) or `budget` (the server's monthly budget).
- `artfactory_spend_total{guild}` counter: the settled cost of done jobs, in `[costs] currency`
  (named in its HELP), by server id (`none`: outside a server).

HTTP:
- `artfactory_provider_requests_total{provider, status}` counter: answers of the providers'
  APIs; `status` is the HTTP code, or `timeout`/`failed` when no answer came.
- `artfactory_provider_errors_total{provider, status}` counter: those of them with a `status`
  of 400 or more, `timeout` or `failed`.
- `artfactory_discord_requests_total{route, bucket, status}` counter: answers of Discord's API.
- `artfactory_discord_rate_limited_total{route, bucket, scope}` counter: Discord's 429s; `scope`
  is its `X-RateLimit-Scope` (user, global, shared), or `cloudflare` for one without `Via`.

The process:
- `artfactory_process_info{shard_count}` info: 1 per process (`count()`: how many run).
- `artfactory_event_loop_lag_max_seconds` gauge: the longest event-loop lag of the last 15 s.
- `artfactory_event_loop_lag_seconds` histogram: every lag sample (one each 0.25 s).
- `process_*`, `python_gc_*`: prometheus-client's process and garbage-collector collectors.

`route` is the method and the path below the API base, with ids as `{id}`, tokens as `{token}`,
reaction emoji as `{emoji}` (and any other segment not a plain word as `{value}`):
`PATCH /webhooks/{id}/{token}/messages/{id}`. `bucket` is Discord's `X-RateLimit-Bucket` (empty
when absent). Provider requests are counted at one seam per client library: an aiohttp
`TraceConfig` (fal's queue calls and status streams; CivitAI's calls, on the bot's session,
tagged with `bot.providers.base.http_tag`) and an httpx response hook (Replicate, the
OpenAI-compatible API); failures without an answer are seen on aiohttp only. fal-client's own
httpx calls (status polls when no stream can be had, uploads) are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from yarl import URL

from bot.providers.base import ResponseHook

if TYPE_CHECKING:
    from bot.config import Config
    from bot.providers.request import GenerationRequest
    from db.jobs import JobRow

ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)
DELIVERY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 600.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_TICK_S = 0.25  # one sleep every quarter second: nothing next to the bot's own work
LAG_WINDOW_S = 15.0  # the max gauge covers this long (Prometheus' default scrape interval)


class ProcessLabels(Collector):
    """A collector that serves another registry's metrics with this process's labels added, at
    scrape time (the hot path never sees them)."""

    def __init__(self, inner: CollectorRegistry, labels: dict[str, str]) -> None:
        self._inner = inner
        self._labels = labels

    def collect(self) -> Iterable[Metric]:
        extra = self._labels
        for family in self._inner.collect():
            family.samples = [s._replace(labels={**s.labels, **extra}) for s in family.samples]
            yield family


class Metrics:
    """The registry and every metric, with the hooks the bot's parts call."""

    def __init__(
        self,
        *,
        role: str = "all",
        shard_ids: Iterable[int] | None = None,
        shard_count: int | None = None,
        currency: str = "USD",
        api_base: str = "https://discord.com/api/v10",
    ) -> None:
        shards = ",".join(str(s) for s in sorted(shard_ids)) if shard_ids else "all"
        self.labels = {"role": role, "shards": shards}
        self.registry = CollectorRegistry(auto_describe=False)  # what /metrics serves
        inner = CollectorRegistry()
        self.registry.register(ProcessLabels(inner, self.labels))
        ProcessCollector(registry=inner)
        GCCollector(registry=inner)
        info = Info("artfactory_process", "This process of the bot", registry=inner)
        info.info({"shard_count": str(shard_count) if shard_count else "auto"})
        self._define_jobs(inner, currency)
        self._api_path = URL(api_base.rstrip("/")).raw_path.rstrip("/")
        self._recent_lags: deque[float] = deque(maxlen=int(LAG_WINDOW_S / LAG_TICK_S))
        self._probe: asyncio.Task[None] | None = None
        # The children of the hottest counters by their label values: a dict look-up instead
        # of `labels()` (its checks and its lock) on every answer. As many as label sets.
        self._discord_children: dict[tuple[str, str, int], Any] = {}
        self._provider_children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._job_children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    @classmethod
    def for_config(cls, config: Config) -> Metrics:
        discord = config.discord
        return cls(
            role=discord.role,
            shard_ids=discord.shard_ids,
            shard_count=discord.shard_count,
            currency=config.costs.currency,
            api_base=discord.api_base,
        )

    def _define_jobs(self, r: CollectorRegistry, currency: str) -> None:
        job = ("provider", "model", "mode")
        self.accepted = Counter(
            "artfactory_jobs_accepted", "Jobs written to the ledger and queued", job, registry=r
        )
        self.ended = Counter(
            "artfactory_jobs", "Jobs that ended, by final state", ("state", *job), registry=r
        )
        self.waiting = Gauge("artfactory_jobs_waiting", "Jobs waiting for a slot", registry=r)
        self.running = Gauge("artfactory_jobs_running", "Jobs in a slot (in flight)", registry=r)
        self.ack = Histogram(
            "artfactory_ack_seconds",
            "Interaction received to acknowledged",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.delivery = Histogram(
            "artfactory_delivery_seconds",
            "Job accepted to its result posted",
            ("provider",),
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.refusals = Counter(
            "artfactory_quota_refusals", "Jobs refused: quota or budget", ("kind",), registry=r
        )
        self.spend = Counter(
            "artfactory_spend",
            f"Settled cost of done jobs, in {currency}, by server",
            ("guild",),
            registry=r,
        )
        self._define_http(r)

    def _define_http(self, r: CollectorRegistry) -> None:
        provider = ("provider", "status")
        self.provider_requests = Counter(
            "artfactory_provider_requests", "Provider API answers", provider, registry=r
        )
        self.provider_errors = Counter(
            "artfactory_provider_errors", "Provider API errors", provider, registry=r
        )
        self.discord_requests = Counter(
            "artfactory_discord_requests",
            "Discord API answers",
            ("route", "bucket", "status"),
            registry=r,
        )
        self.rate_limited = Counter(
            "artfactory_discord_rate_limited",
            "Discord 429s",
            ("route", "bucket", "scope"),
            registry=r,
        )
        self.lag_max = Gauge(
            "artfactory_event_loop_lag_max_seconds",
            f"Longest event-loop lag over the last {LAG_WINDOW_S:g} s",
            registry=r,
        )
        self.lag_max.set_function(lambda: max(self._recent_lags, default=0.0))
        self.lag = Histogram(
            "artfactory_event_loop_lag_seconds",
            f"Event-loop lag, sampled every {LAG_TICK_S:g} s",
            buckets=LAG_BUCKETS,
            registry=r,
        )

    # -- jobs ----------------------------------------------------------------------------------

    def job_accepted(self, request: GenerationRequest) -> None:
        self.accepted.labels(request.provider, request.model, request.mode).inc()

    def job_refused(self, kind: str) -> None:
        self.refusals.labels(kind).inc()

    def job_finished(self, job: JobRow) -> None:
        mode = str(job.inputs_json.get("mode", "txt2img"))
        child = self._children
        child(self.ended, job.state, job.provider, job.model, mode).inc()
        if job.state != "done":
            return
        if job.finished_at is not None:
            took = max(job.finished_at - job.created_at, 0.0)
            child(self.delivery, job.provider).observe(took)
        if job.cost:
            child(self.spend, str(job.guild_id or "none")).inc(job.cost)

    def _children(self, metric: Any, *values: str) -> Any:
        """`metric.labels(*values)`, from a plain dict after the first time."""
        key = (metric, values)
        child = self._job_children.get(key)
        if child is None:
            child = self._job_children[key] = metric.labels(*values)
        return child

    def acknowledged(self, seconds: float) -> None:
        self.ack.observe(max(seconds, 0.0))

    def watch_queue(self, load: Callable[[], tuple[int, int]]) -> None:
        """`load()`: (waiting, running), read at scrape time."""
        self.waiting.set_function(lambda: load()[0])
        self.running.set_function(lambda: load()[1])

    # -- HTTP ----------------------------------------------------------------------------------

    def discord_trace(self, trace: aiohttp.TraceConfig | None = None) -> aiohttp.TraceConfig:
        """`trace` (a new one if None) counting Discord's answers, before its other callbacks
        (one of them may raise on a 5xx: bot/delivery/posting.py)."""
        trace = trace or aiohttp.TraceConfig()
        trace.on_request_end.insert(0, self._discord_end)
        return trace

    async def _discord_end(
        self, session: Any, context: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        path = params.url.raw_path
        if not path.startswith(self._api_path):  # the gateway, the CDN
            return
        response = params.response
        headers = response.headers
        route = discord_route(params.method, path[len(self._api_path) :])
        bucket = headers.get("X-RateLimit-Bucket", "")
        status = response.status
        key = (route, bucket, status)
        child = self._discord_children.get(key)
        if child is None:
            child = self._discord_children[key] = self.discord_requests.labels(
                route, bucket, str(status)
            )
        child.inc()
        if status == 429:
            scope = headers.get("X-RateLimit-Scope") or (
                "unknown" if "Via" in headers else "cloudflare"
            )
            self.rate_limited.labels(route, bucket, scope).inc()

    def provider_trace(self, provider: str | None = None) -> aiohttp.TraceConfig:
        """For an aiohttp session: every answer counted as `provider`'s or, when None, as that
        of the provider its request was tagged with (`http_tag`; untagged ones are not)."""

        def name_of(context: Any) -> str | None:
            return provider or getattr(context.trace_request_ctx, "provider", None)

        async def on_end(session: Any, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
            name = name_of(context)
            if name is not None:
                self.provider_answer(name, params.response.status)

        async def on_exception(
            session: Any, context: Any, params: aiohttp.TraceRequestExceptionParams
        ) -> None:
            name = name_of(context)
            error = params.exception
            if name is None or isinstance(error, asyncio.CancelledError):
                return
            status = "timeout" if isinstance(error, TimeoutError) else "failed"
            self.provider_requests.labels(name, status).inc()
            self.provider_errors.labels(name, status).inc()

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_exception)
        return trace

    def provider_hook(self, provider: str) -> ResponseHook:
        """For an httpx client's `event_hooks["response"]` (first, before one that raises)."""

        async def on_response(response: Any) -> None:
            self.provider_answer(provider, response.status_code)

        return on_response

    def provider_answer(self, provider: str, status: int) -> None:
        key = (provider, status)
        children = self._provider_children.get(key)
        if children is None:
            code = str(status)
            error = self.provider_errors.labels(provider, code) if status >= 400 else None
            children = (self.provider_requests.labels(provider, code), error)
            self._provider_children[key] = children
        children[0].inc()
        if children[1] is not None:
            children[1].inc()

    # -- the event loop --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop-lag probe (in the running loop)."""
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._watch_loop(), name="metrics-loop-lag")

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None

    async def _watch_loop(self, tick_s: float = LAG_TICK_S) -> None:
        """How late a `sleep(tick_s)` wakes up: how long the loop was busy with something else
        (the method of bot/ops/looplag.py, always on and coarser)."""
        loop = asyncio.get_running_loop()
        recent, observe = self._recent_lags, self.lag.observe
        while True:
            before = loop.time()
            await asyncio.sleep(tick_s)
            lag = max(loop.time() - before - tick_s, 0.0)
            recent.append(lag)
            observe(lag)


_WORD = re.compile(r"[a-z@][a-z0-9@._-]*")
_TOKEN_AFTER = frozenset(("webhooks", "interactions"))
_WORDS: set[str] = set()  # the plain words met so far (Discord's API has a few dozen)
_WORDS_MAX = 500


def discord_route(method: str, path: str) -> str:
    """`PATCH /webhooks/{id}/{token}/messages/@original`: the path below the API base with
    what varies per call (ids, tokens, emoji, anything else not a plain word) replaced, so the
    label has as many values as the bot has kinds of request."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        part = parts[i]
        if part.isdigit():
            parts[i] = "{id}"
        elif i >= 3 and parts[i - 1] == "{id}" and parts[i - 2] in _TOKEN_AFTER:
            parts[i] = "{token}"
        elif parts[i - 1] == "reactions":
            parts[i] = "{emoji}"
        elif part in _WORDS or not part:
            continue
        elif _WORD.fullmatch(part) is not None:
            if len(_WORDS) < _WORDS_MAX:
                _WORDS.add(part)
        else:
            parts[i] = "{value}"
    return f"{method} {'/'.join(parts)}"


def chain(*hooks: Callable[[JobRow], None]) -> Callable[[JobRow], None]:
    """One `on_finished` for the runner that calls each hook in turn."""

    def each(job: JobRow) -> None:
        for hook in hooks:
            hook(job)

    return each
