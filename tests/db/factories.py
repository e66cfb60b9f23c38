"""Rows for the store tests."""

from __future__ import annotations

import itertools
from typing import Any

from bot.jobs.model import Origin
from db.jobs import NewJob

_INTERACTIONS = itertools.count(1_000)  # one interaction makes one job (migration 0007)


def new_job(user_id: int = 1, count: int = 1, **changes: Any) -> NewJob:
    origin = Origin(
        user_id=user_id,
        guild_id=changes.pop("guild_id", 10),
        channel_id=20,
        application_id=30,
        interaction_id=changes.pop("interaction_id", None) or next(_INTERACTIONS),
        interaction_token="tok",
        interaction_created_at=0.0,
        message_id=changes.pop("message_id", 50),
        attachment_size_limit=10_000_000,
        channel_nsfw=changes.pop("channel_nsfw", False),
    )
    values: dict[str, Any] = {
        "origin": origin,
        "provider": "fal",
        "model": "fal-ai/flux/dev",
        "inputs": {"prompt": "p"},
        "image_count": count,
    }
    return NewJob(**{**values, **changes})
