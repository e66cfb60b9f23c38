"""Replicate requests per job and delivery latency, polling against webhooks (issue 17).

Runs the real bot in this process (`tests/harness.py`), with the real `replicate` client,
against the loopback fakes: N Replicate jobs of a given generation time (1 s queued, then
`--generation-s` running with 28 logged steps, as bench/run.py's replicate phase) submitted
together, once with polling only and once with `[web] public_url` set, where the fake posts a
signed webhook when each prediction ends. Per job it counts every request the fake Replicate
received for that prediction (the create, status polls, result reads) and times its delivery:
from the moment the prediction ended at the fake to the moment its images are on the fake
Discord (sampled every 10 ms, in both modes alike).

    python bench/webhooks.py                        # 10 jobs of 5 s
    python bench/webhooks.py --jobs 20 --generation-s 20 --poll-interval-s 2

Issue 17's target: ≤ 4 Replicate requests per job with webhooks (~22 by polling a 20 s job),
with no loss in delivery latency.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.tls import make_tls  # noqa: E402

# As tests/conftest.py: the CA and fal's hosts before aiohttp and fal-client are imported.
TLS = make_tls()
os.environ["SSL_CERT_FILE"] = str(TLS.ca_pem_path)
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ.pop("SSL_CERT_DIR", None)

from tests.fakes.cdn import FakeCDN  # noqa: E402
from tests.fakes.discord import FakeDiscord  # noqa: E402
from tests.fakes.fal import FakeFal  # noqa: E402
from tests.fakes.replicate import FakeReplicate, Script  # noqa: E402

FAL_PORT = FakeFal.pick_port()
os.environ["FAL_RUN_HOST"] = os.environ["FAL_QUEUE_RUN_HOST"] = f"127.0.0.1:{FAL_PORT}"

from tests.harness import running_bot  # noqa: E402


async def run_mode(args: argparse.Namespace, webhooks: bool) -> dict[str, Any]:
    cdn, discord = FakeCDN(), FakeDiscord()
    fal = FakeFal(TLS, cdn, FAL_PORT)
    replicate = FakeReplicate(cdn)
    for server in (cdn, fal, replicate, discord):
        await server.start()
    os.environ["REPLICATE_BASE_URL"] = replicate.base_url
    replicate.script(None, Script(queue_s=1.0, run_s=args.generation_s, steps=28))
    config: dict[str, Any] = {
        "providers": {"replicate": {"poll_interval_s": args.poll_interval_s}},
        "generation": {"max_concurrent_jobs": max(args.jobs, 16)},
    }
    if webhooks:
        port = FakeFal.pick_port()
        config["web"] = {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"}
        config["providers"]["fal"] = {"webhook_jwks_url": fal.jwks_url}
    try:
        with tempfile.TemporaryDirectory(prefix="artfactory-webhooks-") as folder:
            async with running_bot(discord, Path(folder) / "ledger.db", **config) as h:
                interactions = [
                    await h.imagine(user_id=5000 + i, prompt=f"bench {i}", provider="replicate")
                    for i in range(args.jobs)
                ]
                delivered: dict[int, float] = {}
                async with asyncio.timeout(args.generation_s + 120):
                    while len(delivered) < len(interactions):
                        for index, interaction in enumerate(interactions):
                            message = interaction.original()
                            if index not in delivered and message and message.attachments:
                                delivered[index] = time.monotonic()
                        await asyncio.sleep(0.01)
                await h.idle(timeout=60)
        return measure(replicate, delivered)
    finally:
        for server in (discord, replicate, fal, cdn):
            await server.close()


def measure(replicate: FakeReplicate, delivered: dict[int, float]) -> dict[str, Any]:
    requests, latency = [], []
    for _model, inputs, pid in replicate.creates:
        index = int(str(inputs["prompt"]).split("bench ", 1)[1].split()[0])
        requests.append(1 + sum(pid in r.path for r in replicate.requests))
        ended = replicate.completed_at(pid)
        assert ended is not None
        latency.append(delivered[index] - ended)
    other = sum(
        not any(pid in r.path for _m, _i, pid in replicate.creates) and "predictions" not in r.path
        for r in replicate.requests
    )
    return {
        "requests": statistics.median(requests),
        "requests_max": max(requests),
        "latency": statistics.median(latency),
        "latency_p90": sorted(latency)[int(0.9 * (len(latency) - 1))],
        "per_bot": other,  # not for one job: the webhook secret, the schema refresh
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--generation-s", type=float, default=5.0)
    parser.add_argument("--poll-interval-s", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    polling = await run_mode(args, webhooks=False)
    hooked = await run_mode(args, webhooks=True)
    print(
        f"{args.jobs} Replicate jobs of {args.generation_s:g} s "
        f"(+1 s queued), poll_interval_s {args.poll_interval_s:g}"
    )
    print(
        f"{'':12} {'requests/job':>13} {'(max)':>6} {'delivery p50':>13} {'p90':>8} {'per bot':>8}"
    )
    for name, row in (("polling", polling), ("webhooks", hooked)):
        print(
            f"{name:12} {row['requests']:>13g} {row['requests_max']:>6} "
            f"{row['latency'] * 1000:>10.0f} ms {row['latency_p90'] * 1000:>5.0f} ms "
            f"{row['per_bot']:>8}"
        )
    print(
        f"requests per job ÷ {polling['requests'] / hooked['requests']:.1f}; delivery p50 "
        f"{(hooked['latency'] - polling['latency']) * 1000:+.0f} ms with webhooks"
    )


if __name__ == "__main__":
    asyncio.run(main())
