-- Provider webhooks between the processes of one bot (issue 17): a verified webhook that
-- reached a process with no job waiting for it is kept here, and `pg_notify` tells the others;
-- the process whose job it ends takes it (DELETE … RETURNING: once).
CREATE TABLE webhook_events (
    provider    TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    received_at REAL    NOT NULL,
    PRIMARY KEY (provider, request_id)
);
