"""Provider webhooks between the processes of one bot (PostgreSQL): a webhook reaches whichever
process the reverse proxy picks, and its job may be held by another (its lease, issue 13).

A verified webhook with no waiter in the process that got it is written to the ledger
(`db.webhook_events`) and announced on `CHANNEL`; every process hears it, and the one waiting
for that request takes it (once: the read deletes it) and ends the job as if the webhook had
come to it. A waiter registered after its webhook was announced (the submit's answer and the
webhook can race) looks in the ledger first. On SQLite there is one process: nothing to relay.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from bot.providers.webhook_inbox import WebhookInbox
from db.database import Database

log = logging.getLogger(__name__)

CHANNEL = "artfactory_webhooks"
KEEP_S = 600.0  # one nobody took by then belonged to a job that ended by polling


class WebhookRelay:
    def __init__(self, db: Database, inbox: WebhookInbox) -> None:
        self._db = db
        self._inbox = inbox
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> bool:
        """Listen for the other processes' webhooks; False where there are none (SQLite)."""
        if not await self._db.listen_payload(CHANNEL, self._heard):
            return False
        self._inbox.on_expect.append(self._expected)
        return True

    async def publish(self, provider: str, request_id: str, body: dict[str, Any]) -> None:
        """A verified webhook this process has no job for: for the process that has."""
        await self._db.webhook_events.put(
            provider, request_id, json.dumps(body), time.time(), KEEP_S
        )
        await self._db.notify(CHANNEL, f"{provider}\t{request_id}")

    def _heard(self, payload: str) -> None:
        provider, _tab, request_id = payload.partition("\t")
        if self._inbox.arrival(provider, request_id) is not None:
            self._spawn(self._take(provider, request_id))

    def _expected(self, provider: str, request_id: str) -> None:
        self._spawn(self._take(provider, request_id))

    async def _take(self, provider: str, request_id: str) -> None:
        try:
            body = await self._db.webhook_events.take(provider, request_id)
        except Exception:  # the job's own polling still ends it
            log.exception("webhook relay: could not read %s %s", provider, request_id)
            return
        if body is not None:
            self._inbox.deliver(provider, request_id, json.loads(body))

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work, name="webhook-relay")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
