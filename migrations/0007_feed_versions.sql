-- Feeds are looked up by one unique-index read of the profile and its stored render:
-- `profiles.matches_version` is the one counter saying "what this feed shows changed".
-- Match writers bump it in their own statements (shared/db/matches.py); here, any edit
-- of an event bumps it for every profile matched to that event, whoever edits the row.

-- A render also goes stale with time alone: when the first event it shows is over.
ALTER TABLE feed_renders ADD COLUMN fresh_until timestamptz;

-- Profiles are locked in id order, as every bump does, so concurrent bumps never deadlock.
CREATE FUNCTION bump_feeds_of_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH locked AS (
        SELECT p.id FROM profiles p
        WHERE p.id IN (SELECT m.profile_id FROM matches m WHERE m.event_id = NEW.id)
        ORDER BY p.id
        FOR NO KEY UPDATE
    )
    UPDATE profiles p SET matches_version = p.matches_version + 1
    FROM locked WHERE p.id = locked.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_bump_feeds
AFTER UPDATE ON events
FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
EXECUTE FUNCTION bump_feeds_of_event();
