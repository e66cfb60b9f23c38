"""Checking that a webhook comes from fal, as fal documents it ("Webhooks" → "Verifying your
webhook", docs.fal.ai/model-apis/model-endpoints/webhooks, read 2026-07):

- fal POSTs `{request_id, gateway_request_id, status: "OK" | "ERROR", payload, error?,
  payload_error?}` to the `fal_webhook` URL given at submit (fal-client 1.0.3:
  `submit_async(..., webhook_url=)` → `?fal_webhook=`), retrying up to 10 times in 2 hours.
- Headers: `X-Fal-Webhook-Request-Id`, `X-Fal-Webhook-User-Id`, `X-Fal-Webhook-Timestamp` (Unix
  seconds) and `X-Fal-Webhook-Signature` (hex).
- The signature is ED25519 over `request_id \\n user_id \\n timestamp \\n hex(sha256(body))`,
  by one of the keys of fal's JWKS (`https://rest.alpha.fal.ai/.well-known/jwks.json`, keys
  `{kty: "OKP", crv: "Ed25519", x: base64url}`), which may be cached for up to 24 hours. The
  timestamp must be within 5 minutes of now.

fal names no key id, so a signature no cached key verifies may be by a key fal has rotated in:
the keys are fetched again then, but at most every `JWKS_RETRY_S`, so a flood of forgeries
costs fal (and the bot) nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.providers.webhook_inbox import Verified, WebhookRefused

log = logging.getLogger(__name__)

FAL_JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"
TOLERANCE_S = 300  # fal's: the timestamp within 5 minutes
JWKS_MAX_AGE_S = 24 * 3600  # fal's: keys cached at most a day
JWKS_RETRY_S = 300  # the soonest the keys are fetched again because none verified
HEADERS = (
    "X-Fal-Webhook-Request-Id",
    "X-Fal-Webhook-User-Id",
    "X-Fal-Webhook-Timestamp",
    "X-Fal-Webhook-Signature",
)

FetchJwks = Callable[[], Awaitable[Any]]


class FalWebhookVerifier:
    def __init__(
        self,
        fetch_jwks: FetchJwks,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch_jwks
        self._clock = clock
        self._monotonic = monotonic
        self._keys: list[Ed25519PublicKey] = []
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Verified:
        values = [headers.get(name) for name in HEADERS]
        request_id, user_id, stamp, signature = values
        if request_id is None or user_id is None or stamp is None or signature is None:
            raise WebhookRefused("unsigned", "no X-Fal-Webhook-* signature headers")
        try:
            sent_at = int(stamp)
            raw = bytes.fromhex(signature)
        except ValueError:
            raise WebhookRefused("forged", "unreadable timestamp or signature") from None
        if abs(self._clock() - sent_at) > TOLERANCE_S:
            raise WebhookRefused("stale", f"timestamp {sent_at} is more than 5 minutes off")
        digest = hashlib.sha256(body).hexdigest()
        message = f"{request_id}\n{user_id}\n{stamp}\n{digest}".encode()
        if not await self._signed(raw, message):
            raise WebhookRefused("forged", "no key of fal's JWKS verifies the signature")
        try:
            data = json.loads(body)
        except ValueError:
            raise WebhookRefused("malformed", "the body is not JSON") from None
        if not isinstance(data, dict) or data.get("request_id") != request_id:
            raise WebhookRefused("malformed", "the body is not for the signed request id")
        return Verified(request_id, f"{request_id}:{stamp}", data)

    async def _signed(self, signature: bytes, message: bytes) -> bool:
        keys = await self._current_keys()
        if _any_verifies(keys, signature, message):
            return True
        refreshed = await self._current_keys(unknown_key=True)
        return refreshed is not keys and _any_verifies(refreshed, signature, message)

    async def _current_keys(self, *, unknown_key: bool = False) -> list[Ed25519PublicKey]:
        async with self._lock:
            now = self._monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            due = age is None or age >= JWKS_MAX_AGE_S or (unknown_key and age >= JWKS_RETRY_S)
            if not due:
                return self._keys
            try:
                document = await self._fetch()
            except Exception as exc:  # the cached keys, if any, stay in force
                log.warning("fal webhooks: could not fetch fal's JWKS (%s)", exc)
                if not self._keys:
                    raise WebhookRefused("unverifiable", "fal's JWKS is unavailable") from exc
                self._fetched_at = now  # not again at once
                return self._keys
            self._keys = public_keys(document)
            self._fetched_at = now
            log.info("fal webhooks: %d key(s) read from fal's JWKS", len(self._keys))
            return self._keys


def public_keys(document: Any) -> list[Ed25519PublicKey]:
    """The ED25519 keys of a JWKS document (others are skipped)."""
    keys = document.get("keys") if isinstance(document, dict) else None
    found = []
    for key in keys if isinstance(keys, list) else []:
        if not isinstance(key, dict) or key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
            continue
        x = key.get("x")
        try:
            raw = base64.urlsafe_b64decode(str(x) + "=" * (-len(str(x)) % 4))
            found.append(Ed25519PublicKey.from_public_bytes(raw))
        except (ValueError, binascii.Error):
            continue
    return found


def _any_verifies(keys: list[Ed25519PublicKey], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False
