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

    async def find_job(self, ref: str, guild_id: int | None, viewer: int | None = None) -> JobRow:
        """A job from `#123`, `123`, or a Discord message link to its result; a private
        result only for its member (`viewer`)."""
        text = ref.strip().lstrip("#")
        job: JobRow | None = None
        link = re.search(r"/channels/(\d+|@me)/(\d+)/(\d+)", text)
        if link:
            job = await self._db.jobs.by_message(int(link.group(3)))
        elif text.isdigit():
            job = await self._db.jobs.get(int(text))
        else:
            raise InvalidRequest(_("Give a job number (like 123) or a link to a result message."))
        return _visible(job, guild_id, viewer)

    async def find_message(self, message_id: int, guild_id: int | None, viewer: int) -> JobRow:
        """The job whose result is that message."""
        return _visible(await self._db.jobs.by_message(message_id), guild_id, viewer)

    async def lineage(
        self, job: JobRow, *, max_depth: int = 50, viewer: int | None = None
    ) -> Lineage:
        """Private results of others are left out (they were shown to their member alone)."""
        chain = [job]
        seen = {job.id}
        while chain[0].parent_job_id is not None and len(chain) < max_depth:
            parent = await self._db.jobs.get(chain[0].parent_job_id)
            if parent is None or parent.id in seen:
                break
            seen.add(parent.id)
            chain.insert(0, parent)
        children = await self._db.jobs.children(job.id)

        def shown(row: JobRow) -> bool:
            return not row.private or row.user_id == viewer or row.id == job.id

        return Lineage(
            tuple(row for row in chain if shown(row)), tuple(row for row in children if shown(row))
        )

    async def descendants(self, job: JobRow, *, most: int = 60) -> list[JobRow]:
        """Everything made from `job`, generation by generation (parents before their
        children), at most `most` results; private ones are left out with what came of them."""
        found: list[JobRow] = []
        seen = {job.id}
        frontier = [job]
        while frontier and len(found) < most:
            children = []
            for parent in frontier:
                for child in await self._db.jobs.children(parent.id):
                    if child.id not in seen and not child.private:
                        seen.add(child.id)
                        children.append(child)
            found += children[: most - len(found)]
            frontier = children
        return found


def _visible(job: JobRow | None, guild_id: int | None, viewer: int | None) -> JobRow:
    hidden = job is not None and job.private and job.user_id != viewer
    if job is None or job.guild_id != guild_id or hidden:
        raise InvalidRequest(_("I can't find that job in this server."))
    return job
