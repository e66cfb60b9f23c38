"""Webhooks the fake providers send when a request ends, signed as the real ones are.

- fal (docs.fal.ai, "Webhooks"): `POST {fal_webhook}` with `{request_id, gateway_request_id,
  status: "OK" | "ERROR", payload, error?}`, headers `X-Fal-Webhook-Request-Id`, `-User-Id`,
  `-Timestamp` (Unix seconds) and `-Signature`: hex ED25519 over
  `request_id\\nuser_id\\ntimestamp\\nhex(sha256(body))`, by a key of the JWKS the fake serves.
- Replicate / Standard Webhooks: `POST {webhook}` with the finished prediction, headers
  `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
  "id.timestamp.body">` keyed with the base64 part of the account's `whsec_` secret.

Signed here by hand (hashlib, hmac, cryptography), not with the package the bot verifies with,
so a mistake there is not made twice. Test hooks on `WebhookSender`: `drop` (never sent),
`delay_s`, `edit` (a delivery changed before it is sent: tampered, re-signed, made old), and
`send` to post any delivery again (a replay). Every delivery is kept in `deliveries` with the
bot's answer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass
class Delivery:
    """One webhook a fake sends: where, what, and the bot's answer (None: not sent)."""

    url: str
    request_id: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    sent_at: float | None = None  # monotonic, when the bot's answer came


def jwks_of(*keys: Ed25519PrivateKey) -> dict[str, object]:
    """A JWKS document (RFC 7517/8037) with the public halves of `keys`."""
    out = []
    for index, key in enumerate(keys):
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        out.append({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": f"fake-{index}", "use": "sig"})
    return {"keys": out}


def fal_headers(
    key: Ed25519PrivateKey, request_id: str, user_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    message = f"{request_id}\n{user_id}\n{stamp}\n{hashlib.sha256(body).hexdigest()}".encode()
    return {
        "Content-Type": "application/json",
        "X-Fal-Webhook-Request-Id": request_id,
        "X-Fal-Webhook-User-Id": user_id,
        "X-Fal-Webhook-Timestamp": stamp,
        "X-Fal-Webhook-Signature": key.sign(message).hex(),
    }


def standard_headers(
    secret: str, message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(signed).decode(),
    }


class WebhookSender:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.drop = False
        self.delay_s = 0.0
        self.edit: Callable[[Delivery], Delivery] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._sent = asyncio.Condition()

    def schedule(self, ready: Callable[[], Awaitable[Delivery | None]]) -> None:
        """Send the delivery `ready` makes (once its request has ended) in the background."""

        async def run() -> None:
            delivery = await ready()
            if delivery is None:
                return
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.edit is not None:
                delivery = self.edit(delivery)
            if self.drop:
                self.deliveries.append(delivery)
                await self._notify()
                return
            await self.send(delivery)

        task = asyncio.create_task(run(), name="fake-webhook")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, delivery: Delivery) -> Delivery:
        """POST `delivery` (again, for a replay) and keep it with the bot's answer."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        sent = Delivery(delivery.url, delivery.request_id, dict(delivery.headers), delivery.body)
        try:
            async with self._session.post(sent.url, data=sent.body, headers=sent.headers) as r:
                await r.read()
                sent.status = r.status
        except aiohttp.ClientError:
            sent.status = None
        sent.sent_at = time.monotonic()
        self.deliveries.append(sent)
        await self._notify()
        return sent

    async def wait_for(self, count: int = 1, timeout: float = 10) -> list[Delivery]:
        """The first `count` deliveries, once made (sent or dropped)."""
        async with asyncio.timeout(timeout), self._sent:
            await self._sent.wait_for(lambda: len(self.deliveries) >= count)
        return self.deliveries[:count]

    async def _notify(self) -> None:
        async with self._sent:
            self._sent.notify_all()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
