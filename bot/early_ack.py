"""In a burst, job commands are acknowledged straight from the gateway event (issue 14).

A server's announcement brings thousands of `/imagine` within a second. discord.py turns each
INTERACTION_CREATE into an `Interaction`, finds the command, converts its options and calls the
cog, and only then could the cog acknowledge: ~0.7 ms of Python per command on one loop, so the
3,000th of a burst waited up to 2.9 s of Discord's 3 (bench/README.md). While the bot is in a
burst (`Intake.in_burst`), an `/imagine` is acknowledged from the raw event instead: the journal
notes it first, as before every acknowledgement, then one POST of the public "thinking…" (the
very answer the cog would make). discord.py's handling of the event waits until the
acknowledgements in flight have landed (at most `HOLD_MAX_S`), then runs as usual, and the cog
finds its interaction acknowledged (`EarlyAcks.claim`).

The POST goes through the bot's aiohttp session rather than discord.py's webhook adapter: the
adapter's per-request rate-limit bookkeeping is half of an acknowledgement's cost, and an
interaction's callback has no shared bucket to keep (each token answers once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord

from bot.delivery.text import UNEXPECTED_ERROR
from bot.i18n import _, using
from bot.jobs.journal import Acknowledged, Intake, origin_from_raw

log = logging.getLogger(__name__)

JOB_COMMANDS = frozenset({"imagine"})  # answered with a public "thinking…", then a job
HOLD_MAX_S = 2.0  # discord.py's handling of an acknowledged event waits at most this long
UNCLAIMED_AFTER_S = 60.0  # an acknowledged command no cog took by then gets an apology
DEFERRED = 5  # Discord's DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: the public "thinking…"
APPLICATION_COMMAND = 2
NOT_SENT = -1  # the early acknowledgement failed: the cog acknowledges as it usually does
ACK_TIMEOUT = aiohttp.ClientTimeout(total=10)
CONNECTIONS = 256
BODY = json.dumps({"type": DEFERRED}).encode()


@dataclass(frozen=True)
class EarlyAck:
    entry: Acknowledged
    sent: asyncio.Task[int | None]  # the response's message id; NOT_SENT when it failed

    async def landed(self, interaction: discord.Interaction[Any]) -> int | None:
        """The message id the acknowledgement made (None: not named), or NOT_SENT when it
        failed and the caller must acknowledge itself. Marks `interaction.response` done."""
        message_id = await self.sent
        if message_id != NOT_SENT:
            self.mark(interaction)
        return message_id

    @staticmethod
    def mark(interaction: discord.Interaction[Any]) -> None:
        """Mark `interaction.response` done with the public "thinking…" (discord.py has no
        public way to say the response was made elsewhere)."""
        interaction.response._response_type = discord.InteractionResponseType(DEFERRED)


class EarlyAcks:
    """Wraps discord.py's INTERACTION_CREATE parser to acknowledge job commands of a burst."""

    def __init__(
        self,
        intake: Intake,
        api_base: str,
        user_agent: str,
        trace: aiohttp.TraceConfig | None = None,  # the metrics' (bot/ops/metrics.py)
    ) -> None:
        self._intake = intake
        # Its own pool, so a burst's acknowledgements never queue behind image downloads;
        # capped, unlike discord.py's, so that a burst opens at most that many connections
        # (each a TLS handshake at Discord) and then reuses them.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONNECTIONS),
            timeout=ACK_TIMEOUT,
            trace_configs=[trace] if trace is not None else None,
        )
        self._api_base = api_base.rstrip("/")
        self._headers = {"User-Agent": user_agent}  # Discord's form, as discord.py sends it
        self._ack_headers = {**self._headers, "Content-Type": "application/json"}
        self._parse: Callable[[dict[str, Any]], None] | None = None
        self._early: dict[int, EarlyAck] = {}
        self._held: deque[tuple[float, dict[str, Any]]] = deque()
        self._sending = 0
        self._landed = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def install(self, state: Any) -> EarlyAcks:
        """Put `parse` in front of `state`'s INTERACTION_CREATE parser (the dict every shard's
        socket dispatches through)."""
        self._parse = state.parsers["INTERACTION_CREATE"]
        state.parsers["INTERACTION_CREATE"] = self.parse
        return self

    def parse(self, data: dict[str, Any]) -> None:
        assert self._parse is not None
        if not self._takes(data):
            self._parse(data)
            return
        try:
            origin = origin_from_raw(data, time.time())
        except (KeyError, ValueError, TypeError):  # not as documented: discord.py's to handle
            self._parse(data)
            return
        entry = Acknowledged(origin, f"`/{data['data']['name']}`")
        self._intake.begin(entry)  # before the acknowledgement, as always
        self._sending += 1
        self._landed.clear()
        early = EarlyAck(entry, asyncio.create_task(self._send(entry)))
        self._early[entry.interaction_id] = early
        self._held.append((time.monotonic(), data))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="early-acks")

    def _takes(self, data: dict[str, Any]) -> bool:
        command = data.get("data") or {}
        return (
            data.get("type") == APPLICATION_COMMAND
            and data.get("guild_id") is not None
            and command.get("name") in JOB_COMMANDS
            and command.get("type", 1) == 1
            and self._intake.in_burst()
        )

    async def close(self) -> None:
        await self._session.close()

    def acknowledged_early(self, interaction_id: int) -> bool:
        return interaction_id in self._early

    def claim(self, interaction_id: int) -> EarlyAck | None:
        """The early acknowledgement of this interaction, for the one handler answering it."""
        return self._early.pop(interaction_id, None)

    async def _send(self, entry: Acknowledged) -> int | None:
        origin = entry.origin
        callback = f"interactions/{origin.interaction_id}/{origin.interaction_token}/callback"
        url = f"{self._api_base}/{callback}"
        try:
            async with self._session.post(
                url,
                params={"with_response": "1"},
                data=BODY,
                headers=self._ack_headers,
                timeout=ACK_TIMEOUT,
            ) as response:
                status = response.status
                body = await response.read() if status == 200 else b""
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("early acknowledgement of %s failed: %s", origin.interaction_id, exc)
            return NOT_SENT
        finally:
            self._sending -= 1
            if self._sending == 0:
                self._landed.set()
        if status >= 300:
            log.warning("early acknowledgement of %s: HTTP %s", origin.interaction_id, status)
            return NOT_SENT
        message_id = _message_id(body)
        if message_id is not None:
            self._intake.acknowledged(entry.interaction_id, message_id)
        return message_id

    async def _drain(self) -> None:
        """Hand the held events to discord.py, in order, once the acknowledgements in flight
        have landed (or the oldest has waited `HOLD_MAX_S`), one per turn of the loop."""
        assert self._parse is not None
        while self._held:
            held_at, data = self._held[0]
            wait = held_at + HOLD_MAX_S - time.monotonic()
            if self._sending and wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._landed.wait(), wait)
                continue
            self._held.popleft()
            try:
                self._parse(data)
            except Exception:  # as discord.py's socket would: log it, go on with the rest
                log.exception("handling interaction %s failed", data.get("id"))
            self._watch(int(data["id"]))
            await asyncio.sleep(0)

    def _watch(self, interaction_id: int) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(UNCLAIMED_AFTER_S, self._unclaimed, interaction_id)

    def _unclaimed(self, interaction_id: int) -> None:
        """No handler took the acknowledged command (discord.py dropped the event, or a check
        refused it before the cog): answer it, so nobody is left at "thinking…"."""
        early = self._early.pop(interaction_id, None)
        if early is None:
            return
        log.error("interaction %s was acknowledged early but never handled", interaction_id)
        task = asyncio.create_task(self._apologise(early))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apologise(self, early: EarlyAck) -> None:
        origin = early.entry.origin
        webhook = f"{self._api_base}/webhooks/{origin.application_id}/{origin.interaction_token}"
        with using(origin.locale):  # the member's language, as their answer would have been
            content = _(UNEXPECTED_ERROR)
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._session.delete(
                f"{webhook}/messages/@original", headers=self._headers, timeout=ACK_TIMEOUT
            ):
                pass
            async with self._session.post(
                webhook,
                json={"content": content, "flags": 64},
                headers=self._headers,
                timeout=ACK_TIMEOUT,
            ):
                pass
        self._intake.settle(early.entry.interaction_id)


def _message_id(body: bytes) -> int | None:
    """The message a callback made (`interaction.response_message_id`, or the resource's);
    None when the answer does not say (the acknowledgement landed all the same)."""
    try:
        answer: Any = json.loads(body)
        named = (answer.get("interaction") or {}).get("response_message_id")
        if named is None:
            named = ((answer.get("resource") or {}).get("message") or {}).get("id")
        return int(named) if named is not None else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
