"""Provider webhooks (issue 17): a verified one ends its job at once, with no status poll after
it; a forged, tampered, old, replayed or unsigned one changes nothing and is answered 4xx, and
the job still ends by its fallback. Through the real bot, fal-client and replicate against the
loopback fakes, which sign their webhooks as fal and Replicate do (tests/fakes/webhooks.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.providers.webhook_inbox import WebhookInbox
from bot.providers.webhook_relay import WebhookRelay
from bot.web.webhooks import provider_webhooks
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, FalFailure
from tests.fakes.fal import Script as FalScript
from tests.fakes.replicate import FakeReplicate
from tests.fakes.replicate import Script as ReplicateScript
from tests.fakes.webhooks import Delivery, fal_headers, standard_headers
from tests.harness import Harness, running_bot
from tests.storage import open_ledger

QUICK_FAL = FalScript(queue_s=0.1, queue_positions=[0], run_s=0.4, steps=2)
QUICK_REPLICATE = ReplicateScript(queue_s=0.1, run_s=0.4, steps=2)


def hooked(fake_fal: FakeFal) -> dict[str, Any]:
    """The config of a bot whose providers send webhooks: a known port, so `public_url` can
    name it before the bot starts."""
    port = FakeFal.pick_port()
    return {
        "web": {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"},
        "providers": {"fal": {"webhook_jwks_url": fake_fal.jwks_url}},
    }


def after(requests: list[Any], moment: float, request_id: str) -> list[str]:
    return [f"{r.method} {r.path}" for r in requests if r.time >= moment and request_id in r.path]


async def charged_once(h: Harness, interaction: Any) -> None:
    job = await h.job_for(interaction)
    assert job is not None
    assert (job.state, job.quota_state) == ("done", "committed")
    assert await h.bot.db.jobs.quota_used(4000, job.quota_day) == 1
    assert len(h.original(interaction).attachments) == 1


async def test_a_fal_job_ends_from_its_webhook_with_no_status_poll_or_result_read_after_it(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
) -> None:
    fake_fal.script(None, QUICK_FAL)
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        interaction = await h.imagine(prompt="a lighthouse")
        await h.idle()
        (job,) = fake_fal.jobs.values()
        assert job.webhook_url == f"{h.bot.config.web.public_url}/webhooks/fal"
        (delivery,) = fake_fal.webhooks.deliveries
        assert delivery.status == 200 and delivery.sent_at is not None
        assert job.status_polls == 0 and job.result_fetches == 0
        assert after(fake_fal.requests, delivery.sent_at, job.request_id) == []
        await charged_once(h, interaction)


async def test_a_fal_job_without_its_status_stream_ends_from_its_webhook_not_by_polling(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
) -> None:
    fake_fal.script(None, QUICK_FAL)
    fake_fal.inject("GET", r"/status/stream$", status=503, times=None)
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        interaction = await h.imagine(prompt="a lighthouse")
        await h.idle(timeout=10)  # the first fallback poll would come after 30 s
        (job,) = fake_fal.jobs.values()
        assert fake_fal.webhooks.deliveries[0].status == 200
        assert job.status_polls == 0 and job.result_fetches == 0
        await charged_once(h, interaction)


async def test_a_replicate_job_ends_from_its_webhook_with_no_status_poll(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
) -> None:
    fake_replicate.script(None, QUICK_REPLICATE)
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        interaction = await h.imagine(prompt="a lighthouse", provider="replicate")
        await h.idle()
        (prediction,) = fake_replicate.predictions.values()
        assert prediction.webhook == f"{h.bot.config.web.public_url}/webhooks/replicate"
        assert prediction.webhook_events_filter == ["completed"]
        (delivery,) = fake_replicate.webhooks.deliveries
        assert delivery.status == 200
        assert prediction.polls == 0  # the submit was the job's one request for it
        await charged_once(h, interaction)


EVIL = "http://127.0.0.1:9/not-the-generated-image.png"


def tampered(delivery: Delivery) -> Delivery:
    """The same signed webhook, its images swapped: taken, the job would post (or fail to
    fetch) someone else's picture."""
    body = json.loads(delivery.body)
    if "payload" in body:
        body["payload"]["images"][0]["url"] = EVIL
    else:
        body["output"] = [EVIL]
    return dataclasses.replace(delivery, body=json.dumps(body).encode())


def fal_signed_by(key: Ed25519PrivateKey, age_s: int = 0) -> Callable[[Delivery], Delivery]:
    def edit(delivery: Delivery) -> Delivery:
        headers = fal_headers(
            key, delivery.request_id, "fake-fal-user", delivery.body, int(time.time()) - age_s
        )
        return dataclasses.replace(delivery, headers=headers)

    return edit


def unsigned(delivery: Delivery) -> Delivery:
    return dataclasses.replace(delivery, headers={"Content-Type": "application/json"})


FAL_FORGERIES: dict[str, Callable[[FakeFal], Callable[[Delivery], Delivery]]] = {
    "tampered body": lambda fal: tampered,
    "wrong key": lambda fal: fal_signed_by(Ed25519PrivateKey.generate()),
    "old timestamp": lambda fal: fal_signed_by(fal.webhook_key, age_s=600),
    "unsigned": lambda fal: unsigned,
}


@pytest.mark.parametrize("forgery", list(FAL_FORGERIES))
async def test_a_forged_fal_webhook_is_refused_and_the_job_ends_by_its_own_status(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
    forgery: str,
) -> None:
    fake_fal.script(None, QUICK_FAL)
    fake_fal.webhooks.edit = FAL_FORGERIES[forgery](fake_fal)
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        interaction = await h.imagine(prompt="a lighthouse")
        await h.idle()
        (delivery,) = fake_fal.webhooks.deliveries
        assert delivery.status == 401
        (job,) = fake_fal.jobs.values()
        assert job.result_fetches == 1  # the result came from fal, not from the webhook
        await charged_once(h, interaction)


def standard_signed(secret: str, age_s: int = 0) -> Callable[[Delivery], Delivery]:
    def edit(delivery: Delivery) -> Delivery:
        stamp = int(time.time()) - age_s
        headers = standard_headers(secret, "msg_forged", delivery.body, stamp)
        return dataclasses.replace(delivery, headers=headers)

    return edit


REPLICATE_FORGERIES: dict[str, Callable[[FakeReplicate], Callable[[Delivery], Delivery]]] = {
    "tampered body": lambda rep: tampered,
    "wrong secret": lambda rep: standard_signed("whsec_" + "QUJD" * 8),
    "old timestamp": lambda rep: standard_signed(rep.webhook_secret, age_s=600),
    "unsigned": lambda rep: unsigned,
}


@pytest.mark.parametrize("forgery", list(REPLICATE_FORGERIES))
async def test_a_forged_replicate_webhook_is_refused_and_the_job_ends_by_its_fallback_poll(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
    forgery: str,
) -> None:
    fake_replicate.script(None, QUICK_REPLICATE)
    fake_replicate.webhooks.edit = REPLICATE_FORGERIES[forgery](fake_replicate)
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        assert h.bot.webhook_inbox is not None
        h.bot.webhook_inbox.fallback_first_s = 1.5
        interaction = await h.imagine(prompt="a lighthouse", provider="replicate")
        await h.idle()
        (delivery,) = fake_replicate.webhooks.deliveries
        assert delivery.status == 401
        (prediction,) = fake_replicate.predictions.values()
        assert prediction.polls == 1
        await charged_once(h, interaction)


async def test_a_lost_replicate_webhook_still_ends_its_job_by_the_fallback_poll(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
) -> None:
    fake_replicate.script(None, QUICK_REPLICATE)
    fake_replicate.webhooks.drop = True
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        assert h.bot.webhook_inbox is not None
        h.bot.webhook_inbox.fallback_first_s = 1.5
        interaction = await h.imagine(prompt="a lighthouse", provider="replicate")
        await h.idle()
        (prediction,) = fake_replicate.predictions.values()
        assert fake_replicate.webhooks.deliveries[0].status is None  # never sent
        assert prediction.polls == 1
        await charged_once(h, interaction)


async def test_a_lost_fal_webhook_still_ends_its_job_by_its_status_stream(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
) -> None:
    fake_fal.script(None, QUICK_FAL)
    fake_fal.webhooks.drop = True
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        interaction = await h.imagine(prompt="a lighthouse")
        await h.idle()
        (job,) = fake_fal.jobs.values()
        assert job.result_fetches == 1
        await charged_once(h, interaction)


@pytest.mark.parametrize("provider", ["fal", "replicate"])
async def test_a_replayed_webhook_is_refused_and_charges_nothing_twice(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
    provider: str,
) -> None:
    fake_fal.script(None, QUICK_FAL)
    fake_replicate.script(None, QUICK_REPLICATE)
    fake = fake_fal if provider == "fal" else fake_replicate
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        interaction = await h.imagine(prompt="a lighthouse", provider=provider)
        await h.idle()
        (genuine,) = fake.webhooks.deliveries
        assert genuine.status == 200
        replay = await fake.webhooks.send(genuine)
        assert replay.status == 401
        await h.idle()
        await charged_once(h, interaction)


async def test_a_flood_of_forged_webhooks_is_logged_once(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        url = f"{h.bot.config.web.public_url}/webhooks/replicate"
        caplog.set_level(logging.WARNING, logger="bot.web.webhooks")
        async with aiohttp.ClientSession() as session:
            for _ in range(20):
                async with session.post(url, data=b'{"id": "x"}') as response:
                    assert response.status == 401
        refusals = [r for r in caplog.records if "refused a replicate webhook" in r.message]
        assert len(refusals) == 1
        assert "unsigned" in refusals[0].message


async def test_a_job_that_fails_at_the_provider_leaves_no_webhook_waiter_behind(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
) -> None:
    fake_fal.script(None, dataclasses.replace(QUICK_FAL, fail=FalFailure(status=500)))
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        interaction = await h.imagine(prompt="a lighthouse")
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None and job.state == "failed"
        inbox = h.bot.webhook_inbox
        (submitted,) = fake_fal.jobs.values()
        assert submitted.webhook_url  # it got as far as the provider
        assert inbox is not None and inbox._waiting == {}


@pytest.mark.postgresql_only
async def test_a_webhook_that_reaches_another_process_ends_the_job_through_the_ledger(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    db_path: Path,
) -> None:
    """Behind one public_url the proxy may hand a job's webhook to another process of the bot:
    that one verifies it, finds no waiter, and relays it through the ledger to the job's."""
    fake_replicate.script(None, QUICK_REPLICATE)
    async with running_bot(fake_discord, db_path, **hooked(fake_fal)) as h:
        inbox = h.bot.webhook_inbox
        assert inbox is not None
        other_db = await open_ledger(db_path)  # the other process: its own connection…
        try:
            other = await provider_webhooks(
                h.bot.config, WebhookInbox(inbox.public_url), h.bot.providers, h.bot.session
            )
            other.relay = WebhookRelay(other_db, WebhookInbox(inbox.public_url))
            server = TestServer(web_app(other))  # …and its own web server
            await server.start_server()
            fake_replicate.webhooks.edit = lambda d: dataclasses.replace(
                d, url=str(server.make_url("/webhooks/replicate"))
            )
            interaction = await h.imagine(prompt="a lighthouse", provider="replicate")
            await h.idle(timeout=15)  # the fallback poll would come after 30 s
            (prediction,) = fake_replicate.predictions.values()
            (delivery,) = fake_replicate.webhooks.deliveries
            assert delivery.status == 200 and str(server.port) in delivery.url
            assert prediction.polls == 0
            await charged_once(h, interaction)
            await server.close()
        finally:
            await other_db.close()


def web_app(hooks: Any) -> web.Application:
    app = web.Application()
    app.add_routes(hooks.routes())
    return app


@pytest.mark.postgresql_only
async def test_a_webhook_relayed_before_its_job_waits_is_found_when_it_does(db_path: Path) -> None:
    """The submit's answer and the webhook race: a waiter registered after its webhook was
    relayed looks in the ledger first."""
    here, there = await open_ledger(db_path), await open_ledger(db_path)
    try:
        inbox = WebhookInbox("http://bot.example")
        assert await WebhookRelay(here, inbox).start()
        await WebhookRelay(there, WebhookInbox("http://bot.example")).publish(
            "replicate", "r1", {"id": "r1", "status": "succeeded"}
        )
        inbox.expect("replicate", "r1")
        arrival = inbox.arrival("replicate", "r1")
        assert arrival is not None
        assert await asyncio.wait_for(arrival, 5) == {"id": "r1", "status": "succeeded"}
        assert await here.webhook_events.take("replicate", "r1") is None  # taken once
    finally:
        await here.close()
        await there.close()


@pytest.mark.sqlite_only
async def test_on_sqlite_one_process_has_nothing_to_relay(db_path: Path) -> None:
    db = await open_ledger(db_path)
    try:
        assert await WebhookRelay(db, WebhookInbox("http://bot.example")).start() is False
    finally:
        await db.close()
