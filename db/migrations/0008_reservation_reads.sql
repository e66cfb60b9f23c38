-- A reservation (db/reservation.py) and a claim (db/leases.py) read what they check without
-- walking the server's or the member's past jobs; before, their cost grew with the ledger
-- (issue 14; bench/ledger.py):
-- 1. The member's images of the day in one server: the quota index now has the server in
--    it. SQLite chose the server's index (every job of the server) over the member's.
-- 2. The member's jobs in flight (the per-member cap of a claim): an index of the members'
--    unfinished jobs. SQLite walked every job the member ever made. And the jobs in flight in
--    all processes (the bot-wide cap; it grows with them, up to the cap): the index of the
--    unfinished jobs now holds their leases too, so they are counted without reading a row.
-- 3. The server's spend for the month: `guild_spend`, kept up to date by triggers as jobs are
--    reserved, settled and refunded, is one row to read instead of the cost of every job of
--    the month added up. `guild_id` 0 holds the jobs made outside any server. A job counts in
--    the month it was created in, for its cost, unless it was refunded: what `SUM(cost)` over
--    the month counted.
-- PostgreSQL runs 0008_reservation_reads.postgresql.sql instead (its own triggers).
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
       CAST(strftime('%s', created_at, 'unixepoch', 'start of month') AS REAL),
       COALESCE(SUM(cost), 0)
FROM jobs
WHERE quota_state != 'refunded'
GROUP BY 1, 2;

CREATE TRIGGER guild_spend_on_reserve AFTER INSERT ON jobs
WHEN NEW.quota_state != 'refunded'
BEGIN
    INSERT INTO guild_spend (guild_id, month_start, spent)
    VALUES (COALESCE(NEW.guild_id, 0),
            CAST(strftime('%s', NEW.created_at, 'unixepoch', 'start of month') AS REAL),
            COALESCE(NEW.cost, 0))
    ON CONFLICT (guild_id, month_start) DO UPDATE SET spent = spent + excluded.spent;
END;

CREATE TRIGGER guild_spend_on_settle AFTER UPDATE OF cost, quota_state ON jobs
WHEN NEW.cost IS NOT OLD.cost OR NEW.quota_state IS NOT OLD.quota_state
BEGIN
    INSERT INTO guild_spend (guild_id, month_start, spent)
    VALUES (COALESCE(NEW.guild_id, 0),
            CAST(strftime('%s', NEW.created_at, 'unixepoch', 'start of month') AS REAL),
            (CASE WHEN NEW.quota_state != 'refunded' THEN COALESCE(NEW.cost, 0) ELSE 0 END)
            - (CASE WHEN OLD.quota_state != 'refunded' THEN COALESCE(OLD.cost, 0) ELSE 0 END))
    ON CONFLICT (guild_id, month_start) DO UPDATE SET spent = spent + excluded.spent;
END;
