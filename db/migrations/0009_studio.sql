-- A personal studio (issue 16): members' own defaults, styles, private results, languages.

-- Where a job's answers go and in which words: the interaction's language (or the member's
-- chosen one), and whether the results are the member's alone (ephemeral, never in the
-- gallery, lineage browsing by others or the audit thumbnails).
ALTER TABLE jobs ADD COLUMN locale TEXT NOT NULL DEFAULT 'en-US';
ALTER TABLE jobs ADD COLUMN private INTEGER NOT NULL DEFAULT 0;

-- A member's own defaults (`/settings`), the same in every server; NULL = not set. The
-- server's rules still win over them where the command runs.
CREATE TABLE member_settings (
    user_id      INTEGER PRIMARY KEY,
    provider     TEXT,
    model        TEXT,
    aspect_ratio TEXT,
    image_count  INTEGER,
    style        TEXT,
    private      INTEGER,
    prompt_help  INTEGER,
    locale       TEXT,
    updated_at   REAL    NOT NULL
);

-- Named prompt templates: a server's library (user_id 0, added with Manage Server) and each
-- member's own (guild_id 0). `template` holds `{prompt}`.
CREATE TABLE styles (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    name       TEXT    NOT NULL COLLATE NOCASE,
    template   TEXT    NOT NULL,
    negative   TEXT,
    model      TEXT,
    loras      TEXT    NOT NULL DEFAULT '',
    added_by   INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id, name)
);

-- A server may forbid private results (its moderators see everything made there).
ALTER TABLE guild_settings ADD COLUMN private_results INTEGER NOT NULL DEFAULT 1;
