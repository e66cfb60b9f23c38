"""The one small interface every provider implements.

A job is split into submit / watch / result / cancel (rather than one `run` call) so the runner
can persist the provider's request id between submit and watch, and so a restarted bot can
re-attach to a request by id instead of paying for it twice.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar, Literal

import aiohttp

from bot.providers.capabilities import Capabilities
from bot.providers.catalogue.mapping import NO_EXTRA, ExtraInputs
from bot.providers.request import GenerationRequest

ResponseHook = Callable[[Any], Awaitable[None]]  # an httpx `response` event hook


def http_tag(provider: str) -> SimpleNamespace:
    """`trace_request_ctx` of a provider's request on the bot's shared session: the metrics
    (bot/ops/metrics.py) count it as that provider's."""
    return SimpleNamespace(provider=provider)


@dataclass(frozen=True)
class ProviderUpdate:
    """One observation of a running request, normalised across providers."""

    phase: Literal["queued", "running", "completed"]
    queue_position: int | None = None
    step: int | None = None
    total_steps: int | None = None
    log: str | None = None
    error: str | None = None  # set when the request completed unsuccessfully
    # A short sentence for the member when there is no step progress to show, e.g. that the
    # provider reports none, or how many of the images are ready.
    detail: str | None = None


@dataclass(frozen=True)
class GeneratedImage:
    url: str
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    nsfw: bool = False

    @property
    def ledger_url(self) -> str:
        """What the ledger keeps of `url`: inline `data:` images (OpenAI-compatible
        `b64_json` answers) are megabytes, so only their media type is kept."""
        if self.url.startswith("data:"):
            return self.url.split(",", 1)[0] + ",…"
        return self.url


@dataclass(frozen=True)
class GenerationResult:
    """What a finished request made: images (a video is one `video/*` file among them, a
    segmenter's mask one image) or, for a describe, texts."""

    images: tuple[GeneratedImage, ...]
    seed: int | None = None
    inference_s: float | None = None
    # Images the provider's safety filter left out of its output without a trace (Replicate's
    # FLUX models skip flagged images): asked for, never delivered, so never charged.
    dropped: int = 0
    texts: tuple[str, ...] = ()


class Provider(ABC):
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()

    @abstractmethod
    def build_input(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> dict[str, Any]:
        """Map the validated request onto this provider's own input names. `image` is the
        input image (a data URI or the provider's file URL) of the modes that take one, `extra`
        the mask and a blend's other images."""

    @abstractmethod
    async def submit(
        self, request: GenerationRequest, image: str | None = None, extra: ExtraInputs = NO_EXTRA
    ) -> str:
        """Start the request at the provider and return its request id."""

    async def upload_image(self, data: bytes, content_type: str, file_name: str) -> str | None:
        """Put an input image on the provider's own file storage and return the URL to send
        instead of an inline `data:` URI (which providers want only for small files). None:
        this provider has no storage, so the image goes inline. Sending the same file twice
        costs nothing, so errors are raised with `maybe_accepted` False."""
        return None

    @abstractmethod
    def watch(self, model: str, request_id: str) -> AsyncGenerator[ProviderUpdate, None]:
        """Yield updates until (and including) the `completed` one."""

    @abstractmethod
    async def result(self, model: str, request_id: str) -> GenerationResult:
        """Fetch the finished output (image URLs on the provider's CDN)."""

    @abstractmethod
    async def cancel(self, model: str, request_id: str) -> None:
        """Ask the provider to stop the request; harmless if it already finished."""

    async def probe(self, model: str) -> str | None:
        """The cheapest authenticated call this provider allows, for `python -m bot doctor`:
        returns None (or a short remark) when the key is accepted and the API reachable,
        raises ProviderError naming the problem otherwise."""
        raise NotImplementedError

    def can_resume(self, request_id: str) -> bool:
        """Whether `watch`/`result` can re-attach to this request id in this process. Queue
        providers can (the id is all they need); one that holds the request in memory cannot
        after a restart, and the runner then ends the job with a refund instead of waiting."""
        return True

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release network clients."""

    def observe_http(self, trace: aiohttp.TraceConfig, hook: ResponseHook) -> None:  # noqa: B027
        """Count this provider's HTTP answers (bot/ops/metrics.py): `trace` on each aiohttp
        session it owns, `hook` first among each httpx client's response hooks. By default none
        (a provider on the bot's session tags its requests: `http_tag`)."""


_TQDM_STEP = re.compile(r"(\d+)%\|[^|]*\|\s*(\d+)/(\d+)")
_PLAIN_STEP = re.compile(r"\bstep\s*(\d+)\s*(?:/|of)\s*(\d+)", re.IGNORECASE)


def parse_step(lines: list[str]) -> tuple[int, int] | None:
    """The latest `step/total` found in progress-bar log lines (tqdm or "step x of y")."""
    for line in reversed(lines):
        for chunk in reversed(line.replace("\r", "\n").split("\n")):
            match = _TQDM_STEP.search(chunk)
            if match:
                return int(match.group(2)), int(match.group(3))
            match = _PLAIN_STEP.search(chunk)
            if match:
                return int(match.group(1)), int(match.group(2))
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a `Retry-After` header (seconds form; dates are rare for APIs)."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(float(value.strip()), 0.0)
            except ValueError:
                return None
    return None


def trim_reason(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
