-- The chunks a full re-score is split into (profile id ranges), so several workers share
-- a run and a lost chunk can be found and enqueued again.
CREATE TABLE rescore_chunks (
    run_id           bigint NOT NULL REFERENCES rescore_runs (id) ON DELETE CASCADE,
    chunk_no         integer NOT NULL,
    first_profile_id bigint NOT NULL,
    last_profile_id  bigint NOT NULL,
    enqueued_at      timestamptz,
    done_at          timestamptz,
    pairs            bigint NOT NULL DEFAULT 0,
    matches          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, chunk_no)
);
CREATE INDEX rescore_chunks_pending ON rescore_chunks (run_id) WHERE done_at IS NULL;
CREATE INDEX rescore_runs_unfinished ON rescore_runs (weight_version) WHERE finished_at IS NULL;
