-- Outbox work that failed, timed out or was killed on its subject too often is parked:
-- `attempts` counts the runs that started (counted before the work, so a run that hangs
-- or is SIGKILLed counts too), `parked_at` says the sweep must stop enqueuing it, and
-- `last_error` names what went wrong (an exception's type, never its text or any data).
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;
ALTER TABLE outbox ADD COLUMN last_error text;

DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (id) WHERE done_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (id) WHERE parked_at IS NOT NULL AND done_at IS NULL;
