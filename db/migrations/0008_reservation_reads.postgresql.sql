-- 0008_reservation_reads.sql for PostgreSQL: the same index and table, the table kept by one
-- trigger function (SQLite's triggers are written in SQL, PostgreSQL's in PL/pgSQL). Read that
-- file's notes.
DROP INDEX jobs_quota;
CREATE INDEX jobs_quota ON jobs (user_id, quota_day, guild_id);
CREATE INDEX jobs_in_flight_by_member ON jobs (user_id)
    WHERE state IN ('queued', 'submitted', 'running', 'delivering');
DROP INDEX jobs_unfinished;
CREATE INDEX jobs_unfinished ON jobs (state, lease_until, owner)
    WHERE state IN ('queued', 'submitted', 'running', 'delivering');

CREATE TABLE guild_spend (
    guild_id    INTEGER NOT NULL,
    month_start REAL    NOT NULL,
    spent       REAL    NOT NULL,
    PRIMARY KEY (guild_id, month_start)
);

INSERT INTO guild_spend (guild_id, month_start, spent)
SELECT COALESCE(guild_id, 0),
       EXTRACT(EPOCH FROM date_trunc('month', to_timestamp(created_at), 'UTC')),
       COALESCE(SUM(cost), 0)
FROM jobs
WHERE quota_state <> 'refunded'
GROUP BY 1, 2;

CREATE FUNCTION guild_spend_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change REAL := CASE WHEN NEW.quota_state <> 'refunded' THEN COALESCE(NEW.cost, 0) ELSE 0 END;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.quota_state <> 'refunded' THEN
        change := change - COALESCE(OLD.cost, 0);
    END IF;
    IF TG_OP = 'INSERT' OR change <> 0 THEN
        INSERT INTO guild_spend (guild_id, month_start, spent)
        VALUES (COALESCE(NEW.guild_id, 0),
                EXTRACT(EPOCH FROM date_trunc('month', to_timestamp(NEW.created_at), 'UTC')),
                change)
        ON CONFLICT (guild_id, month_start)
            DO UPDATE SET spent = guild_spend.spent + EXCLUDED.spent;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER guild_spend_follow AFTER INSERT OR UPDATE OF cost, quota_state ON jobs
    FOR EACH ROW EXECUTE FUNCTION guild_spend_follow();
