"""`bot.moderation.netguard`: which links count as public, and redirects followed by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.moderation import netguard
from bot.moderation.netguard import NotPublic, RedirectRefused, check_public_url, guarded_get

REFUSED = "points to a private/internal address"


def answers(table: dict[str, list[str]]) -> netguard.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return table[host]

    return resolve


async def nothing_resolves(host: str, port: int) -> list[str]:
    raise OSError("no DNS")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://127.255.0.9/x",
        "https://10.0.0.5/x",
        "https://172.31.255.1/x",
        "https://192.168.0.1/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/x",  # carrier-grade NAT
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://240.0.0.1/x",
        "https://255.255.255.255/x",
        "https://2130706433/x",  # decimal
        "https://0x7f000001/x",  # one hex number
        "https://0x7f.0.0.1/x",  # hex label
        "https://0177.0.0.1/x",  # octal label
        "https://127.1/x",  # short form
        "https://127.0.0.1./x",  # trailing dot
        "https://１２７.０.０.１/x",  # full-width digits
        "https://[::1]/x",
        "https://[::]/x",
        "https://[fe80::1]/x",
        "https://[fe80::1%25eth0]/x",
        "https://[fc00::1]/x",
        "https://[ff02::1]/x",
        "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped
        "https://[::ffff:a9fe:a9fe]/x",  # IPv4-mapped 169.254.169.254
        "https://[::127.0.0.1]/x",  # IPv4-compatible (deprecated)
        "https://[64:ff9b::a00:5]/x",  # NAT64 of 10.0.0.5
        "https://[2002:7f00:1::]/x",  # 6to4 of 127.0.0.1
        "http://127.0.0.1:8080/x",
    ],
)
async def test_literal_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(NotPublic, match=REFUSED):
        await check_public_url(url, resolver=nothing_resolves)


@pytest.mark.parametrize(
    "url",
    ["https://8.8.8.8/x", "https://[2606:4700:4700::1111]/x", "https://[::ffff:8.8.8.8]/x"],
)
async def test_literal_public_addresses_are_accepted(url: str) -> None:
    await check_public_url(url, resolver=nothing_resolves)


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/x",
        "https://LOCALHOST./x",
        "https://ｌｏｃａｌｈｏｓｔ/x",  # full-width
        "https://api.localhost/x",
        "https://fileserver/x",
        "https://metadata.google.internal/x",
        "https://printer.local/x",
        "https://router.home.arpa/x",
        "https://1.0.0.127.in-addr.arpa/x",
        "https://nas.lan/x",
        "https://wiki.intranet/x",
        "https://git.corp/x",
        "https://box.home/x",
        "https://svc.test/x",
        "https://site.example/x",
        "https://abc.onion/x",
        "https://co.uk/x",  # a public suffix itself, nobody's name
    ],
)
async def test_names_that_are_not_public_dns_names_are_refused(url: str) -> None:
    with pytest.raises(NotPublic, match=REFUSED):
        await check_public_url(url, resolver=nothing_resolves)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/x.safetensors",
        "https://huggingface.co/a/b",
        "https://cdn.example.co.uk/x",
        "https://someone.github.io/x",
        "https://bücher.de/x",
        "https://example.com./x",
        "https://example.com:8443/x",
    ],
)
async def test_public_names_that_do_not_resolve_here_are_accepted(url: str) -> None:
    await check_public_url(url, resolver=nothing_resolves)


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.5"], ["93.184.215.14", "127.0.0.1"], ["::1"], ["::ffff:169.254.169.254"]],
)
async def test_names_resolving_to_any_internal_address_are_refused(addresses: list[str]) -> None:
    resolver = answers({"evil.example.com": addresses})
    with pytest.raises(NotPublic, match=f"{REFUSED} \\(evil.example.com resolves to"):
        await check_public_url("https://evil.example.com/x", resolver=resolver)


async def test_names_resolving_only_to_public_addresses_are_accepted() -> None:
    resolver = answers(
        {"ok.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}
    )
    await check_public_url("https://ok.example.com/x", resolver=resolver)


async def test_a_resolver_that_does_not_answer_in_time_leaves_the_name_to_the_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(netguard, "RESOLVE_TIMEOUT_S", 0.05)

    async def hangs(host: str, port: int) -> list[str]:
        await asyncio.Event().wait()
        return []

    await check_public_url("https://slow.example.com/x", resolver=hangs)


async def test_the_system_resolver_answers_with_addresses() -> None:
    assert "127.0.0.1" in await netguard.system_resolver("localhost", 443)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://example.com\\@127.0.0.1/x", "backslashes"),
        ("https://exa mple.com/x", "spaces"),
        ("https://127.0.0.1@example.com/x", "user name or password"),
        ("https://%31%32%37.0.0.1/x", "percent-escapes"),
        ("https://example.com:99999/x", "not a valid link"),
        ("https://[::1/x", "not a valid link"),
        ("ftp://example.com/x", "not an http\\(s\\) link"),
        ("https:///x", "not an http\\(s\\) link"),
        ("https://1.2.3.999/x", "neither a valid IP address nor a domain name"),
        ("https://example.0x10/x", "neither a valid IP address nor a domain name"),
        ("https://a..b.com/x", "not have a valid host name"),
        (f"https://{'a' * 64}.com/x", "not have a valid host name"),
    ],
)
async def test_links_whose_host_cannot_be_told_for_sure_are_refused(url: str, words: str) -> None:
    with pytest.raises(NotPublic, match=words):
        await check_public_url(url, resolver=nothing_resolves)


# -- guarded_get ---------------------------------------------------------------------------


@pytest.fixture
async def servers() -> AsyncIterator[tuple[TestServer, TestServer, list[tuple[str, str]]]]:
    """Two origins; `first` redirects /go/{n} to /go/{n-1}, /go/0 and /away to `second`,
    which records (path, Authorization)."""
    seen: list[tuple[str, str]] = []

    async def second_handler(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization", "")))
        return web.Response(text="second")

    second_app = web.Application()
    second_app.router.add_get("/{tail:.*}", second_handler)
    second = TestServer(second_app, host="127.0.0.1")
    await second.start_server()

    async def first_handler(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        target = f"/go/{n - 1}" if n > 0 else str(second.make_url("/landing"))
        return web.Response(status=302, headers={"Location": target})

    first_app = web.Application()
    first_app.router.add_get("/go/{n}", first_handler)
    first = TestServer(first_app, host="127.0.0.1")
    await first.start_server()
    yield first, second, seen
    await first.close()
    await second.close()


async def allow_all(url: yarl.URL, hop: int) -> None:
    return None


async def test_guarded_get_follows_up_to_the_cap(
    servers: tuple[TestServer, TestServer, list[tuple[str, str]]],
) -> None:
    first, _, seen = servers
    async with (
        aiohttp.ClientSession() as session,
        guarded_get(session, first.make_url("/go/2"), check=allow_all) as response,
    ):
        assert await response.text() == "second"  # /go/2 → /go/1 → /go/0 → second: 3 hops
    assert [path for path, _ in seen] == ["/landing"]


async def test_guarded_get_refuses_a_hop_past_the_cap(
    servers: tuple[TestServer, TestServer, list[tuple[str, str]]],
) -> None:
    first, _, seen = servers
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RedirectRefused, match="redirected more than 3 times"):
            async with guarded_get(session, first.make_url("/go/3"), check=allow_all):
                pass
    assert seen == []


async def test_guarded_get_asks_the_check_before_each_hop(
    servers: tuple[TestServer, TestServer, list[tuple[str, str]]],
) -> None:
    first, _, seen = servers
    asked: list[tuple[str, int]] = []

    async def only_first(url: yarl.URL, hop: int) -> None:
        asked.append((url.path, hop))
        if url.port != first.port:
            raise NotPublic("elsewhere")

    async with aiohttp.ClientSession() as session:
        with pytest.raises(NotPublic, match="elsewhere"):
            async with guarded_get(session, first.make_url("/go/0"), check=only_first):
                pass
    assert asked == [("/go/0", 0), ("/landing", 1)]
    assert seen == []


async def test_guarded_get_does_not_carry_credentials_to_another_origin(
    servers: tuple[TestServer, TestServer, list[tuple[str, str]]],
) -> None:
    first, _, seen = servers
    headers = {"Authorization": "Bearer secret"}
    async with (
        aiohttp.ClientSession() as session,
        guarded_get(session, first.make_url("/go/0"), check=allow_all, headers=headers),
    ):
        pass
    assert seen == [("/landing", "")]
