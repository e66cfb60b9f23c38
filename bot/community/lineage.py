"""Lineage: a result's chain back to its root, and the results built on it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import InvalidRequest
from bot.i18n import _
from db.database import Database
from db.jobs import JobRow


@dataclass(frozen=True)
class Lineage:
    chain: tuple[JobRow, ...]  # root first, the asked-for job last
    children: tuple[JobRow, ...]


class Lineages:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def find_job(self, ref: str, guild_id: int | None) -> JobRow:
        """A job from `#123`, `123`, or a Discord message link to its result."""
        text = ref.strip().lstrip("#")
        job: JobRow | None = None
        link = re.search(r"/channels/(\d+|@me)/(\d+)/(\d+)", text)
        if link:
            job = await self._db.jobs.by_message(int(link.group(3)))
        elif text.isdigit():
            job = await self._db.jobs.get(int(text))
        else:
            raise InvalidRequest(_("Give a job number (like 123) or a link to a result message."))
        if job is None or job.guild_id != guild_id:
            raise InvalidRequest(_("I can't find that job in this server."))
        return job

    async def lineage(self, job: JobRow, *, max_depth: int = 50) -> Lineage:
        chain = [job]
        seen = {job.id}
        while chain[0].parent_job_id is not None and len(chain) < max_depth:
            parent = await self._db.jobs.get(chain[0].parent_job_id)
            if parent is None or parent.id in seen:
                break
            seen.add(parent.id)
            chain.insert(0, parent)
        children = await self._db.jobs.children(job.id)
        return Lineage(tuple(chain), tuple(children))
