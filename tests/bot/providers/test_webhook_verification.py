"""Checking provider webhooks' signatures (issue 17): fal's ED25519 over its JWKS, Replicate's
Standard Webhooks HMAC; and the inbox a verified webhook is handed to. Signed by the fakes'
own signers (tests/fakes/webhooks.py), which do not share the bot's code."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.providers.fal_webhook import JWKS_RETRY_S, FalWebhookVerifier
from bot.providers.replicate_webhook import ReplicateWebhookVerifier
from bot.providers.webhook_inbox import WebhookInbox, WebhookRefused
from tests.fakes.webhooks import fal_headers, jwks_of, standard_headers

BODY = json.dumps({"request_id": "req-1", "status": "OK", "payload": {"images": []}}).encode()
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Jwks:
    """fal's JWKS endpoint: the keys it publishes now, and how often it was asked."""

    def __init__(self, *keys: Ed25519PrivateKey) -> None:
        self.keys = list(keys)
        self.fetches = 0

    async def __call__(self) -> Any:
        self.fetches += 1
        return jwks_of(*self.keys)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_fal_webhook_signed_by_a_published_key_is_verified_with_one_jwks_fetch() -> None:
    key = Ed25519PrivateKey.generate()
    jwks = Jwks(key)
    verifier = FalWebhookVerifier(jwks)
    for _ in range(3):
        verified = await verifier.verify(fal_headers(key, "req-1", "u", BODY), BODY)
    assert (verified.request_id, verified.body["status"]) == ("req-1", "OK")
    assert verified.replay_key.startswith("req-1:")
    assert jwks.fetches == 1


@pytest.mark.parametrize(
    "change",
    ["tampered body", "other key", "old timestamp", "future timestamp", "other request id"],
)
async def test_a_fal_webhook_that_is_not_fals_as_sent_is_refused(change: str) -> None:
    key = Ed25519PrivateKey.generate()
    verifier = FalWebhookVerifier(Jwks(key))
    signer, stamp, rid, body = key, int(time.time()), "req-1", BODY
    if change == "other key":
        signer = Ed25519PrivateKey.generate()
    elif change == "old timestamp":
        stamp -= 301
    elif change == "future timestamp":
        stamp += 301
    elif change == "other request id":
        rid = "req-2"
    headers = fal_headers(signer, rid, "u", body, stamp)
    if change == "tampered body":
        body = body.replace(b"OK", b"ER")
    with pytest.raises(WebhookRefused) as refused:
        await verifier.verify(headers, body)
    expected = {"old timestamp": "stale", "future timestamp": "stale"}
    expected["other request id"] = "malformed"  # signed, but its body is another request's
    assert refused.value.kind == expected.get(change, "forged")


async def test_fals_keys_are_fetched_again_for_a_rotated_key_but_not_for_every_forgery() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    jwks, monotonic = Jwks(old), Clock()
    verifier = FalWebhookVerifier(jwks, monotonic=monotonic)
    await verifier.verify(fal_headers(old, "req-1", "u", BODY), BODY)
    monotonic.now += JWKS_RETRY_S
    jwks.keys = [new]  # fal rotated its key
    await verifier.verify(fal_headers(new, "req-1", "u", BODY), BODY)
    assert jwks.fetches == 2
    forger = Ed25519PrivateKey.generate()
    for _ in range(20):
        with pytest.raises(WebhookRefused):
            await verifier.verify(fal_headers(forger, "req-1", "u", BODY), BODY)
    assert jwks.fetches == 2


async def test_a_fal_webhook_is_answered_unverifiable_while_the_jwks_cannot_be_fetched() -> None:
    async def down() -> Any:
        raise ConnectionError("no route")

    verifier = FalWebhookVerifier(down)
    key = Ed25519PrivateKey.generate()
    with pytest.raises(WebhookRefused) as refused:
        await verifier.verify(fal_headers(key, "req-1", "u", BODY), BODY)
    assert (refused.value.kind, refused.value.status) == ("unverifiable", 503)


PREDICTION = json.dumps({"id": "p1", "status": "succeeded", "output": ["u"]}).encode()


async def test_a_replicate_webhook_is_verified_with_the_secret_fetched_once() -> None:
    asked = 0

    async def secret() -> str:
        nonlocal asked
        asked += 1
        return SECRET

    verifier = ReplicateWebhookVerifier(secret)
    for n in range(3):
        headers = standard_headers(SECRET, f"msg_{n}", PREDICTION)
        verified = await verifier.verify(headers, PREDICTION)
    assert (verified.request_id, verified.replay_key, asked) == ("p1", "msg_2", 1)


@pytest.mark.parametrize("change", ["tampered body", "other secret", "old timestamp", "unsigned"])
async def test_a_replicate_webhook_that_is_not_replicates_as_sent_is_refused(change: str) -> None:
    async def secret() -> str:
        return SECRET

    stamp, body = int(time.time()), PREDICTION
    key = "whsec_" + "QUJD" * 8 if change == "other secret" else SECRET
    headers = standard_headers(
        key, "msg_1", body, stamp - (301 if change == "old timestamp" else 0)
    )
    if change == "tampered body":
        body = body.replace(b"succeeded", b"failed")
    if change == "unsigned":
        headers = {}
    with pytest.raises(WebhookRefused) as refused:
        await ReplicateWebhookVerifier(secret).verify(headers, body)
    kinds = {"old timestamp": "stale", "unsigned": "unsigned"}
    assert refused.value.kind == kinds.get(change, "forged")


async def test_a_webhook_that_comes_a_moment_before_its_job_expects_it_is_still_taken() -> None:
    inbox = WebhookInbox("https://bot.example/")
    assert inbox.url("fal") == "https://bot.example/webhooks/fal"
    assert not inbox.deliver("fal", "req-1", {"status": "OK"})
    inbox.expect("fal", "req-1")
    arrival = inbox.arrival("fal", "req-1")
    assert arrival is not None and arrival.done()
    assert (await asyncio.wait_for(arrival, 1)) == {"status": "OK"}
    assert inbox.arrival("fal", "req-2") is None
