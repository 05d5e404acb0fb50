-- `weigh_match` as a set-returning SQL function of one row: PostgreSQL inlines such a
-- function where it is joined (`CROSS JOIN LATERAL weigh_match(...) AS s`), so the
-- weighing becomes expressions of the reader's own plan. The composite-returning version
-- of 0020/0021 was called row by row through the SQL-function executor: ~13 µs a row
-- against ~2.4 µs inlined, most of a user's matches read. Same formula, same results.
DROP FUNCTION weigh_match(real, boolean, real, smallint, real, double precision,
                          double precision, double precision, double precision,
                          double precision, double precision, double precision);
DROP TYPE match_weighing;

CREATE FUNCTION weigh_match(
    km real, online boolean, interest real, comfort_gap smallint, support real,
    w_distance double precision, w_interest double precision, w_comfort double precision,
    w_support double precision, distance_decay_km double precision,
    online_score double precision, stretch_penalty double precision
) RETURNS TABLE (
    score       double precision,
    distance    double precision,
    comfort     double precision,
    distance_km real,              -- NULL when the distance component is the online score
    support     double precision   -- NULL when not counted
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1 AS $$
    SELECT (f.wd * d.distance + f.wi * f.interest + f.wc * c.comfort
            + f.ws * coalesce(f.support, 0))
           / greatest(f.wd + f.wi + f.wc + f.ws, 1e-300),
           d.distance, c.comfort, d.km, f.support
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
