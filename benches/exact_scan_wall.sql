-- Wall time (executor, EXPLAIN ANALYZE TIMING OFF) of exact scans, ours beside pgvector's,
-- on the cluster and tables benches/distance_kernel.sh leaves (t_emb, t_vec, q; needs
-- pgvector). Adds t_wide / t_wide_vec: 300,000 of the rows with a path, a timestamp and an
-- album number beside the vector (rows of ~680 bytes instead of ~550), for a filtered and
-- an unfiltered scan. One warm-up, then 5 rounds with the queries interleaved; best and
-- median ms per query. Serial (max_parallel_workers_per_gather = 0).
--   psql -X -d postgres -f benches/exact_scan_wall.sql      (PGHOST/PGPORT of that cluster)
SET search_path = public, image_search;
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS t_wide AS SELECT id, 'photos/2026/11/' || md5(id::text) || '.jpg' AS path,
  now() AS taken, v, id % 7 AS album FROM t_emb WHERE id <= 300000;
CREATE TABLE IF NOT EXISTS t_wide_vec AS SELECT id, 'photos/2026/11/' || md5(id::text) || '.jpg' AS path,
  now() AS taken, v, id % 7 AS album FROM t_vec WHERE id <= 300000;
VACUUM ANALYZE t_wide, t_wide_vec;
SELECT pg_prewarm('t_emb') + pg_prewarm('t_vec') + pg_prewarm('t_wide') + pg_prewarm('t_wide_vec') < 0 AS prewarmed;
CREATE FUNCTION pg_temp.ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ' || q INTO plan;
  RETURN (plan->0->>'Execution Time')::float8;
END $$;
CREATE TEMP TABLE qs (label text, q text, ms float8[] DEFAULT '{}');
INSERT INTO qs (label, q) VALUES
 ('embedding: ORDER BY v <=> q LIMIT 10', 'SELECT id FROM t_emb ORDER BY v <=> (SELECT qv FROM q) LIMIT 10'),
 ('pgvector:  ORDER BY v <=> q LIMIT 10', 'SELECT id FROM t_vec ORDER BY v <=> (SELECT qvec FROM q) LIMIT 10'),
 ('embedding: ORDER BY q <=> v LIMIT 10 (commuted)', 'SELECT id FROM t_emb ORDER BY (SELECT qv FROM q) <=> v LIMIT 10'),
 ('pgvector:  ORDER BY q <=> v LIMIT 10 (commuted)', 'SELECT id FROM t_vec ORDER BY (SELECT qvec FROM q) <=> v LIMIT 10'),
 ('embedding: wide rows (300k), WHERE album = 3 ORDER BY v <=> q', 'SELECT id FROM t_wide WHERE album = 3 ORDER BY v <=> (SELECT qv FROM q) LIMIT 10'),
 ('pgvector:  wide rows (300k), WHERE album = 3 ORDER BY v <=> q', 'SELECT id FROM t_wide_vec WHERE album = 3 ORDER BY v <=> (SELECT qvec FROM q) LIMIT 10'),
 ('embedding: wide rows (300k), ORDER BY v <-> q', 'SELECT id FROM t_wide ORDER BY v <-> (SELECT qv FROM q) LIMIT 10'),
 ('pgvector:  wide rows (300k), ORDER BY v <-> q', 'SELECT id FROM t_wide_vec ORDER BY v <-> (SELECT qvec FROM q) LIMIT 10');
DO $$
DECLARE r record;
BEGIN
  FOR k IN 0..5 LOOP
    FOR r IN SELECT * FROM qs ORDER BY label LOOP
      IF k = 0 THEN PERFORM pg_temp.ms(r.q);
      ELSE UPDATE qs SET ms = ms || pg_temp.ms(r.q) WHERE label = r.label; END IF;
    END LOOP;
  END LOOP;
END $$;
SELECT label, round((SELECT min(x) FROM unnest(ms) x)::numeric, 1) AS best_ms,
       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(ms) x)::numeric, 1) AS median_ms
  FROM qs ORDER BY label;
