-- At-most-once submission: submit_pending is set in the same row *before* the provider is
-- called and cleared only when the provider's answer is known (request id stored, or a clear
-- refusal). A restarted bot that finds it still set cannot know whether the provider accepted
-- the request, so it never sends it again: the job is ended and refunded instead.
ALTER TABLE jobs ADD COLUMN submit_pending INTEGER NOT NULL DEFAULT 0;

-- Who cancelled a job (and the provider it moved away from when a fallback took over).
ALTER TABLE jobs ADD COLUMN cancelled_by INTEGER;
ALTER TABLE jobs ADD COLUMN fallback_from TEXT;
