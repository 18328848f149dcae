#!/usr/bin/env bash
# The ann index on clustered synthetic embeddings (issue 9 item 6), on a throwaway cluster.
#   benches/ann_index.sh [rows] [lists]      (defaults: 1000000 rows, lists = rows / 1000)
#   ANN_BENCH_DIR, ANN_BENCH_PORT: the throwaway cluster (default /tmp/image_search_bench_ann, 54391)
#   ANN_BENCH_NOISE: half-width of the per-component noise (default 0.25, issue 9's set; 1.0
#   makes the clusters overlap, a harder set); ANN_BENCH_PROBES: the ann_probes settings
#   measured (default 1,2,5,10,20,40)
# Data: 1,000 centres uniform in [-1, 1]^128, each row a centre plus uniform noise in
# [-0.25, 0.25] per component; 100 of the rows are the queries. Reports build time, index
# size, then recall@10 (against the exact scan) and mean latency per query of
# ORDER BY e <=> q LIMIT 10 at several image_search.ann_probes, beside the exact scan.
# Single session, warm cache; shared_buffers 1GB, maintenance_work_mem 1GB.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
LISTS=${2:-$(( ROWS / 1000 > 10 ? ROWS / 1000 : 10 ))}
NOISE=${ANN_BENCH_NOISE:-0.25}
PROBES=${ANN_BENCH_PROBES:-1,2,5,10,20,40}
source scripts/pg_cluster.sh
cluster_start "${ANN_BENCH_DIR:-/tmp/image_search_bench_ann}" "${ANN_BENCH_PORT:-54391}"
cluster_settings 'shared_buffers = 1GB' 'maintenance_work_mem = 1GB' 'max_parallel_workers_per_gather = 0'
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION image_search;
SELECT setseed(0.1);
CREATE TABLE centres AS SELECT c, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 128) WHERE c >= 0) AS v
  FROM generate_series(0, 999) c;
CREATE TABLE items (id int, e image_search.embedding(128));
INSERT INTO items SELECT i, ARRAY(SELECT (v[d] + (random() * 2 - 1) * $NOISE)::real FROM generate_series(1, 128) d)::image_search.embedding
  FROM generate_series(1, $ROWS) i JOIN centres ON c = i % 1000;
ANALYZE items;
CREATE TABLE queries AS SELECT id AS qid, e AS q FROM items WHERE id % ($ROWS / 100) = 3 LIMIT 100;
SQL
echo "data loaded: $(date +%T)" >&2
start=$(date +%s.%N)
q -c "CREATE INDEX items_ann ON items USING ann (e image_search.embedding_cosine_ops) WITH (lists = $LISTS)"
build=$(echo "$(date +%s.%N) - $start" | bc)
echo "index built: $(date +%T)" >&2
sed "s/@PROBES@/$PROBES/" <<'SQL' | q > "$CLUSTER_DIR/result.txt"
CREATE FUNCTION run(probes int, exact bool) RETURNS TABLE (recall numeric, ms numeric) LANGUAGE plpgsql AS $$
DECLARE r record; ids int[]; hits int := 0; t0 timestamptz; total interval := '0';
BEGIN
  PERFORM set_config('image_search.ann_probes', probes::text, true);
  PERFORM set_config('enable_indexscan', (NOT exact)::text, true);
  FOR r IN SELECT qid, q FROM queries LOOP
    t0 := clock_timestamp();
    -- EXECUTE: plan each time, so that the settings above apply (plpgsql caches static plans)
    EXECUTE 'SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY e <=> $1 LIMIT 10) t' INTO ids USING r.q;
    total := total + (clock_timestamp() - t0);
    IF exact THEN INSERT INTO truth VALUES (r.qid, ids);
    ELSE hits := hits + (SELECT count(*) FROM unnest(ids) a, truth WHERE truth.qid = r.qid AND a = ANY (truth.ids)); END IF;
  END LOOP;
  RETURN QUERY SELECT CASE WHEN exact THEN 1.0 ELSE round(hits::numeric / (10 * (SELECT count(*) FROM queries)), 3) END,
                      round(extract(epoch FROM total)::numeric * 1000 / (SELECT count(*) FROM queries), 2);
END $$;
CREATE TABLE truth (qid int, ids int[]);
SELECT 'exact scan', * FROM run(1, true);
SELECT 'warm-up', * FROM run(10, false);
SELECT 'probes ' || p, r.* FROM unnest(ARRAY[@PROBES@]) p, LATERAL run(p, false) r;
SQL
size=$(q -c "SELECT pg_size_pretty(pg_relation_size('items_ann'))")
table_size=$(q -c "SELECT pg_size_pretty(pg_relation_size('items'))")
echo "rows $ROWS, 128-d, noise ±$NOISE, lists $LISTS: build ${build} s, index $size (table $table_size)"
echo "setting | recall@10 | ms/query"
grep -v warm-up "$CLUSTER_DIR/result.txt" | tr '|' ' ' | awk '{ last = $NF; rec = $(NF-1); $NF = ""; $(NF-1) = ""; print $0 "| " rec " | " last }'
