"""fal's queue calls made on the bot's aiohttp session (bot/providers/fal_http.py) instead of
fal-client's httpx: the same requests, the same errors."""

from __future__ import annotations

import socket

import fal_client
import pytest

from bot.config import parse_config
from bot.errors import ProviderError
from bot.providers.fal import FalProvider
from bot.providers.request import build_request
from tests.fakes.fal import FakeFal, Script

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}


def _request(prompt: str = "a lighthouse"):  # type: ignore[no-untyped-def]
    return build_request(parse_config({}, ENV), prompt=prompt)


async def _refused_submit() -> ProviderError:
    provider = FalProvider("k")
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.submit(_request())
    finally:
        await provider.close()
    return caught.value


async def test_queue_calls_carry_fal_clients_key_and_user_agent(fake_fal: FakeFal) -> None:
    fake_fal.script(None, Script(queue_s=0.0, run_s=0.0, steps=1))
    provider = FalProvider("k")
    request = _request()
    try:
        request_id = await provider.submit(request)
        async for _update in provider.watch(request.model, request_id):
            pass
        result = await provider.result(request.model, request_id)
        await provider.cancel(request.model, request_id)
    finally:
        await provider.close()
    assert result.images
    calls = [r for r in fake_fal.requests if not r.path.endswith("/stream")]
    assert [r.method for r in calls] == ["POST", "GET", "PUT"]
    for record in calls:
        assert record.headers["Authorization"] == "Key k"
        assert record.headers["User-Agent"] == fal_client.client.USER_AGENT


async def test_a_refused_input_names_each_field_and_is_not_retried(fake_fal: FakeFal) -> None:
    detail = [{"loc": ["body", "num_images"], "msg": "must be at most 4", "type": "value_error"}]
    fake_fal.inject("POST", r"^/fal-ai/flux", status=422, json={"detail": detail})
    error = await _refused_submit()
    assert error.reason == "num_images: must be at most 4"
    assert error.status == 422
    assert not error.retryable


async def test_fals_retryable_header_decides_over_the_status(fake_fal: FakeFal) -> None:
    fake_fal.inject(
        "POST",
        r"^/fal-ai/flux",
        status=500,
        json={"detail": "model crashed on this input"},
        headers={"x-fal-retryable": "false"},
    )
    error = await _refused_submit()
    assert error.reason == "model crashed on this input"
    assert not error.retryable


async def test_a_queue_host_that_refuses_connections_was_never_reached(
    fake_fal: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"https://127.0.0.1:{closed}/")
    error = await _refused_submit()
    assert error.retryable
    assert not error.maybe_accepted  # nothing was sent: a retry cannot charge twice
    assert "could not reach fal" in error.reason
    assert fake_fal.requests == []


async def test_a_result_that_is_not_json_is_a_retryable_error(fake_fal: FakeFal) -> None:
    fake_fal.script(None, Script(queue_s=0.0, run_s=0.0, steps=1))
    provider = FalProvider("k")
    request = _request()
    try:
        request_id = await provider.submit(request)
        fake_fal.inject("GET", r"/requests/[^/]+$", status=200, body="<html>gateway</html>")
        with pytest.raises(ProviderError) as caught:
            await provider.result(request.model, request_id)
    finally:
        await provider.close()
    assert caught.value.retryable
    assert "other than JSON" in caught.value.reason


def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from yarl import URL

    from bot.providers.fal_http import FalHttp

    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "rest.fal.ai")
    http = FalHttp()
    assert http.proxy_for(URL("https://queue.fal.run/fal-ai/flux/dev"))["proxy"] == URL(
        "http://proxy.example:3128"
    )
    assert http.proxy_for(URL("https://rest.fal.ai/storage")) == {}


async def test_an_unreachable_queue_host_fails_over_to_its_backup_domain(
    fake_fal: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fal-client's `AsyncBackupDomainTransport`, kept: a host that refuses the connection is
    tried once more on its backup domain (here 127.0.0.2, where nothing listens, backed by the
    fake on 127.0.0.1)."""
    port = fake_fal.host.rsplit(":", 1)[1]
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"https://127.0.0.2:{port}/")
    monkeypatch.setattr(fal_client.client, "_BACKUP_DOMAINS", {"127.0.0.2": "127.0.0.1"})
    fake_fal.script(None, Script(queue_s=0.0, run_s=0.0, steps=1))
    provider = FalProvider("k")
    try:
        request_id = await provider.submit(_request())
    finally:
        await provider.close()
    assert [r.method for r in fake_fal.requests] == ["POST"]
    assert request_id == fake_fal.submits[0][2]
