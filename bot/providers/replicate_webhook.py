"""Checking that a webhook comes from Replicate, as Replicate documents it ("Verifying
webhooks", replicate.com/docs/topics/webhooks/verify-webhook, and replicate-python 1.0.7
`replicate/webhook.py`):

- A prediction created with `webhook` (and `webhook_events_filter: ["completed"]`: only when it
  ends) is POSTed there, the body the prediction's JSON as `GET /v1/predictions/{id}` answers.
- It is signed as Standard Webhooks (standardwebhooks.com): headers `webhook-id`,
  `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64>` entries separated
  by spaces), the signature an HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the
  account's secret from `GET /v1/webhooks/default/secret` → `{"key": "whsec_<base64>"}`.
  Checked here with the `standardwebhooks` package, which also refuses a timestamp more than
  5 minutes away from now.
- `webhook-id` is the same for every delivery attempt of one message, so it is what a replay is
  recognised by.

The secret is fetched once (at start, else at the first webhook) and kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bot.providers.webhook_inbox import Verified, WebhookRefused

log = logging.getLogger(__name__)

TOLERANCE_S = 300  # Standard Webhooks': the timestamp within 5 minutes
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")

FetchSecret = Callable[[], Awaitable[str]]


class ReplicateWebhookVerifier:
    def __init__(
        self, fetch_secret: FetchSecret, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._fetch = fetch_secret
        self._clock = clock
        self._webhook: Webhook | None = None
        self._lock = asyncio.Lock()

    async def prefetch(self) -> None:
        """The secret now, so the first webhook is checked at once; a failure is logged and
        the secret asked for again at the first webhook."""
        try:
            await self._signer()
        except WebhookRefused as exc:
            log.warning("replicate webhooks: %s; asked again at the first webhook", exc.detail)

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Verified:
        message_id, stamp, signature = (headers.get(name) for name in HEADERS)
        if not message_id or not stamp or not signature:
            raise WebhookRefused("unsigned", "no webhook-* signature headers")
        try:
            sent_at = int(stamp)
        except ValueError:
            raise WebhookRefused("forged", "unreadable timestamp") from None
        if abs(self._clock() - sent_at) > TOLERANCE_S:
            raise WebhookRefused("stale", f"timestamp {sent_at} is more than 5 minutes off")
        signer = await self._signer()
        wanted = {"webhook-id": message_id, "webhook-timestamp": stamp}
        try:
            data: Any = signer.verify(body, {**wanted, "webhook-signature": signature})
        except WebhookVerificationError as exc:
            raise WebhookRefused("forged", f"the signature does not match ({exc})") from None
        except ValueError:  # a signature that isn't "v1,<base64>", or a body that isn't JSON
            raise WebhookRefused("forged", "unreadable signature or body") from None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise WebhookRefused("malformed", "the body is not a prediction")
        return Verified(data["id"], message_id, data)

    async def _signer(self) -> Webhook:
        async with self._lock:
            if self._webhook is None:
                try:
                    secret = await self._fetch()
                    self._webhook = Webhook(secret)
                except Exception as exc:
                    raise WebhookRefused(
                        "unverifiable", f"could not fetch the webhook secret ({exc})"
                    ) from exc
                log.info("replicate webhooks: the signing secret is fetched")
            return self._webhook
