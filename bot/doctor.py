"""`python -m bot doctor --config …`: is every configured provider's key accepted, and is its
API reachable? One line per enabled provider, exit 0 when all are fine, else 1.

Each provider makes the cheapest authenticated call it has (`Provider.probe`), through the same
clients and base URLs the bot uses:

- fal: a status GET for a made-up request id on the queue host. fal has no key-check endpoint;
  it answers 401/403 for a refused key and 404 for an accepted key and an unknown request, so
  "ok" means reachable and key accepted — not that the account has credit.
- replicate: `GET /v1/account`.
- civitai: `POST {base_url}/v2/consumer/workflows?whatif=true` for one image of the default
  checkpoint: validated and priced, never run (also tells whether the account has the Buzz for
  it and whether that checkpoint has workers right now).
- openai: `GET {base_url}/models` (and whether the default model is listed).

Nothing is generated and nothing is billed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from bot.config import Config
from bot.errors import ProviderError
from bot.providers import build_providers

PROBE_TIMEOUT_S = 15.0


async def doctor(
    config: Config, *, echo: Callable[[str], None] = print, timeout_s: float = PROBE_TIMEOUT_S
) -> int:
    healthy = True
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        providers = build_providers(config, session)
        try:
            for name, provider in providers.items():
                model = config.providers[name].model
                try:
                    async with asyncio.timeout(timeout_s):
                        remark = await provider.probe(model)
                except ProviderError as exc:
                    healthy = False
                    echo(f"{name}: {exc.reason}")
                    continue
                except TimeoutError:
                    healthy = False
                    echo(f"{name}: no answer within {timeout_s:g} s")
                    continue
                except NotImplementedError:
                    echo(f"{name}: ok (no check available for this provider)")
                    continue
                echo(f"{name}: ok" + (f" ({remark})" if remark else ""))
        finally:
            for provider in providers.values():
                try:
                    await provider.close()
                except Exception as exc:  # closing is best effort here
                    echo(f"{provider.name}: (could not close its client: {exc})")
    return 0 if healthy else 1
