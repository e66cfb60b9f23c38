-- Several bot processes on one ledger (PostgreSQL, issue 13).
-- One interaction makes at most one job, even when Discord delivers it to two processes.
DROP INDEX jobs_by_interaction;
CREATE UNIQUE INDEX jobs_one_per_interaction ON jobs (interaction_id)
    WHERE interaction_id IS NOT NULL;

-- The ledger is the queue: a process that runs a job holds a lease on it (`owner`, renewed by
-- heartbeats until `lease_until`); when the process dies the lease runs out and another
-- process takes the job over by its provider request id. `claimed_at`: when its present
-- owner took it (the fair scheduler serves the member served longest ago first).
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until REAL;
ALTER TABLE jobs ADD COLUMN claimed_at REAL;
CREATE INDEX jobs_claims ON jobs (owner, user_id)
    WHERE state IN ('queued', 'submitted', 'running', 'delivering');

-- The processes sharing the ledger, each renewing `seen_at`: what a process's share of the
-- bot-wide Discord budgets is, and what `db check` lists.
CREATE TABLE processes (
    id         TEXT    PRIMARY KEY,
    role       TEXT    NOT NULL,
    shards     TEXT    NOT NULL DEFAULT '',
    host       TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    started_at REAL    NOT NULL,
    seen_at    REAL    NOT NULL
);

-- When each IDENTIFY bucket (shard_id % max_concurrency) last identified, across processes.
CREATE TABLE identify_buckets (
    bucket  INTEGER PRIMARY KEY,
    last_at REAL    NOT NULL
);
