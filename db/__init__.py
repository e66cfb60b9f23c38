"""SQLite storage: schema, numbered migrations and the query functions. Nothing else runs SQL."""

from __future__ import annotations

from db.database import JOB_ACTIVE_STATES, JOB_FINAL_STATES, Database, JobRow

__all__ = ["JOB_ACTIVE_STATES", "JOB_FINAL_STATES", "Database", "JobRow"]
