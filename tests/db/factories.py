"""Rows for the store tests."""

from __future__ import annotations

from typing import Any

from db.jobs import NewJob


def new_job(user_id: int = 1, count: int = 1, **changes: Any) -> NewJob:
    values: dict[str, Any] = {
        "user_id": user_id,
        "guild_id": 10,
        "channel_id": 20,
        "application_id": 30,
        "interaction_id": 40,
        "interaction_token": "tok",
        "interaction_created_at": 0.0,
        "attachment_size_limit": 10_000_000,
        "provider": "fal",
        "model": "fal-ai/flux/dev",
        "inputs": {"prompt": "p"},
        "image_count": count,
        "message_id": 50,
    }
    return NewJob(**{**values, **changes})
