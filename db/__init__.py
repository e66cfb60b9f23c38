"""Storage on SQLite (one process) or PostgreSQL (several): the numbered migrations and the
stores (db.jobs, db.images, db.loras, db.settings, db.community, db.stats, db.schemas,
db.leases) that hold every query, written once for both engines. Nothing else runs SQL."""

from __future__ import annotations

from db.database import Database
from db.jobs import JobRow

__all__ = ["Database", "JobRow"]
