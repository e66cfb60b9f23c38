"""One TLS read buffer per thread instead of one per connection.

asyncio's TLS transport (3.11+, `asyncio.sslproto.SSLProtocol`) gives every connection its own
read buffer of `max_size` bytes (256 KiB), allocated when the connection is made and kept until
it closes. The selector loop fills that buffer with `recv_into` and hands it straight to
`buffer_updated`, which copies the bytes into the connection's TLS input at once: between two
reads the buffer holds nothing anyone needs. So every connection of a thread can use the same
one. Measured with 2,000 open fal status streams (idle TLS connections, bench/README.md): 89 ->
75 KB of RSS per stream, ~140 MB less at ten thousand jobs in flight.

Not on Windows: the proactor loop starts an overlapped read into the buffer and finishes it
later, so a shared buffer could be written by two connections at once. uvloop has its own TLS
transport and is unaffected either way.
"""

from __future__ import annotations

import asyncio.sslproto
import sys
import threading
from typing import Any

# A TLS record carries at most 16 KiB of data, so a read never needs more than that.
TLS_READ_BUFFER = 16 * 1024

_per_thread = threading.local()
_Standard = asyncio.sslproto.SSLProtocol


def _buffer() -> tuple[bytearray, memoryview]:
    shared: tuple[bytearray, memoryview] | None = getattr(_per_thread, "buffer", None)
    if shared is None:
        data = bytearray(TLS_READ_BUFFER)
        shared = (data, memoryview(data))
        _per_thread.buffer = shared
    return shared


class SharedBufferSSLProtocol(_Standard):
    """asyncio's TLS protocol, reading into its thread's buffer."""

    max_size = TLS_READ_BUFFER

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ssl_buffer, self._ssl_buffer_view = _buffer()


def share_tls_read_buffers() -> bool:
    """Make the event loops of this process use `SharedBufferSSLProtocol` for the TLS
    connections they open from now on (process-wide; idempotent). False where it is not safe."""
    if sys.platform == "win32" or not hasattr(_Standard, "get_buffer"):
        return False
    asyncio.sslproto.SSLProtocol = SharedBufferSSLProtocol  # type: ignore[misc]
    return True
