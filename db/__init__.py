"""SQLite storage: schema, numbered migrations and the stores (db.jobs, db.images, db.loras,
db.settings, db.community, db.stats) that hold every query. Nothing else runs SQL."""

from __future__ import annotations

from db.database import Database
from db.jobs import JobRow

__all__ = ["Database", "JobRow"]
