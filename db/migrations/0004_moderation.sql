-- Server-level moderation, quotas, budgets and the gallery.

CREATE TABLE guild_settings (
    guild_id           INTEGER PRIMARY KEY,
    audit_channel_id   INTEGER,
    mod_channel_id     INTEGER,
    gallery_channel_id INTEGER,
    providers          TEXT    NOT NULL DEFAULT '',  -- comma list; '' = every enabled provider
    models             TEXT    NOT NULL DEFAULT '',  -- comma list; '' = every configured model
    default_provider   TEXT,
    nsfw_spoilers      INTEGER NOT NULL DEFAULT 1,   -- flagged images as spoilers in NSFW channels
    charge_flagged     INTEGER NOT NULL DEFAULT 1,   -- withheld images still count against quota
    monthly_budget     REAL,                         -- USD; NULL = no cap
    updated_at         REAL    NOT NULL
);

CREATE TABLE channel_settings (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    generation INTEGER,                -- NULL = allowed (inherit), 0 = off in this channel
    providers  TEXT    NOT NULL DEFAULT '',
    updated_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

CREATE TABLE prompt_filters (
    guild_id   INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('word', 'regex')),
    pattern    TEXT    NOT NULL,
    added_by   INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, kind, pattern)
);

CREATE TABLE quota_overrides (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    images   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE role_quotas (
    guild_id INTEGER NOT NULL,
    role_id  INTEGER NOT NULL,
    images   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

-- Images given back by `/admin quota reset`, per day.
CREATE TABLE quota_bonus (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    day      TEXT    NOT NULL,
    images   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, day)
);

CREATE TABLE bans (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    reason     TEXT,
    banned_by  INTEGER NOT NULL,
    until      REAL,                   -- NULL = until unbanned
    created_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE shares (
    message_id INTEGER PRIMARY KEY,    -- the gallery post
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    job_id     INTEGER NOT NULL REFERENCES jobs (id),
    image      INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    votes      INTEGER NOT NULL DEFAULT 0,
    created_at REAL    NOT NULL,
    UNIQUE (job_id, image)
);
CREATE INDEX shares_top ON shares (guild_id, created_at, votes);

CREATE TABLE reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    guild_id    INTEGER NOT NULL,
    reporter_id INTEGER NOT NULL,
    created_at  REAL    NOT NULL,
    UNIQUE (job_id, reporter_id)
);

-- Per job: the channel's age restriction when it was asked for, how many images were withheld
-- by the safety checker, and how many of the reserved images were given back (not charged).
ALTER TABLE jobs ADD COLUMN channel_nsfw INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN withheld_images INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN refunded_images INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_guild_spend ON jobs (guild_id, created_at);
