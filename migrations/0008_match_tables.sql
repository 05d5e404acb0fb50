-- A full re-score writes a fresh matches table and swaps it in (shared/db/rescore_tables.py):
-- COPY into a table without indexes, build them once, rename. Three things make that cheap:

-- 1. Explanations are stored once each and referenced by id: a city's millions of matches
--    share tens of thousands of distinct texts, and a fixed-width row can be COPYed in bulk.
CREATE TABLE match_explanations (
    id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    text text NOT NULL UNIQUE
);
INSERT INTO match_explanations (text) SELECT DISTINCT explanation FROM matches ORDER BY 1;
ALTER TABLE matches ADD COLUMN explanation_id integer;
UPDATE matches m SET explanation_id = x.id FROM match_explanations x WHERE x.text = m.explanation;
ALTER TABLE matches ALTER COLUMN explanation_id SET NOT NULL;
ALTER TABLE matches DROP COLUMN explanation;

-- 2. One index fewer to build: a profile's matches (tens) are found by the primary key's
--    leading column and sorted in memory.
DROP INDEX matches_profile_score;

-- 3. Feeds must re-render after a swap: rather than bumping every profile's
--    matches_version, a swap bumps this one counter, which is part of every feed's cache key.
CREATE TABLE match_generation (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL DEFAULT 0,
    swapped_at timestamptz
);
INSERT INTO match_generation DEFAULT VALUES;

-- When a run was fanned out (under the matching writers' lock): a scoring job done after
-- that may have written to the table being replaced, so the swap runs it again.
ALTER TABLE rescore_runs ADD COLUMN fanned_out_at timestamptz;
