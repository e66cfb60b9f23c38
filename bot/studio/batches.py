"""Permutations waiting for the member's go-ahead: the preview shows how many jobs and images a
permutation costs before anything is charged, and its Run button starts exactly the requests
that were shown (checked then, with the member's defaults of then).

Kept in memory: a preview costs nothing and is cheap to ask for again, so one that outlives
`KEEP_S` or a restart answers "run the command again" rather than being stored.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from bot.providers.request import GenerationRequest

KEEP_S = 15 * 60.0
KEPT_MAX = 1000


@dataclass(frozen=True)
class PendingBatch:
    user_id: int
    requests: tuple[GenerationRequest, ...]
    private: bool | None
    created_at: float


class PendingBatches:
    def __init__(self) -> None:
        self._kept: dict[str, PendingBatch] = {}

    def put(self, user_id: int, requests: list[GenerationRequest], private: bool | None) -> str:
        self._forget_old()
        token = secrets.token_hex(8)
        self._kept[token] = PendingBatch(user_id, tuple(requests), private, time.monotonic())
        return token

    def take(self, token: str, user_id: int) -> PendingBatch | None:
        """The batch, once: None when it expired, was run or dropped, or is someone else's."""
        batch = self._kept.get(token)
        if batch is None or batch.user_id != user_id:
            return None
        del self._kept[token]
        return batch if time.monotonic() - batch.created_at < KEEP_S else None

    def _forget_old(self) -> None:
        now = time.monotonic()
        for token in [t for t, b in self._kept.items() if now - b.created_at >= KEEP_S]:
            del self._kept[token]
        while len(self._kept) >= KEPT_MAX:
            del self._kept[next(iter(self._kept))]
