"""What the Prometheus metrics (bot/ops/metrics.py) cost on the hot path, in µs per call:

- one Discord request's trace callback (the route template, the bucket header, a counter), as
  aiohttp runs it for every answer from Discord;
- one provider answer (an httpx response hook: a counter);
- one job's end (`on_finished`: its mode read back from the ledger row's inputs, the jobs
  counter, the delivery histogram and the spend counter).

Each against an empty async callback (what aiohttp's trace signal costs without the metrics),
over label values that repeat as they do in production (a few routes, a few models), with ids
and tokens that change on every call.

    python bench/metrics.py
    python bench/metrics.py --calls 20000 --rounds 31
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bot.ops.metrics import Metrics
from db.jobs import JobRow

API = "https://discord.com/api/v10"
ROUTES = (
    ("PATCH", "/webhooks/{app}/{token}/messages/@original"),
    ("PATCH", "/webhooks/{app}/{token}/messages/{id}"),
    ("POST", "/interactions/{id}/{token}/callback"),
    ("POST", "/channels/{id}/messages"),
)


def requests(n: int) -> list[SimpleNamespace]:
    """`n` aiohttp `TraceRequestEndParams`-alikes, each with its own ids and token."""
    made = []
    for i in range(n):
        method, path = ROUTES[i % len(ROUTES)]
        token = f"aW50ZXJhY3Rpb246{i:012d}Q2hBbmdlcw"
        filled = path.format(app=1000 + i % 3, token=token, id=1_200_000_000_000_000_000 + i)
        headers = CIMultiDictProxy(
            CIMultiDict({"X-RateLimit-Bucket": f"bucket{i % len(ROUTES)}", "Via": "1.1 google"})
        )
        response = SimpleNamespace(status=200 if i % 50 else 429, headers=headers)
        made.append(SimpleNamespace(method=method, url=URL(API + filled), response=response))
    return made


def jobs(n: int) -> list[JobRow]:
    now = time.time()
    return [
        JobRow(
            id=i, state="done" if i % 10 else "failed", kind="imagine", parent_job_id=None,
            user_id=4000 + i % 97, guild_id=2000 + i % 7, channel_id=1, application_id=2,
            interaction_id=i, interaction_token="tok", interaction_created_at=now, message_id=1,
            attachment_size_limit=8_000_000, provider="fal", model=f"fal-ai/flux/{i % 3}",
            inputs=json.dumps({"prompt": "a lighthouse in a storm", "mode": "txt2img",
                               "count": 1, "seed": i, "aspect_ratio": "16:9", "loras": []}),
            image_count=1, provider_request_id="r", attempts=1, error=None,
            error_retryable=None, result=None, cost=0.025, quota_day="d", quota_state="committed",
            created_at=now - 5, updated_at=now, submitted_at=now - 4, finished_at=now,
        )
        for i in range(n)
    ]  # fmt: skip


def drive(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends, as `await` in aiohttp's signal would."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    raise RuntimeError("the hook suspended")


def median_us(run: Callable[[], None], calls: int, rounds: int) -> float:
    per_call = []
    for _ in range(rounds):
        began = time.perf_counter_ns()
        run()
        per_call.append((time.perf_counter_ns() - began) / calls / 1000)
    return statistics.median(per_call)


async def empty(session: Any, context: Any, params: Any) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    calls, rounds = args.calls, args.rounds
    metrics = Metrics(api_base=API)
    sent = requests(calls)
    ended = jobs(calls)
    hook = metrics.provider_hook("fal")
    answers = [SimpleNamespace(status_code=200 if i % 20 else 503) for i in range(calls)]
    discord_end = metrics.discord_trace().on_request_end[0]

    def traced(callback: Callable[..., Coroutine[Any, Any, None]]) -> Callable[[], None]:
        def run() -> None:
            for params in sent:
                drive(callback(None, None, params))

        return run

    def answered() -> None:
        for answer in answers:
            drive(hook(answer))

    def finished() -> None:
        for job in ended:
            metrics.job_finished(job)

    results = {
        "empty trace callback (baseline)": median_us(traced(empty), calls, rounds),
        "Discord request hook": median_us(traced(discord_end), calls, rounds),
        "provider answer hook": median_us(answered, calls, rounds),
        "job-end hook": median_us(finished, calls, rounds),
    }
    width = max(map(len, results))
    print(f"median of {rounds} rounds of {calls:,} calls, µs per call")
    for name, us in results.items():
        print(f"  {name:<{width}}  {us:6.2f}")


if __name__ == "__main__":
    main()
