"""What the personal studio (issue 16) costs the bot itself, next to a provider's seconds:

- reading a prompt before the acknowledgement: its `{a,b}` permutations and `--params`;
- writing a message in the member's language: `_()` with and without a catalogue, and loading
  the catalogues at start;
- reserving a permutation's jobs in one statement (all or none) against as many single
  reservations, on SQLite (the PostgreSQL figures are in bench/postgres.py's style: the same
  statement, one advisory lock).

    python bench/studio.py            # medians of 30
    python bench/studio.py --runs 100
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, run as a script

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.i18n import _, catalogue, using
from bot.studio.params import parse_params
from bot.studio.permutations import expand
from db.database import Database
from tests.db.factories import new_job

PROMPT = "a {red, blue} {vintage car, bicycle} at dusk --ar 16:9 --seed 7 --no text, watermark"
MESSAGE = "You asked for {asked} images but only {left} of your {limit} daily images are left."


def median_us(work: Callable[[], Any], runs: int, inner: int = 200) -> float:
    times = []
    for _run in range(runs):
        start = time.perf_counter()
        for _i in range(inner):
            work()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times) * 1e6


def read_prompt() -> None:
    for variant in expand(PROMPT, 4):
        parse_params(variant)


def message(locale: str) -> Callable[[], str]:
    def write() -> str:
        with using(locale):
            return _(MESSAGE, asked=4, left=3, limit=25)

    return write


def load_catalogues(runs: int) -> float:
    times = []
    for _run in range(runs):
        catalogue.forget()
        times.append(catalogue.load_all())
    return statistics.median(times) * 1e3


async def reservations(runs: int, size: int = 4) -> tuple[float, float]:
    """Median ms of one batch of `size` jobs, and of `size` single reservations."""
    batch_ms, single_ms = [], []
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bench.db")
        try:
            for run in range(runs):
                jobs = [new_job(user_id=run, message_id=10_000 * run + i) for i in range(size)]
                jobs = [jobs[0]] + [
                    replace(j, origin=replace(j.origin, interaction_id=None)) for j in jobs[1:]
                ]
                start = time.perf_counter()
                await db.jobs.reserve_batch(jobs, daily_limit=100, day="d")
                batch_ms.append(time.perf_counter() - start)
                singles = [new_job(user_id=run + 100_000) for _ in range(size)]
                start = time.perf_counter()
                for job in singles:
                    await db.jobs.reserve(job, daily_limit=100, day="d")
                single_ms.append(time.perf_counter() - start)
        finally:
            await db.close()
    return statistics.median(batch_ms) * 1e3, statistics.median(single_ms) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    print(f"prompt read (4 permutations + params): {median_us(read_prompt, runs):.1f} µs")
    for locale in ("en-US", "de", "ja"):
        print(f"one message in {locale}: {median_us(message(locale), runs):.2f} µs")
    print(f"five catalogues loaded: {load_catalogues(min(runs, 10)):.1f} ms")
    batch, singles = asyncio.run(reservations(runs))
    print(f"4 jobs reserved at once: {batch:.2f} ms; one by one: {singles:.2f} ms")


if __name__ == "__main__":
    main()
