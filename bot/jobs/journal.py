"""A write-ahead note of every job command the bot acknowledges, so a crash can't strand one.

A command is acknowledged first ("Art Factory is thinking…", within Discord's 3 s) and
recorded in the ledger after; a process killed in between would restart with no trace of it,
and the member would watch "thinking…" forever. So just before the acknowledgement the bot
appends one line to this journal, and once the job row exists (or the member has had their
answer) a second line settles it. On start, every entry left open either became a job (the
runner resumes it from the ledger) or is answered: "this didn't go through, nothing was
charged".

Why a file of its own and not the ledger: nothing may wait on the database before the
acknowledgement (another program can hold SQLite's write lock for seconds), and an
`os.write` to an append-only file costs microseconds and cannot be locked out. A process kill
loses nothing that was written (the kernel keeps it); a power cut within the few milliseconds
between the acknowledgement and the ledger's own fsync'd write is the one gap left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import discord

from bot.delivery.text import lost_notice, unanswered_notice
from bot.i18n import _, chosen_locales, resolve, using
from bot.i18n.gateway import locale_of
from bot.jobs.model import Origin

log = logging.getLogger(__name__)

BURST_ACKS = 20  # this many commands awaiting their acknowledgement make a burst
ACKS_FIRST_MAX_S = 2.0  # the longest a job's work waits for earlier acknowledgements
COMPACT_AFTER_LINES = 10_000  # then the file is rewritten with only the open entries
FORGET_AFTER_S = 24 * 3600  # older entries are dropped unanswered: nobody is waiting any more


def origin_of(
    interaction: discord.Interaction[Any], received_at: float, message_id: int | None = None
) -> Origin:
    """The interaction as a job's `Origin` (what answering it needs, without the object); its
    locale is the one its answers are written in, also by a job run after a restart."""
    return Origin(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        application_id=interaction.application_id,
        interaction_id=interaction.id,
        interaction_token=interaction.token,
        interaction_created_at=received_at,
        message_id=message_id,
        attachment_size_limit=interaction.filesize_limit,
        role_ids=tuple(role.id for role in getattr(interaction.user, "roles", ())),
        channel_nsfw=bool(getattr(interaction.channel, "nsfw", False)),
        locale=resolve(str(interaction.locale), chosen_locales.get(interaction.user.id)),
    )


def origin_from_raw(data: dict[str, Any], received_at: float) -> Origin:
    """`origin_of` from an INTERACTION_CREATE's payload, before discord.py has built the
    interaction (bot/early_ack.py)."""
    member = data.get("member") or {}
    channel = data.get("channel") or {}
    guild_id = data.get("guild_id")
    return Origin(
        user_id=int((member.get("user") or data.get("user") or {})["id"]),
        guild_id=int(guild_id) if guild_id is not None else None,
        channel_id=int(data.get("channel_id") or channel.get("id") or 0),
        application_id=int(data["application_id"]),
        interaction_id=int(data["id"]),
        interaction_token=str(data["token"]),
        interaction_created_at=received_at,
        attachment_size_limit=int(data.get("attachment_size_limit", Origin.attachment_size_limit)),
        role_ids=tuple(int(role) for role in member.get("roles", ())),
        channel_nsfw=bool(channel.get("nsfw", False)),
        locale=locale_of(data),
    )


def _ignore(seconds: float) -> None:
    pass


_ORIGIN_FIELDS = tuple(f.name for f in fields(Origin) if f.name != "role_ids")


@dataclass(frozen=True)
class Acknowledged:
    """A journal entry: the interaction acknowledged, and how to name it to its member."""

    origin: Origin  # `message_id` once the acknowledgement is known to have landed
    what: str  # "`/imagine`", "the button you clicked": how the member knows which it was
    # (in the member's language, like the notice it is put in: `origin.locale`)
    command: bool = True  # a slash or context-menu command (not a button or a form)
    job: bool = True  # it starts a job (else it only answers: nothing was charged either way)

    @property
    def interaction_id(self) -> int:
        return self.origin.interaction_id or 0

    @classmethod
    def of(
        cls, interaction: discord.Interaction[Any], received_at: float, *, job: bool = True
    ) -> Acknowledged:
        command = interaction.type is discord.InteractionType.application_command
        return cls(origin_of(interaction, received_at), _describe(interaction), command, job)

    def to_json(self) -> dict[str, Any]:
        # Flat fields, read directly: `asdict` deep-copies, and this runs before every
        # acknowledgement.
        origin = {name: getattr(self.origin, name) for name in _ORIGIN_FIELDS}
        return {"origin": origin, "what": self.what, "command": self.command, "job": self.job}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Acknowledged:
        return cls(
            Origin(**data["origin"]),
            str(data["what"]),
            bool(data.get("command", True)),
            bool(data.get("job", True)),
        )


def _describe(interaction: discord.Interaction[Any]) -> str:
    """Called while the interaction is handled, so in its member's language."""
    command = interaction.command
    if command is not None:
        if isinstance(command, discord.app_commands.ContextMenu):
            return f"**{_(command.name)}**"  # the name their Apps menu shows
        return f"`/{command.qualified_name}`"
    if interaction.type is discord.InteractionType.modal_submit:
        return _("the form you sent")
    return _("the button you clicked")


class Intake:
    """The journal. `path=None` keeps it in memory only (a `:memory:` ledger has no restart)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._fd: int | None = None
        self._open: dict[int, Acknowledged] = {}
        self._lines = 0
        self._order = AckOrder()
        # Told how long each acknowledgement took from arrival (the metrics: bot/ops/metrics.py).
        self.on_acknowledged: Callable[[float], None] = _ignore

    @classmethod
    def beside(cls, db_path: str, suffix: str = "") -> Intake:
        return cls(None if db_path == ":memory:" else Path(f"{db_path}-intake{suffix}"))

    def start(self) -> list[Acknowledged]:
        """Open the journal; returns the entries a previous process left open (they stay open
        here until settled, so a crash during the recovery loses none of them)."""
        left = self._read() if self._path is not None else []
        cutoff = time.time() - FORGET_AFTER_S
        self._open = {
            e.interaction_id: e for e in left if e.origin.interaction_created_at >= cutoff
        }
        self._rewrite()
        return list(self._open.values())

    def begin(self, entry: Acknowledged) -> None:
        """Call right before acknowledging: from here on a crash is answered at the next start."""
        self._open[entry.interaction_id] = entry
        self._append({"ack": entry.to_json()})
        self._order.begun(entry.interaction_id)

    def acknowledged(self, interaction_id: int, message_id: int) -> None:
        """The acknowledgement landed and made `message_id`: after a crash, that message (and
        no other) is the one to replace."""
        self._order.answered(interaction_id)
        entry = self._open.get(interaction_id)
        if entry is None:
            return
        if entry.origin.message_id is None:  # its first acknowledgement, not a moved one
            self.on_acknowledged(time.time() - entry.origin.interaction_created_at)
        self._open[interaction_id] = replace(
            entry, origin=replace(entry.origin, message_id=message_id)
        )
        self._append({"acked": interaction_id, "message": message_id})

    def settle(self, interaction_id: int) -> None:
        """The command became a job, or its member has had an answer."""
        self._order.answered(interaction_id)
        if self._open.pop(interaction_id, None) is None:
            return
        self._append({"done": interaction_id})
        if self._lines >= COMPACT_AFTER_LINES:
            self._rewrite()

    @property
    def pending(self) -> int:
        return len(self._open)

    def in_burst(self) -> bool:
        """At least `BURST_ACKS` commands are waiting for their acknowledgement."""
        return self._order.unanswered >= BURST_ACKS

    async def earlier_acknowledged(self) -> None:
        """Wait (up to `ACKS_FIRST_MAX_S`) until every command that arrived before this call
        has been acknowledged or answered (see `AckOrder`)."""
        await self._order.wait(ACKS_FIRST_MAX_S)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- the file ------------------------------------------------------------------------------

    def _append(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            return
        # One write(2) of one line to an O_APPEND file: no torn interleaving, no thread needed.
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        self._lines += 1

    def _rewrite(self) -> None:
        """Replace the file with only the open entries (atomically, by rename)."""
        if self._path is None:
            return
        self.close()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_name(self._path.name + ".new")
        with open(temporary, "w", encoding="utf-8") as out:
            for entry in self._open.values():
                out.write(json.dumps({"ack": entry.to_json()}, separators=(",", ":")) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self._path)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lines = len(self._open)

    def _read(self) -> list[Acknowledged]:
        assert self._path is not None
        try:
            lines = self._path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return parse(lines)


class AckOrder:
    """Acknowledgements before the work that follows them.

    Discord gives a command 3 s to be acknowledged; the work after the acknowledgement (the
    ledger, the provider) has no such clock. One loop serves both, first come first served, so
    in a burst of thousands of commands the later acknowledgements queued behind the earlier
    commands' jobs (1,500 at once: ack p99 ~2 s, issue 14). A job's work therefore waits until
    every command that arrived before it has been acknowledged. Under a steady flow that is at
    once; in a burst, every acknowledgement goes out first. The wait is bounded, so a stuck
    acknowledgement delays the others' work by at most that.
    """

    def __init__(self) -> None:
        self._seq = 0
        self._unanswered: dict[int, int] = {}  # interaction id -> its place in arrival order
        self._queue: deque[tuple[int, int]] = deque()  # (place, id), oldest first
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()  # (place, future)

    @property
    def unanswered(self) -> int:
        return len(self._unanswered)

    def begun(self, interaction_id: int) -> None:
        self._seq += 1
        self._unanswered[interaction_id] = self._seq
        self._queue.append((self._seq, interaction_id))

    def answered(self, interaction_id: int) -> None:
        if self._unanswered.pop(interaction_id, None) is None:
            return
        while self._queue and self._queue[0][1] not in self._unanswered:
            self._queue.popleft()
        oldest = self._queue[0][0] if self._queue else self._seq + 1
        while self._waiters and self._waiters[0][0] < oldest:
            _, future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)

    async def wait(self, max_wait_s: float) -> None:
        """Until everything begun so far is answered."""
        if not self._unanswered:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((self._seq, future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, max_wait_s)


def parse(lines: Iterable[str]) -> list[Acknowledged]:
    """Open entries in a journal's lines; a torn last line (a crash mid-write) is skipped."""
    entries: dict[int, Acknowledged] = {}
    for line in lines:
        try:
            record = json.loads(line)
            if "ack" in record:
                entry = Acknowledged.from_json(record["ack"])
                entries[entry.interaction_id] = entry
            elif "acked" in record:
                entry = entries[int(record["acked"])]
                origin = replace(entry.origin, message_id=int(record["message"]))
                entries[entry.interaction_id] = replace(entry, origin=origin)
            else:
                entries.pop(int(record["done"]), None)
        except (ValueError, TypeError, KeyError):
            log.warning("intake journal: skipped an unreadable line")
    return list(entries.values())


async def answer_lost(client: discord.Client, entry: Acknowledged) -> None:
    """Replace the stranded "thinking…" with a clear answer (or, once the token has expired,
    reply in the channel). An interaction whose acknowledgement never reached Discord has no
    message to replace: Discord already told the member it did not respond."""
    origin = entry.origin
    with using(origin.locale):  # the language the member was being answered in
        text = lost_notice(entry.what) if entry.job else unanswered_notice(entry.what)
    # The message to replace: the one the acknowledgement made, when that is known; else a
    # command's "@original" (its "thinking…", or nothing if the acknowledgement never landed).
    # A button's "@original" could be the result it sits on, so that one is never guessed at.
    target = origin.message_id or ("@original" if entry.command else None)
    if target is not None and origin.token_alive():
        webhook = discord.Webhook.partial(
            origin.application_id, origin.interaction_token, client=client
        )
        try:
            await webhook.edit_message(
                target,  # type: ignore[arg-type]  # "@original" is Discord's own name
                content=text,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return
        except discord.NotFound:
            if origin.message_id is None:
                return  # it never landed: Discord already told the member it failed
        except discord.HTTPException as exc:
            if exc.status != 401:
                raise
    channel = client.get_partial_messageable(origin.channel_id, guild_id=origin.guild_id)
    await channel.send(
        f"<@{origin.user_id}> {text}",
        allowed_mentions=discord.AllowedMentions(users=[discord.Object(origin.user_id)]),
    )


async def recover(
    client: discord.Client,
    intake: Intake,
    pending: Sequence[Acknowledged],
    became_jobs: set[int],
) -> int:
    """Settle what a previous process left open; returns how many members were answered."""
    answered = 0
    for entry in pending:
        if entry.interaction_id not in became_jobs:
            try:
                await answer_lost(client, entry)
                answered += 1
            except (discord.HTTPException, OSError) as exc:
                log.warning("could not answer interaction %s: %s", entry.interaction_id, exc)
                continue  # stays open: the next start tries again
        with contextlib.suppress(OSError):
            intake.settle(entry.interaction_id)
    return answered
