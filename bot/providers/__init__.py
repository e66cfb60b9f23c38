"""Provider adapters behind one interface (`bot.providers.base.Provider`)."""

from __future__ import annotations

from collections.abc import Collection

import aiohttp

from bot.config import Config
from bot.providers.base import Provider
from bot.providers.catalogue import catalogue_for
from bot.providers.webhook_inbox import WebhookInbox


def build_providers(
    config: Config,
    session: aiohttp.ClientSession,
    *,
    only: Collection[str] | None = None,
    webhooks: WebhookInbox | None = None,
) -> dict[str, Provider]:
    """One client per enabled provider (or those of them in `only`), created once and shared by
    every job. `session` is the bot's aiohttp session, used by the providers that have no SDK
    of their own (CivitAI); `webhooks` the inbox of those that send webhooks (fal, Replicate),
    when they are on."""
    providers: dict[str, Provider] = {}
    catalogue = catalogue_for(config)
    for name in config.enabled_providers:
        if only is not None and name not in only:
            continue
        key = config.secrets.provider_keys[name].get()
        settings = config.providers[name]
        interval = settings.poll_interval_s
        if name == "fal":
            from bot.providers.fal import FalProvider

            providers[name] = FalProvider(
                key,
                poll_interval_s=interval,
                catalogue=catalogue,
                storage_url=getattr(settings, "storage_url", "https://rest.fal.ai"),
                webhooks=webhooks,
            )
        elif name == "replicate":
            from bot.providers.replicate import ReplicateProvider

            providers[name] = ReplicateProvider(
                key, poll_interval_s=interval, catalogue=catalogue, webhooks=webhooks
            )
        elif name == "civitai":
            from bot.providers.civitai import CivitaiProvider
            from bot.providers.civitai_models import CivitaiModels

            providers[name] = CivitaiProvider(
                key,
                session,
                base_url=settings.base_url,
                models=CivitaiModels.from_config(config, session),
                poll_interval_s=interval,
            )
        elif name == "openai":
            from bot.providers.openai_compat import OpenAIImagesProvider

            providers[name] = OpenAIImagesProvider(
                key,
                base_url=settings.base_url,
                key_env=settings.api_key_env,
                poll_interval_s=interval,
                timeout_s=config.generation.job_timeout_s,
            )
    return providers


__all__ = ["Provider", "build_providers"]
