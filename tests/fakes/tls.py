"""A throwaway certificate authority for the loopback HTTPS fakes.

httpx 0.28 (used by fal-client) builds its client SSL context in
``httpx._config.create_ssl_context``: when ``verify is True`` *and* ``trust_env`` is true (both are
httpx's defaults, and fal-client changes neither) it loads ``$SSL_CERT_FILE`` if that variable is
non-empty, else ``$SSL_CERT_DIR``, else certifi's bundle. The file *replaces* the trust store, it
is not added to it. The context is built when the transport is created, i.e. on fal-client's
first request (``AsyncClient._client`` is created lazily), so the variable must be set by then.
"""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trustme


@dataclass
class TLS:
    """A CA plus a server certificate valid for ``127.0.0.1`` and ``localhost``."""

    ca: trustme.CA
    server_cert: trustme.LeafCert
    ca_pem_path: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server-side context presenting the loopback certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(ctx)
        return ctx

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client-side context trusting only this CA (for in-process aiohttp/httpx clients)."""
        return ssl.create_default_context(cafile=str(self.ca_pem_path))

    def env(self) -> dict[str, str]:
        """Environment making httpx (hence fal-client) trust this CA."""
        return {"SSL_CERT_FILE": str(self.ca_pem_path)}


def make_tls(directory: Path | None = None) -> TLS:
    """Create a CA and a loopback server cert; the CA PEM goes to ``directory`` or a temp dir."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="fake-tls-")
        directory = Path(tmp.name)
    path = Path(directory) / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return TLS(ca=ca, server_cert=cert, ca_pem_path=path, _tmp=tmp)
