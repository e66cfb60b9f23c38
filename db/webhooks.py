"""Verified provider webhooks waiting for the process whose job they end (`db.webhook_events`,
bot/providers/webhook_relay.py). Each is taken once: the DELETE that reads it removes it."""

from __future__ import annotations

from db.connection import Connection


class WebhookEventStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def put(
        self, provider: str, request_id: str, body: str, now: float, keep_s: float
    ) -> None:
        """Keep one (a second copy of the same webhook changes nothing), and drop those older
        than `keep_s` that nobody took (their jobs ended by polling)."""
        await self._conn.execute(
            "DELETE FROM webhook_events WHERE received_at < ?", (now - keep_s,)
        )
        await self._conn.execute(
            "INSERT INTO webhook_events (provider, request_id, body, received_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (provider, request_id) DO NOTHING",
            (provider, request_id, body, now),
        )

    async def take(self, provider: str, request_id: str) -> str | None:
        async with self._conn.execute(
            "DELETE FROM webhook_events WHERE provider = ? AND request_id = ? RETURNING body",
            (provider, request_id),
        ) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else None
