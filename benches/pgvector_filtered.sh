#!/usr/bin/env bash
# Filtered searches beside pgvector 0.8's iterative index scans, on the table f that
# benches/ann_filtered.sh leaves behind (id, e embedding(128), tag; its ann index f_ann), in the
# same cluster:
#   benches/ann_index.sh && (start its cluster) && benches/ann_filtered.sh && benches/pgvector_filtered.sh
#   ANN_BENCH_DIR, ANN_BENCH_PORT as for ann_index.sh; PVF_TAGS: the k of `tag < k` (default
#   "1 10 100"); PVF_REUSE=1 keeps the tables fv and fvi and their indexes of an earlier run.
# Needs pgvector installed in the cluster's PostgreSQL tree (make && make install from its
# source); without it the script says so and exits 0.
# The same rows go into fv (id, v vector(128), tag) with an HNSW index (m 16, ef_construction
# 64, cosine) and into fvi, the same, with an IVFFlat index (lists 1000, cosine). For each
# selectivity, 50 queries (the rows with id % 20000 = 7, as ann_filtered.sh), `WHERE tag < k
# ORDER BY <=> q LIMIT 10`:
# recall@10 against the exact scan, ms per query and rows returned, for
#   - ann (image_search.ann_probes 10, the default);
#   - HNSW with hnsw.iterative_scan = relaxed_order at ef_search 40 (pgvector's default) and
#     100, hnsw.max_scan_tuples at its default (20,000);
#   - IVFFlat with ivfflat.iterative_scan = relaxed_order at probes 10, ivfflat.max_probes at
#     its default (all lists).
# Each index scan is forced (the other types' indexes are on another table; enable_seqscan
# off), so the row shows the index's answer, not the planner's choice.
set -euo pipefail
export PGHOST=${ANN_BENCH_DIR:-/tmp/image_search_bench_ann} PGPORT=${ANN_BENCH_PORT:-54391} PGUSER=postgres
if [ "$(psql -X -At -d postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" != 1 ]; then
  echo "SKIPPED: pgvector is not installed in this PostgreSQL tree"
  exit 0
fi
[ "${PVF_REUSE:-0}" = 1 ] || psql -X -q -At -d postgres -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
DROP TABLE IF EXISTS fv, fvi;
CREATE TABLE fv AS SELECT id, e::text::vector(128) AS v, tag FROM f;
CREATE TABLE fvi AS SELECT * FROM fv;
SET maintenance_work_mem = '4GB';
\timing on
CREATE INDEX fv_hnsw ON fv USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX fvi_ivf ON fvi USING ivfflat (v vector_cosine_ops) WITH (lists = 1000);
\timing off
VACUUM ANALYZE fv;
VACUUM ANALYZE fvi;
SELECT 'sizes: f_ann ' || pg_size_pretty(pg_relation_size('f_ann')) || ', fv_hnsw ' || pg_size_pretty(pg_relation_size('fv_hnsw'))
       || ', fvi_ivf ' || pg_size_pretty(pg_relation_size('fvi_ivf'));
SQL
for k in ${PVF_TAGS:-1 10 100}; do
psql -X -At -q -d postgres <<SQL
LOAD 'vector';
SET search_path = public, image_search;
CREATE TEMP TABLE qs AS SELECT id, e AS q, e::text::vector(128) AS qv FROM f WHERE id % 20000 = 7 ORDER BY id;
CREATE TEMP TABLE r (how text, qi int, ids int[], ms float8);
DO \$\$
DECLARE x record; i int := 0; t0 timestamptz; got int[];
BEGIN
  FOR x IN SELECT q, qv FROM qs LOOP
    i := i + 1;
    SELECT array_agg(id) INTO got FROM (SELECT id FROM f WHERE tag < $k ORDER BY (e OPERATOR(image_search.<=>) x.q) + 0 LIMIT 10) s;
    INSERT INTO r VALUES ('exact', i, got, 0);
    SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;
    t0 := clock_timestamp();
    SELECT array_agg(id) INTO got FROM (SELECT id FROM f WHERE tag < $k ORDER BY e OPERATOR(image_search.<=>) x.q LIMIT 10) s;
    INSERT INTO r VALUES ('ann probes 10', i, got, extract(epoch FROM clock_timestamp() - t0) * 1000);
    SET LOCAL hnsw.iterative_scan = relaxed_order;
    SET LOCAL ivfflat.iterative_scan = relaxed_order;
    SET LOCAL hnsw.ef_search = 40;
    SET LOCAL enable_indexscan = on;
    t0 := clock_timestamp();
    SELECT array_agg(id) INTO got FROM (SELECT id FROM fv WHERE tag < $k ORDER BY v <=> x.qv LIMIT 10) s;
    INSERT INTO r VALUES ('hnsw ef_search 40', i, got, extract(epoch FROM clock_timestamp() - t0) * 1000);
    SET LOCAL hnsw.ef_search = 100;
    t0 := clock_timestamp();
    SELECT array_agg(id) INTO got FROM (SELECT id FROM fv WHERE tag < $k ORDER BY v <=> x.qv LIMIT 10) s;
    INSERT INTO r VALUES ('hnsw ef_search 100', i, got, extract(epoch FROM clock_timestamp() - t0) * 1000);
    SET LOCAL ivfflat.probes = 10;
    t0 := clock_timestamp();
    SELECT array_agg(id) INTO got FROM (SELECT id FROM fvi WHERE tag < $k ORDER BY v <=> x.qv LIMIT 10) s;
    INSERT INTO r VALUES ('ivfflat probes 10', i, got, extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END \$\$;
SELECT format('tag < %s (%s %%) %-20s recall@10 %s  %s ms  rows %s', $k, round($k / 10.24, 1), how,
  round(avg(rc)::numeric, 3), round(avg(ms)::numeric, 2), sum(n))
FROM (SELECT r.how, r.ms, coalesce(array_length(r.ids, 1), 0) AS n,
        (SELECT count(*) FROM unnest(r.ids) x WHERE x = ANY (ex.ids))::float / 10 AS rc
      FROM r JOIN r ex ON ex.qi = r.qi AND ex.how = 'exact' WHERE r.how <> 'exact') s
GROUP BY how ORDER BY how;
SQL
done
