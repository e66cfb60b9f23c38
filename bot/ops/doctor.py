"""`python -m bot doctor --config …`: is the Discord token accepted, is every configured
provider's key accepted, and is its API reachable? One line for Discord and one per enabled
provider, exit 0 when all are fine, else 1. A missing secret is one of those lines, not a stop.

- discord: `GET {api_base}/users/@me` with the bot token (what discord.py's login does).

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

Then each configured fal and Replicate model's published input schema is read (the model
catalogue, bot/providers/catalogue): a model whose schema can't be read and that has no shipped
snapshot would not be offered, which fails the check.

Nothing is generated and nothing is billed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from bot.config import MISSING_DISCORD_TOKEN, Config
from bot.errors import ProviderError
from bot.providers import build_providers
from bot.providers.catalogue import catalogue_for
from bot.providers.catalogue.refresh import refresh
from bot.providers.catalogue.sources import schema_sources

PROBE_TIMEOUT_S = 15.0


async def doctor(
    config: Config, *, echo: Callable[[str], None] = print, timeout_s: float = PROBE_TIMEOUT_S
) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        healthy, line = await check_discord(config, session)
        echo(f"discord: {line}")
        keyed = [n for n in config.enabled_providers if config.secrets.provider_keys[n].get()]
        providers = build_providers(config, session, only=keyed)
        try:
            for name in config.enabled_providers:
                provider = providers.get(name)
                if provider is None:
                    var = config.providers[name].api_key_env
                    healthy = False
                    echo(f"{name}: {var} is not set: export {var}=<your {name} API key>")
                    continue
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
            healthy = await check_catalogue(config, session, keyed, echo) and healthy
            if config.prompt_help.enabled:
                ok, line = await check_prompt_help(config, session)
                echo(f"prompt help: {line}")
                healthy = ok and healthy
        finally:
            for provider in providers.values():
                try:
                    await provider.close()
                except Exception as exc:  # closing is best effort here
                    echo(f"{provider.name}: (could not close its client: {exc})")
    return 0 if healthy else 1


async def check_catalogue(
    config: Config, session: aiohttp.ClientSession, keyed: list[str], echo: Callable[[str], None]
) -> bool:
    """Every configured model's published schema read now: one line per model that falls back
    to a snapshot, and a model with no schema at all (it would not be offered) is a problem.
    Nothing is written: the running bot's cache is its own."""
    sources = {n: s for n, s in schema_sources(config, session).items() if n in keyed}
    outcomes = await refresh(catalogue_for(config), config, sources, None)
    said = {
        "cache": "using the schema read at an earlier start",
        "snapshot": "using the snapshot shipped with the bot",
        "none": "not offered: its schema could not be read",
    }
    for outcome in outcomes:
        if outcome.source != "live":
            echo(f"{outcome.provider}: {outcome.model}: {said[outcome.source]} ({outcome.reason})")
    live = sum(o.source == "live" for o in outcomes)
    echo(f"catalogue: {live} of {len(outcomes)} model schema(s) read from the providers")
    return all(o.source != "none" for o in outcomes)


async def check_discord(config: Config, session: aiohttp.ClientSession) -> tuple[bool, str]:
    """Whether Discord accepts the bot token, and the line that says so."""
    token = config.secrets.discord_token.get()
    if not token:
        return False, MISSING_DISCORD_TOKEN
    base = config.discord.api_base.rstrip("/")
    headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (art-factory doctor)"}
    try:
        async with session.get(f"{base}/users/@me", headers=headers) as response:
            if response.status == 200:
                me = await response.json(content_type=None)
                return True, f"ok (logged in as {me.get('username', '?')})"
            if response.status == 401:
                return False, (
                    "Discord refused the bot token (401): reset it in the Developer Portal "
                    "(your application → Bot → Reset Token) and export DISCORD_TOKEN again"
                )
            return False, f"{base} answered HTTP {response.status} to GET /users/@me"
    except TimeoutError:
        return False, f"no answer from {base} in time"
    except aiohttp.ClientError as exc:
        return False, f"could not reach {base} ({type(exc).__name__})"


async def check_prompt_help(config: Config, session: aiohttp.ClientSession) -> tuple[bool, str]:
    """Whether `[prompt_help]`'s OpenAI-compatible server takes its key (GET /models, which
    every such server answers, LiteLLM and OpenRouter included)."""
    settings = config.prompt_help
    key = config.secrets.prompt_help_key
    if key is None or not key.get():
        return False, f"{settings.api_key_env} is not set: export {settings.api_key_env}=<key>"
    base = settings.base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {key.get()}"}
    try:
        async with session.get(f"{base}/models", headers=headers) as response:
            if response.status == 200:
                return True, f"ok ({settings.model} at {base})"
            if response.status in (401, 403):
                return False, f"{base} refused {settings.api_key_env} ({response.status})"
            return False, f"{base} answered HTTP {response.status} to GET /models"
    except TimeoutError:
        return False, f"no answer from {base} in time"
    except aiohttp.ClientError as exc:
        return False, f"could not reach {base} ({type(exc).__name__})"
