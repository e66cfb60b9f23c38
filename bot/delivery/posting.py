"""A job's final message, posted exactly once through Discord's faults.

The paths, in order: edit the interaction's original response while its token lives; else (or
when that edit cannot land) a reply in the channel that mentions the member; for a text-only
notice, a follow-up on the interaction as the last resort. Each path retries Discord's 5xx,
429s it could not absorb, timeouts and connection errors with the bot's one retry policy
(bot/jobs/retry.py), inside the token's life for the paths that use the token.

Exactly once, because a 5xx or a timeout does not say whether Discord applied the request:
- An edit is idempotent: a retried edit that Discord had already applied shows the same thing.
  When every try failed, the original is read back before anything else is posted: if it
  already shows this content, that edit was the delivery.
- A channel reply carries a nonce fixed per job and purpose with `enforce_nonce` (see
  `Messenger.finish`), so a retried reply gets back the message Discord already created.
- When the edit's fate can't be read back, images are not posted in the channel (that could
  show them twice): the job fails, and its notice, an edit first, replaces whatever landed.

discord.py retries a 5xx itself, five times with 1+3+5+7+9 s of sleeps and no timeout,
holding the webhook's lock meanwhile. On these calls that loop is switched off
(`discord_trace`, `_raw_5xx`) so the policy above is the one in force, bounded by the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import TypeVar

import aiohttp
import discord

from bot.errors import DeliveryError
from bot.i18n import _
from bot.jobs.retry import RetryPolicy, retry_on

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPT_TIMEOUT_S = 60.0  # one request, uploads included; Discord answers far sooner
EDIT_MARGIN_S = 30.0  # edits stop this long before the token dies: time to read back
READ_MARGIN_S = 5.0

_RAW_5XX: ContextVar[bool] = ContextVar("artfactory_raw_discord_5xx", default=False)


class DiscordUnavailable(Exception):
    """A 5xx from Discord, raised inside aiohttp before discord.py could retry it. Not an
    OSError, so discord.py lets it through at once."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"Discord answered HTTP {status}")


def discord_trace() -> aiohttp.TraceConfig:
    """For `discord.Client(http_trace=...)`: inside `_raw_5xx()` a 5xx raises at once."""

    async def on_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        if _RAW_5XX.get() and params.response.status >= 500:
            raise DiscordUnavailable(params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    return trace


@contextlib.contextmanager
def _raw_5xx() -> Iterator[None]:
    token = _RAW_5XX.set(True)
    try:
        yield
    finally:
        _RAW_5XX.reset(token)


async def once(call: Callable[[], Awaitable[T]], *, timeout_s: float | None = None) -> T:
    """One Discord request (`ATTEMPT_TIMEOUT_S` at most). Faults that a new try may fix become
    a retryable DeliveryError; Discord's refusals (4xx) pass through as discord.py raised
    them, for the caller to sort."""
    timeout_s = ATTEMPT_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        with _raw_5xx():
            async with asyncio.timeout(max(timeout_s, 0.0)):
                return await call()
    except (DiscordUnavailable, discord.DiscordServerError) as exc:
        raise DeliveryError(_("Discord answered HTTP {status}", status=exc.status)) from exc
    except TimeoutError as exc:
        raise DeliveryError(_("Discord did not answer in time")) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise DeliveryError(
            _("Discord could not be reached ({error})", error=type(exc).__name__)
        ) from exc
    except discord.HTTPException as exc:
        if exc.status == 429:  # one discord.py would not wait out (e.g. a Cloudflare ban)
            raise DeliveryError(_("Discord is rate limiting the bot")) from exc
        raise


async def persist(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str,
    deadline: float | None = None,
    faults: list[DeliveryError] | None = None,
) -> T:
    """`call` retried with `policy`, never past `deadline` (unix seconds) when given; each
    fault that was retried is added to `faults`."""
    if deadline is not None:
        policy = replace(policy, total_s=max(0.0, min(policy.total_s, deadline - time.time())))

    def attempt() -> Awaitable[T]:
        if deadline is None:
            return once(call)
        left = deadline - time.time()
        if left <= 0:
            raise DeliveryError(_("the interaction expired meanwhile"), retryable=False)
        return once(call, timeout_s=min(ATTEMPT_TIMEOUT_S, left))

    async def retried(exc: DeliveryError, attempt_no: int, wait: float) -> None:
        if faults is not None:
            faults.append(exc)

    return await retry_on(DeliveryError, policy, attempt, what=what, on_retry=retried)


Send = Callable[[], Awaitable[discord.Message]]


@dataclass(frozen=True)
class Paths:
    """How one final message can reach the member (built by `Messenger.finish`)."""

    edit: Send | None  # the original response; None when there is none or its token is dead
    read_back: Send  # the original response as Discord has it now
    landed: Callable[[discord.Message], bool]  # does it show this final message?
    reply: Send  # a channel reply, with a fixed nonce
    follow_up: Send | None  # text-only notices while the token lives
    token_expires: float  # unix seconds
    has_files: bool


async def deliver(paths: Paths, policy: RetryPolicy, *, what: str) -> tuple[str, discord.Message]:
    """("edit" | "channel" | "followup", the message), or DeliveryError with the reason."""
    if paths.edit is not None:
        edited = await _edit(paths, paths.edit, policy, what)
        if edited is not None:
            return "edit", edited
    try:
        return "channel", await persist(paths.reply, policy, what=f"{what}: channel reply")
    except discord.HTTPException as exc:
        failure = DeliveryError(
            _("Discord refused the message (HTTP {status})", status=exc.status), retryable=False
        )
    except DeliveryError as exc:
        failure = exc
    if paths.follow_up is None or time.time() >= paths.token_expires - READ_MARGIN_S:
        raise failure
    log.warning("%s: the channel reply failed (%s); sending a follow-up", what, failure)
    deadline = paths.token_expires - READ_MARGIN_S
    try:
        message = await persist(
            paths.follow_up, policy, what=f"{what}: follow-up", deadline=deadline
        )
    except (discord.HTTPException, DeliveryError):
        raise failure from None
    return "followup", message


async def _edit(paths: Paths, edit: Send, policy: RetryPolicy, what: str) -> discord.Message | None:
    """The edited original, or None when the channel should be tried instead: Discord refused
    the edit (gone, token expired, …) before any try could have landed; or reading the
    original back shows that none did."""
    faults: list[DeliveryError] = []
    deadline = paths.token_expires - EDIT_MARGIN_S
    try:
        return await persist(edit, policy, what=f"{what}: edit", deadline=deadline, faults=faults)
    except discord.HTTPException as exc:
        if not faults:
            log.info("%s: the original response can't be edited (%s); replying", what, exc)
            return None
        fault: Exception = exc  # after tries that may have landed: check first
    except DeliveryError as exc:
        fault = exc
    try:
        current = await persist(
            paths.read_back,
            policy,
            what=f"{what}: read back",
            deadline=paths.token_expires - READ_MARGIN_S,
        )
    except discord.NotFound:
        return None
    except (discord.HTTPException, DeliveryError) as exc:
        if not paths.has_files:
            return None  # a notice posted twice is better than none
        raise DeliveryError(
            _("{fault}, and the message could not be read back to check it", fault=fault),
            retryable=True,
        ) from exc
    if paths.landed(current):
        log.info("%s: the edit had landed despite %s", what, fault)
        return current
    log.warning("%s: the edit failed (%s); replying in the channel", what, fault)
    return None


__all__ = ["DiscordUnavailable", "Paths", "deliver", "discord_trace", "once", "persist"]
