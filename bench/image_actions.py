"""What the image actions (issue 15) cost the bot itself, next to the provider's seconds: the
image work each does in a worker thread, off the event loop, at the sizes members send.

- Vary (Region): a segmenter's mask binarised and scaled to the image (`normalise_mask`), or a
  rough region drawn (`draw_mask`);
- Zoom Out 2x through a fill model: the padded canvas and its mask (`canvas.padded`);
- /describe: four prompts from a caption (`candidate_prompts`, on the loop);
- how long each of those holds the event loop: `asyncio.to_thread` hands it over, so the loop
  is held only for the hand-over (measured as the loop's largest gap while the work runs).

    python bench/image_actions.py            # 1024 and 2048 px, medians of 20
    python bench/image_actions.py --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw

from bot.community.canvas import padded
from bot.jobs.masks import ROUGH_REGIONS, draw_mask, normalise_mask
from bot.jobs.outputs import candidate_prompts
from tests.fakes.apps import CAPTION  # the fake captioner's own


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def segmenter_mask(side: int) -> bytes:
    """A mask as segmenters send it: greyscale, soft-edged, at half the image's size."""
    mask = Image.new("L", (side // 2, side // 2), 0)
    ImageDraw.Draw(mask).ellipse((side // 8, 0, 3 * side // 8, side // 6), fill=230)
    return _png(mask)


def picture(side: int) -> bytes:
    image = Image.new("RGB", (side, side), (40, 90, 160))
    ImageDraw.Draw(image).rectangle(
        (side // 4, side // 4, side // 2, side // 2), fill=(200, 30, 30)
    )
    return _png(image, "JPEG")


def median_ms(work: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def loop_hold_ms(work: Callable[[], Any], runs: int) -> float:
    """The event loop's largest gap while `work` runs in a worker thread, as the bot runs it."""
    worst = 0.0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal worst
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, (now - last) * 1000 - 1.0)
            last = now

    for _ in range(runs):
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        await asyncio.to_thread(work)
        stop.set()
        await tick
    return max(worst, 0.0)


async def main(runs: int) -> None:
    print(f"{'step':48} {'median':>9} {'loop held':>10}")
    for side in (1024, 2048):
        mask, image = segmenter_mask(side), picture(side)
        region = ROUGH_REGIONS["top third"]
        cases: list[tuple[str, Callable[[], Any]]] = [
            (
                f"normalise a segmenter's mask to {side}²",
                lambda m=mask, s=side: normalise_mask(m, s, s),
            ),
            (f"draw a rough region ({side}²)", lambda s=side, r=region: draw_mask(s, s, r)),
            (
                f"padded canvas for Zoom Out 2x ({side}²)",
                lambda i=image: padded(i, (0, 0, 0, 0), 50),
            ),
        ]
        for name, work in cases:
            held = await loop_hold_ms(work, max(3, runs // 4))
            print(f"{name:48} {median_ms(work, runs):7.1f} ms {held:7.1f} ms")
    prompts = median_ms(lambda: candidate_prompts((CAPTION,)), runs * 50)
    print(f"{'four prompts from a 5-sentence caption':48} {prompts * 1000:7.1f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args().runs))
