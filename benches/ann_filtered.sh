#!/usr/bin/env bash
# Filtered searches through the ann index: for several filter selectivities, the plan the
# planner picks, ms per query of that plan, of the exact scan and of the index scan forced,
# and recall@10 against the exact scan (50 queries: the rows with id % 20000 = 7; before
# session 11, 20 rows drawn by ORDER BY random(), which synchronised sequential scans made
# a different 20 in each run).
# On the table benches/ann_index.sh leaves behind (items: id, e), its cluster running:
#   benches/ann_index.sh && (start its cluster) && benches/ann_filtered.sh
#   ANN_BENCH_DIR, ANN_BENCH_PORT as for ann_index.sh; ANN_FILTERED_TAGS: the k of `tag < k`
#   measured (default "1 10 100 300 1024"); ANN_FILTERED_REUSE=1 keeps the table f of an
#   earlier run. Settings for the searches go in PGOPTIONS (e.g. -c image_search.ann_probes=20).
# It copies the first million rows into f with tag = hashint4(id) & 1023 (uniform, not
# related to the vectors) and an ann index with lists = 1000; `tag < k` keeps k/1024 of them.
set -euo pipefail
export PGHOST=${ANN_BENCH_DIR:-/tmp/image_search_bench_ann} PGPORT=${ANN_BENCH_PORT:-54391} PGUSER=postgres
[ "${ANN_FILTERED_REUSE:-0}" = 1 ] || psql -X -q -At -d postgres -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
DROP TABLE IF EXISTS f;
CREATE TABLE f AS SELECT id, e, (hashint4(id) & 1023) AS tag FROM items WHERE id <= 1000000;
CREATE INDEX f_ann ON f USING ann (e image_search.embedding_cosine_ops) WITH (lists = 1000);
VACUUM ANALYZE f;
SQL
for k in ${ANN_FILTERED_TAGS:-1 10 100 300 1024}; do
psql -X -At -q -d postgres <<SQL | grep -E "^tag|Scan using|Seq Scan on f"
\pset format unaligned
CREATE TEMP TABLE qs AS SELECT e AS q FROM f WHERE id % 20000 = 7 ORDER BY id;
CREATE TEMP TABLE r (how text, qi int, ids int[], ms float8);
DO \$\$
DECLARE qv image_search.embedding; i int := 0; t0 timestamptz; got int[]; plan text;
BEGIN
  FOR qv IN SELECT q FROM qs LOOP
    i := i + 1;
    t0 := clock_timestamp();
    SELECT array_agg(id) INTO got FROM (SELECT id FROM f WHERE tag < $k ORDER BY e OPERATOR(image_search.<=>) qv LIMIT 10) s;
    INSERT INTO r VALUES ('default', i, got, extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp();
    SELECT array_agg(id) INTO got FROM (SELECT id FROM f WHERE tag < $k ORDER BY (e OPERATOR(image_search.<=>) qv) + 0 LIMIT 10) s;
    INSERT INTO r VALUES ('exact', i, got, extract(epoch FROM clock_timestamp() - t0) * 1000);
    SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;
    t0 := clock_timestamp();
    SELECT array_agg(id) INTO got FROM (SELECT id FROM f WHERE tag < $k ORDER BY e OPERATOR(image_search.<=>) qv LIMIT 10) s;
    INSERT INTO r VALUES ('ann', i, got, extract(epoch FROM clock_timestamp() - t0) * 1000);
    RESET enable_seqscan; RESET enable_bitmapscan;
  END LOOP;
END \$\$;
EXPLAIN (COSTS OFF) SELECT id FROM f WHERE tag < $k ORDER BY e OPERATOR(image_search.<=>) (SELECT q FROM qs LIMIT 1) LIMIT 10;
SELECT format('tag < %s (%s %%): default %s ms, exact %s ms, ann %s ms; recall@10 default %s, ann %s; rows default/ann %s/%s', $k, round($k / 10.24, 1),
  round(avg(ms) FILTER (WHERE how = 'default')::numeric, 2), round(avg(ms) FILTER (WHERE how = 'exact')::numeric, 2), round(avg(ms) FILTER (WHERE how = 'ann')::numeric, 2),
  round(avg(rc) FILTER (WHERE how = 'default')::numeric, 3), round(avg(rc) FILTER (WHERE how = 'ann')::numeric, 3),
  sum(n) FILTER (WHERE how = 'default'), sum(n) FILTER (WHERE how = 'ann'))
FROM (SELECT r.how, r.ms, coalesce(array_length(r.ids, 1), 0) AS n,
        (SELECT count(*) FROM unnest(r.ids) x WHERE x = ANY (ex.ids))::float / 10 AS rc
      FROM r JOIN r ex ON ex.qi = r.qi AND ex.how = 'exact') s;
SQL
done
