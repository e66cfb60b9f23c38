"""Jobs: from an accepted command to a settled ledger row.

- `model`: the job's states and kinds, and the one table of allowed transitions.
- `intake`: accepting a job (admission, quota reservation, the ledger row), and `journal`, the
  write-ahead note that no acknowledged command is ever stranded by a crash.
- `scheduler`: fair scheduling (per-member FIFO, round-robin, global and per-member caps).
- `runner`: the loop that owns this process's jobs (resume, watchdog, cancel, shutdown).
- `execution`: one job's path through its provider (submit, fallback, watching, result).
- `settlement`: how a job ends (result posted and charged, or notice posted and refunded).
- `retry`: the one bounded retry policy.

This package imports nothing on purpose: `db/` reads `model` without pulling the runner in.
"""
