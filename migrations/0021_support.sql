-- Support (SPEC "Support"): the kinds of support an event gives and a user would like,
-- from one vocabulary; the support component `|seeking & support| / |seeking|`, left out
-- of the weighted mean when the user seeks nothing or the event declares nothing, so
-- every such pair scores exactly as before; the `support` and `together_bonus` weights.
ALTER TABLE events ADD COLUMN support text[] NOT NULL DEFAULT '{}'
    CHECK (support <@ ARRAY['emotional', 'practical', 'informational', 'companionship']);
ALTER TABLE profiles ADD COLUMN seeking text[] NOT NULL DEFAULT '{}'
    CHECK (seeking <@ ARRAY['emotional', 'practical', 'informational', 'companionship']);

-- The pair's support part; -1 when it is not counted. A number, not NULL: match rows are
-- COPYed in fixed-width layouts (shared/match_copy.py), one per NULL-able column.
ALTER TABLE matches ADD COLUMN support real NOT NULL DEFAULT -1
    CHECK (support = -1 OR support BETWEEN 0 AND 1);

-- Versions stored before these weights existed hold their defaults.
ALTER TABLE weight_versions
    ADD COLUMN support double precision NOT NULL DEFAULT 1 CHECK (support >= 0),
    ADD COLUMN together_bonus double precision NOT NULL DEFAULT 0.1
        CHECK (together_bonus BETWEEN 0 AND 1);

DROP FUNCTION weigh_match(real, boolean, real, smallint, double precision, double precision,
                          double precision, double precision, double precision,
                          double precision);
ALTER TYPE match_weighing ADD ATTRIBUTE support double precision;  -- NULL: not counted

-- As migration 0020's, with the support component in the mean when it is counted.
CREATE FUNCTION weigh_match(
    km real, online boolean, interest real, comfort_gap smallint, support real,
    w_distance double precision, w_interest double precision, w_comfort double precision,
    w_support double precision, distance_decay_km double precision,
    online_score double precision, stretch_penalty double precision
) RETURNS match_weighing
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((f.wd * d.distance + f.wi * f.interest + f.wc * c.comfort
             + f.ws * coalesce(f.support, 0))
            / greatest(f.wd + f.wi + f.wc + f.ws, 1e-300),
            d.distance, c.comfort, d.km, f.support)::match_weighing
    FROM (SELECT CASE WHEN in_person THEN near ELSE online_score END AS distance,
                 CASE WHEN in_person THEN km END AS km
          FROM (SELECT exp(greatest(-km / distance_decay_km, -230)) AS near,
                       km IS NOT NULL
                       AND (NOT online
                            OR exp(greatest(-km / distance_decay_km, -230)) >= online_score)
                       AS in_person) AS options) AS d,
         (SELECT CASE WHEN comfort_gap >= 0 THEN 1 - 0.1::double precision * comfort_gap
                      ELSE 1 - stretch_penalty END AS comfort) AS c,
         -- Under 1e-100 counts as 0 (see 0020); a support not counted weighs nothing.
         (SELECT CASE WHEN w_distance < 1e-100 THEN 0 ELSE w_distance END AS wd,
                 CASE WHEN w_interest < 1e-100 THEN 0 ELSE w_interest END AS wi,
                 CASE WHEN w_comfort < 1e-100 THEN 0 ELSE w_comfort END AS wc,
                 CASE WHEN support < 0 OR w_support < 1e-100 THEN 0 ELSE w_support END AS ws,
                 CASE WHEN interest < 1e-100 THEN 0 ELSE interest END AS interest,
                 CASE WHEN support < 0 THEN NULL
                      WHEN support < 1e-100 THEN 0 ELSE support END AS support) AS f
$$;
