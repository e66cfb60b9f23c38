-- At start the bot looks up each interaction it acknowledged before a crash
-- (bot/intake.py): did it become a job? One index makes that a lookup, not a scan.

CREATE INDEX jobs_by_interaction ON jobs (interaction_id);
