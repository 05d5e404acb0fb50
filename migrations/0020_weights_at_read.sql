-- Weights are applied where matches are read (SPEC "Matching"): eligibility never
-- depends on them, so `matches` holds every eligible pair with what its score is made of,
-- and `weigh_match` turns those parts and a weight set into the score and components.
-- Every reader calls it (shared/db/weighing.py writes the calls); a change of weights
-- writes no match row.
--
-- The parts: `distance_km` is the home-to-venue distance when the pair can meet in
-- person (within the radius), else NULL; `online` says the pair can meet online;
-- `interest_score` is the noisy-OR of the shared interests; `comfort_gap` is the
-- profile's comfort level minus the event's intensity (-1: a stretch event).
-- `kept` marks a cancelled event's rows that were matches when it was cancelled: they
-- stay, whatever the weights do meanwhile, until the event is over.
ALTER TABLE matches
    ADD COLUMN online boolean NOT NULL DEFAULT false,
    ADD COLUMN comfort_gap smallint NOT NULL DEFAULT 0,
    ADD COLUMN kept boolean NOT NULL DEFAULT false;

UPDATE matches m
SET online = (e.format <> 'in_person' AND 'online' = ANY (p.formats)),
    comfort_gap = p.comfort_level - e.intensity,
    kept = (e.status = 'cancelled')
FROM profiles p, events e
WHERE p.id = m.profile_id AND e.id = m.event_id;

ALTER TABLE matches
    DROP COLUMN score,
    DROP COLUMN distance_score,
    DROP COLUMN comfort_score,
    DROP COLUMN weight_version;

-- The SPEC's formula. The distance component: exp(-km / decay) in person, the online
-- score online, the larger of the two when both are open (a tie counts as in person,
-- and then the distance is shown; exp stops at e^-230, about 1e-100, since underflow
-- is an error in PostgreSQL). Comfort: 1 - 0.1 x gap at or below the level,
-- 1 - stretch_penalty for a stretch. Score: the weighted mean.
CREATE TYPE match_weighing AS (
    score       double precision,
    distance    double precision,
    comfort     double precision,
    distance_km real              -- NULL when the distance component is the online score
);

CREATE FUNCTION weigh_match(
    km real, online boolean, interest real, comfort_gap smallint,
    w_distance double precision, w_interest double precision, w_comfort double precision,
    distance_decay_km double precision, online_score double precision,
    stretch_penalty double precision
) RETURNS match_weighing
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((f.wd * d.distance + f.wi * f.interest + f.wc * c.comfort)
            / greatest(f.wd + f.wi + f.wc, 1e-300),
            d.distance, c.comfort, d.km)::match_weighing
    FROM (SELECT CASE WHEN in_person THEN near ELSE online_score END AS distance,
                 CASE WHEN in_person THEN km END AS km
          FROM (SELECT exp(greatest(-km / distance_decay_km, -230)) AS near,
                       km IS NOT NULL
                       AND (NOT online
                            OR exp(greatest(-km / distance_decay_km, -230)) >= online_score)
                       AS in_person) AS options) AS d,
         (SELECT CASE WHEN comfort_gap >= 0 THEN 1 - 0.1::double precision * comfort_gap
                      ELSE 1 - stretch_penalty END AS comfort) AS c,
         -- Under 1e-100 counts as 0: a product of two such would underflow, an error in
         -- PostgreSQL, and changes no score anyone could see.
         (SELECT CASE WHEN w_distance < 1e-100 THEN 0 ELSE w_distance END AS wd,
                 CASE WHEN w_interest < 1e-100 THEN 0 ELSE w_interest END AS wi,
                 CASE WHEN w_comfort < 1e-100 THEN 0 ELSE w_comfort END AS wc,
                 CASE WHEN interest < 1e-100 THEN 0 ELSE interest END AS interest) AS f
$$;

-- What a feed shows now depends on the weights too: activating a version bumps this
-- counter (already part of every feed's cache key, see migration 0008).
-- The rows above lack the pairs under min_score and, for hybrid events met online, the
-- distance: a release re-score (the nightly job's machinery) stores them all.
INSERT INTO rescore_runs (weight_version, reason) SELECT version, 'release' FROM active_weights;
INSERT INTO outbox (kind, subject_id) SELECT 'rescore', version FROM active_weights;
