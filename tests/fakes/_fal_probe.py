"""Drive the real fal-client against a FakeFal in a fresh interpreter (see test_fake_providers).

fal-client reads FAL_QUEUE_RUN_HOST at import, so the caller sets the environment first.
Prints one JSON object with what the client observed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import fal_client
from fal_client.client import AsyncRequestHandle, Completed, InProgress, Queued


def _err(exc: fal_client.FalClientHTTPError) -> dict[str, Any]:
    return {
        "status": exc.status_code,
        "message": exc.message,
        "error_type": exc.error_type,
        "retryable": exc.response_headers.get("x-fal-retryable"),
    }


async def main() -> dict[str, Any]:
    out: dict[str, Any] = {"queue_url": fal_client.client.QUEUE_URL_FORMAT}
    client = fal_client.AsyncClient(key="test")
    args = {"prompt": "a red fox", "image_size": "landscape_16_9", "num_images": 2, "seed": 42}

    # Happy path: queued → in progress with logs → completed, then the result.
    handle = await client.submit("fal-ai/flux/dev", args)
    events: list[dict[str, Any]] = []
    async for ev in handle.iter_events(with_logs=True, interval=0.05):
        if isinstance(ev, Queued):
            events.append({"type": "queued", "position": ev.position})
        elif isinstance(ev, InProgress):
            events.append({"type": "in_progress", "logs": [x["message"] for x in ev.logs or []]})
        elif isinstance(ev, Completed):
            logs = [x["message"] for x in ev.logs or []]
            events.append({"type": "completed", "logs": logs, "metrics": ev.metrics})
    out["main"] = {"request_id": handle.request_id, "events": events, "result": await handle.get()}

    # A handle rebuilt from the id alone.
    again = AsyncRequestHandle.from_request_id(
        await client._client, "fal-ai/flux/dev", handle.request_id
    )
    status = await again.status(with_logs=False)
    out["again"] = {
        "status": type(status).__name__,
        "logs": getattr(status, "logs", "x"),
        "result": await again.get(),
    }

    # Cancel a hanging job once it runs.
    handle = await client.submit("fal-ai/flux/schnell", {"prompt": "hang"})
    while not isinstance(await handle.status(), InProgress):
        await asyncio.sleep(0.02)
    await handle.cancel()
    status = await handle.status()
    cancel: dict[str, Any] = {
        "request_id": handle.request_id,
        "status": type(status).__name__,
        "error": getattr(status, "error", None),
        "error_type": getattr(status, "error_type", None),
    }
    try:
        await handle.cancel()
    except fal_client.FalClientHTTPError as exc:
        cancel["second_cancel"] = _err(exc)
    try:
        await handle.get()
    except fal_client.FalClientHTTPError as exc:
        cancel["get"] = _err(exc)
    out["cancel"] = cancel

    # A scripted model validation failure.
    handle = await client.submit("fal-ai/flux-pro/v1.1", {"prompt": "x"})
    failed: dict[str, Any] = {"request_id": handle.request_id}
    try:
        await handle.get(interval=0.02)
    except fal_client.FalClientHTTPError as exc:
        failed["get"] = _err(exc)
    status = await handle.status()
    failed["status_error"] = [getattr(status, "error", None), getattr(status, "error_type", None)]
    out["fail422"] = failed

    # An injected 500 on submit is not retried by fal-client.
    try:
        await client.submit("fal-ai/recraft-v3", {"prompt": "x"})
        out["inject500"] = None
    except fal_client.FalClientHTTPError as exc:
        out["inject500"] = _err(exc)

    # Injected 429s on status are retried by fal-client.
    handle = await client.submit("fal-ai/flux-krea", {"prompt": "x"})
    out["retry429"] = type(await handle.status()).__name__

    # A rejected key.
    try:
        await fal_client.AsyncClient(key="bad").submit("fal-ai/flux/dev", {"prompt": "x"})
        out["bad_key"] = None
    except fal_client.FalClientHTTPError as exc:
        out["bad_key"] = _err(exc)

    await (await client._client).aclose()
    return out


if __name__ == "__main__":
    json.dump(asyncio.run(main()), sys.stdout)
