"""The audit channel: one compact line per job (and per blocked prompt), batched per server.

Lines are buffered and sent at most once per interval per server, several to a message, so a
burst of jobs costs a few requests instead of one each and never runs into Discord's
per-channel limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import discord

from bot.delivery.text import inline_code, kind_name, message_link, quote
from bot.i18n import _, n_, resolve, using
from bot.jobs.model import JobState
from bot.providers.request import GenerationRequest
from db.database import Database
from db.jobs import JobRow

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 1900
ICONS: dict[str, str] = {
    JobState.DONE: "✅",
    JobState.FAILED: "❌",
    JobState.EXPIRED: "⏱️",
    JobState.CANCELLED: "🛑",
}


def job_line(job: JobRow) -> str:
    request = GenerationRequest.from_json(job.inputs_json)
    prompt = quote(request.prompt, 120)
    charged = job.image_count - job.refunded_images if job.state == JobState.DONE else 0
    images = _("{charged}/{count} img", charged=charged, count=job.image_count)
    cost = f"${job.cost or 0:.3f}" if job.state == JobState.DONE else _("refunded")
    link = ""
    if job.private:  # its member's alone: the line says it was made, without the image
        link = " · " + _("private")
    elif job.state == JobState.DONE and job.result_message_id:
        url = message_link(job.guild_id, job.channel_id, job.result_message_id)
        link = " · " + _("[jump]({url})", url=url)
    withheld = job.withheld_images
    extra = " · " + n_("{n} withheld", "{n} withheld", withheld) if withheld else ""
    return (
        f"{ICONS.get(job.state, '•')} #{job.id} <@{job.user_id}> {kind_name(job.kind)} · "
        f"{job.provider} `{job.model}` · {images} · {cost}{extra} · {prompt}{link}"
    )


class AuditLog:
    def __init__(self, client: discord.Client, db: Database, *, interval_s: float = 5.0) -> None:
        self._client = client
        self._db = db
        self._interval_s = interval_s
        self._pending: dict[int, list[str]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None
        self.sent_messages = 0

    def job_finished(self, job: JobRow) -> None:
        if job.guild_id is not None:
            with using(self.server_locale(job.guild_id)):
                self.record(job.guild_id, job_line(job))

    def server_locale(self, guild_id: int) -> str:
        """The moderators read the server's language (its community locale), whoever's job or
        prompt a line is about."""
        guild = self._client.get_guild(guild_id)
        return resolve(str(guild.preferred_locale) if guild is not None else None)

    def prompt_blocked(
        self, guild_id: int, user_id: int, channel_id: int, prompt: str, pattern: str
    ) -> None:
        with using(self.server_locale(guild_id)):
            line = _(
                "🚫 blocked prompt from <@{user}> in <#{channel}> (filter {pattern}): {prompt}",
                user=user_id,
                channel=channel_id,
                pattern=inline_code(pattern),
                prompt=quote(prompt, 120),
            )
        self.record(guild_id, line)

    def record(self, guild_id: int, line: str) -> None:
        self._pending[guild_id].append(line)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._interval_s)
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, defaultdict(list)
        for guild_id, lines in pending.items():
            try:
                settings = await self._db.settings.guild(guild_id)
                if settings.audit_channel_id is None:
                    continue
                channel = self._client.get_partial_messageable(settings.audit_channel_id)
                for chunk in _chunks(lines):
                    await channel.send(chunk, allowed_mentions=discord.AllowedMentions.none())
                    self.sent_messages += 1
            except Exception as exc:
                log.warning("audit log for guild %s could not be written: %s", guild_id, exc)

    async def close(self) -> None:
        """Send what is pending (bounded), then stop."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), 5)


def _chunks(lines: list[str]) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = line[:MESSAGE_LIMIT]
        if current and len(current) + 1 + len(line) > MESSAGE_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks
