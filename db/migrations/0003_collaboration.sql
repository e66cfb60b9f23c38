-- Input images for image-to-image and upscale jobs, kept apart from the job row so that the
-- row stays small; a queued job can still be submitted after a restart.
CREATE TABLE input_images (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    data         BLOB    NOT NULL,
    content_type TEXT    NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    source_url   TEXT,
    created_at   REAL    NOT NULL
);

-- Lineage: which image of the parent a job was derived from (0-based), and results removed
-- with the Delete button.
ALTER TABLE jobs ADD COLUMN parent_image INTEGER;
ALTER TABLE jobs ADD COLUMN deleted_at REAL;
-- The message that carries the result (the original response, or a channel reply when the
-- interaction token had expired), so message links resolve to jobs.
ALTER TABLE jobs ADD COLUMN result_message_id INTEGER;
CREATE INDEX jobs_parent ON jobs (parent_job_id);
CREATE INDEX jobs_result_message ON jobs (result_message_id);

-- Each server's LoRA library.
CREATE TABLE loras (
    guild_id      INTEGER NOT NULL,
    name          TEXT    NOT NULL COLLATE NOCASE,
    url           TEXT    NOT NULL,
    trigger_words TEXT    NOT NULL DEFAULT '',
    default_scale REAL    NOT NULL DEFAULT 1.0,
    nsfw          INTEGER NOT NULL DEFAULT 0,
    added_by      INTEGER NOT NULL,
    created_at    REAL    NOT NULL,
    PRIMARY KEY (guild_id, name)
);
