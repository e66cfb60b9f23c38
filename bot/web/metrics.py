"""`GET /metrics`: this process's metrics (bot/ops/metrics.py lists each one and its labels) in
Prometheus' text format; and `instrument`, which connects the metrics to the bot's parts that
are told of them after they are built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.ops.metrics import Metrics

if TYPE_CHECKING:
    from bot.app import ArtFactoryBot


def routes(metrics: Metrics) -> list[web.RouteDef]:
    async def scrape(request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [web.get("/metrics", scrape)]


def instrument(bot: ArtFactoryBot) -> None:
    """The hooks that are set on parts already built (the others are given at construction in
    `setup_hook`: the sessions' traces, the runner's `on_finished`, the job service's), and the
    loop-lag probe started. Called once the runner and the providers exist."""
    metrics = bot.metrics
    bot.intake.on_acknowledged = metrics.acknowledged
    for name, provider in bot.providers.items():
        provider.observe_http(metrics.provider_trace(name), metrics.provider_hook(name))
    runner = bot.runner
    metrics.watch_queue(lambda: runner.load)
    metrics.start()
