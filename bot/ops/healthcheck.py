"""`python -m bot healthcheck`: the container's HEALTHCHECK (Dockerfile). Asks this machine's
bot for `/healthz` ([web] listen) and exits 0 when it answers 200, else 1 with one line saying
why. A CLI of its own, so the image needs no curl; the standard library's client is enough for
one request that waits at most `TIMEOUT_S`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from bot.config import Config

TIMEOUT_S = 4.0


def healthcheck(config: Config) -> int:
    address = config.web.address
    if address is None:
        print('[web] listen is not set: set it (e.g. "0.0.0.0:8080") to have /healthz to ask')
        return 1
    host, port = address
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: ask over loopback
        host = "127.0.0.1"
    url = f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            print(f"healthy ({url})")
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:  # 503: the body names what failed
        failing = _failing(exc.read())
        print(f"unhealthy ({url}): {failing or exc.code}")
        return 1
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        print(f"no answer from {url}: {exc}")
        return 1


def _failing(body: bytes) -> str:
    try:
        checks = json.loads(body).get("checks", {})
    except (ValueError, AttributeError):
        return ""
    return "; ".join(
        f"{name}: {check.get('detail') or 'failing'}"
        for name, check in checks.items()
        if not check.get("ok")
    )
