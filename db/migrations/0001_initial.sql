-- The job ledger. A job row is the single source of truth for a job and for the quota it holds:
-- quota_state moves reserved -> committed | refunded exactly once, in the same statement as the
-- job's state change, so a job can never be charged twice or refunded twice.
CREATE TABLE jobs (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    state                  TEXT    NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'submitted', 'running', 'delivering',
                         'done', 'failed', 'cancelled', 'expired')),
    kind                   TEXT    NOT NULL DEFAULT 'imagine',
    parent_job_id          INTEGER REFERENCES jobs (id),
    user_id                INTEGER NOT NULL,
    guild_id               INTEGER,
    channel_id             INTEGER NOT NULL,
    application_id         INTEGER NOT NULL,
    interaction_id         INTEGER,
    interaction_token      TEXT    NOT NULL,
    interaction_created_at REAL    NOT NULL,
    message_id             INTEGER,
    attachment_size_limit  INTEGER NOT NULL,
    provider               TEXT    NOT NULL,
    model                  TEXT    NOT NULL,
    inputs                 TEXT    NOT NULL,            -- JSON of the validated GenerationRequest
    image_count            INTEGER NOT NULL CHECK (image_count BETWEEN 1 AND 10),
    provider_request_id    TEXT,
    attempts               INTEGER NOT NULL DEFAULT 0,
    error                  TEXT,
    error_retryable        INTEGER,
    result                 TEXT,                        -- JSON: seed, image urls, timings
    cost                   REAL,
    quota_day              TEXT    NOT NULL,            -- UTC date the images count against
    quota_state            TEXT    NOT NULL DEFAULT 'reserved'
        CHECK (quota_state IN ('reserved', 'committed', 'refunded')),
    created_at             REAL    NOT NULL,
    updated_at             REAL    NOT NULL,
    submitted_at           REAL,
    finished_at            REAL
);

CREATE INDEX jobs_quota ON jobs (user_id, quota_day, quota_state);
CREATE INDEX jobs_unfinished ON jobs (state) WHERE state IN ('queued', 'submitted', 'running', 'delivering');
