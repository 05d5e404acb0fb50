-- `matches` becomes a table partitioned by profile id range (shared/db/rescore_tables.py).
-- A full re-score writes each chunk's rows into a partition of its own and indexes it
-- there and then (a sort of two million rows in memory, while other chunks still score),
-- so the swap at the end builds nothing: it attaches, renames and drops.
--
-- The rows already stored become the one partition covering every id. Its primary key
-- and event index become the partitions of the parent's; its foreign keys stay its own
-- (PostgreSQL 15 cannot add a foreign key to a partitioned parent without checking every
-- row, so each partition carries its own: see rescore_tables.SWAP).
ALTER TABLE matches RENAME TO matches_initial;
ALTER TABLE matches_initial RENAME CONSTRAINT matches_pkey TO matches_initial_pkey;
ALTER INDEX matches_event RENAME TO matches_initial_event;
ALTER TABLE matches_initial RENAME CONSTRAINT matches_profile_id_fkey TO matches_initial_profile_fkey;
ALTER TABLE matches_initial RENAME CONSTRAINT matches_event_id_fkey TO matches_initial_event_fkey;

CREATE TABLE matches (LIKE matches_initial INCLUDING DEFAULTS) PARTITION BY RANGE (profile_id);
ALTER TABLE matches ADD CONSTRAINT matches_pkey PRIMARY KEY (profile_id, event_id);
CREATE INDEX matches_event ON matches (event_id);
ALTER TABLE matches ATTACH PARTITION matches_initial FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
