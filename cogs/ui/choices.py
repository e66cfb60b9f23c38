"""Autocomplete choices several commands offer."""

from __future__ import annotations

from discord import app_commands

from bot.config import Config

MAX_CHOICES = 25  # Discord's limit per autocomplete answer


def provider_choices(config: Config, current: str) -> list[app_commands.Choice[str]]:
    """The enabled providers whose name contains what the member typed."""
    return [
        app_commands.Choice(name=name, value=name)
        for name in config.enabled_providers
        if current.lower() in name
    ][:MAX_CHOICES]
