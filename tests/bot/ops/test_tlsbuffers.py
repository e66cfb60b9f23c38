"""bot/ops/tlsbuffers.py: open TLS connections share their thread's read buffer."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import os
import ssl
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import trustme

from bot.ops import tlsbuffers

Pair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
def shared() -> Iterator[None]:
    standard = asyncio.sslproto.SSLProtocol
    assert tlsbuffers.share_tls_read_buffers()
    yield
    asyncio.sslproto.SSLProtocol = standard  # type: ignore[misc]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def open_tls() -> AsyncIterator[list[Pair]]:
    """Eight TLS connections to a loopback echo server."""
    ca = trustme.CA()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ssl)
    client_ssl = ssl.create_default_context()
    ca.configure_trust(client_ssl)
    server = await asyncio.start_server(_echo, "127.0.0.1", 0, ssl=server_ssl)
    port = server.sockets[0].getsockname()[1]
    pairs = [await asyncio.open_connection("127.0.0.1", port, ssl=client_ssl) for _ in range(8)]
    yield pairs
    for _, writer in pairs:
        writer.close()
    server.close()
    await server.wait_closed()


async def _round_trip(pair: Pair, data: bytes) -> bytes:
    reader, writer = pair
    writer.write(data)
    await writer.drain()
    return await reader.readexactly(len(data))


@pytest.mark.usefixtures("shared")
async def test_connections_of_one_thread_read_into_one_buffer(open_tls: list[Pair]) -> None:
    protocols = [writer.transport._ssl_protocol for _, writer in open_tls]  # type: ignore[attr-defined]
    assert len({id(protocol._ssl_buffer) for protocol in protocols}) == 1
    assert len(protocols[0]._ssl_buffer) == tlsbuffers.TLS_READ_BUFFER


@pytest.mark.usefixtures("shared")
async def test_connections_reading_at_once_each_get_their_own_bytes(open_tls: list[Pair]) -> None:
    payloads = [os.urandom(300_000) for _ in open_tls]
    echoed = await asyncio.gather(*map(_round_trip, open_tls, payloads))
    assert echoed == payloads


def test_each_thread_reads_into_its_own_buffer() -> None:
    here = tlsbuffers._buffer()[0]
    there: list[bytearray] = []
    worker = threading.Thread(target=lambda: there.append(tlsbuffers._buffer()[0]))
    worker.start()
    worker.join()
    assert there[0] is not here
