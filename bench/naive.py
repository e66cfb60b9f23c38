"""The naive baseline: how tutorial bots wait for a hosted image model.

Each job submits through fal-client, then blocks on its own polling loop with a backoff of
1, 2, 3, 4, 5, 5, … seconds between status checks, fetches the result with
`fal_client`'s `result` (which checks the status once more), downloads the image and posts it
to Discord. Each job is its own coroutine (a thread per job behaves the same on the wire, only
heavier), so the comparison with the bot is about the waiting pattern, not about threads.

Run by bench/run.py as a separate process, like the bot, with the fakes' environment:

    python bench/naive.py --jobs N --rate R --api-base URL --channel-base C --token T
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import fal_client
import httpx

BACKOFF_S = (1.0, 2.0, 3.0, 4.0, 5.0)


async def one_job(
    client: fal_client.AsyncClient,
    http: httpx.AsyncClient,
    args: argparse.Namespace,
    index: int,
    failures: list[str],
) -> None:
    prompt = f"{args.prefix} {index}"
    try:
        handle = await client.submit(args.model, {"prompt": prompt, "num_images": 1})
        attempt = 0
        while True:
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1
            status = await handle.status()
            if isinstance(status, fal_client.Completed):
                break
        result = await client.result(args.model, handle.request_id)
        url = result["images"][0]["url"]
        image = (await http.get(url)).content
        channel = args.channel_base + index
        response = await http.post(
            f"{args.api_base}/channels/{channel}/messages",
            headers={"Authorization": f"Bot {args.token}"},
            data={"payload_json": json.dumps({"content": prompt})},
            files={"files[0]": ("image.png", image, "image/png")},
        )
        response.raise_for_status()
    except Exception as exc:
        failures.append(f"{prompt}: {type(exc).__name__}: {exc}")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="jobs started per second")
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--channel-base", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--prefix", default="naive job")
    parser.add_argument("--model", default="fal-ai/flux/dev")
    args = parser.parse_args()

    client = fal_client.AsyncClient()  # FAL_KEY from the environment, as tutorials do
    failures: list[str] = []
    async with httpx.AsyncClient(timeout=60) as http:
        started = time.monotonic()
        tasks = []
        for index in range(args.jobs):
            wait = started + index / args.rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one_job(client, http, args, index, failures)))
        await asyncio.gather(*tasks)
    print(json.dumps({"jobs": args.jobs, "failures": failures[:10], "failed": len(failures)}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
