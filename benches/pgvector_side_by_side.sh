#!/usr/bin/env bash
# image_search beside pgvector on the same rows, one cluster (issue 9's comparison).
#
#   benches/pgvector_side_by_side.sh [ROWS]       (default 1000000; ~2.5 GB RAM per data set)
#
# Needs pgvector installed in the PostgreSQL tree in use (IMAGE_SEARCH_PG_CONFIG, default
# /usr/bin/pg_config); without it the script says so and exits 0 (nothing here is required
# for image_search's own tests). Build pgvector from source against that tree:
#   make PG_CONFIG=... && make install PG_CONFIG=...
#
# For each data set the same ROWS 128-d rows go into embedding(128) and vector(128), then:
#   - the exact scan, ORDER BY <=> q LIMIT 10, serial, for both types, on the same queries
#     (the first PVS_EXACT_QUERIES of the 100); the exact top 10 of all 100 queries (from
#     embedding) is the truth for recall, and pgvector's exact answers are checked against it
#   - pgvector HNSW (m 16, ef_construction 64): build time, size, recall@10 and ms/query at
#     hnsw.ef_search in PVS_EF (default 40,100)
#   - image_search ann (lists = ROWS / 1000): build time, size, recall@10 and ms/query at
#     image_search.ann_probes in PVS_PROBES (default 1,2,5,10,20,40)
# Queries (PVS_QUERIES, default fresh): `fresh` = 100 fresh draws from the data set's
# distribution, not rows of the table; `rows` = 100 rows of the table (issue 9's protocol:
# each query's own row is then one of its true top 10, at distance 0); `fresh,rows` measures
# both sets against the same index builds (each line of the output names its set).
# Data sets (PVS_SETS, default "uniform:0.25 gauss:0.8 gauss:1.0"): 1,000 centres uniform in
# [-1, 1]^128 (setseed 0.1, as benches/ann_index.sh); each row is centre number id % 1000
# plus, per component, uniform noise in [-w, w] (uniform:w; w = 0.25 is issue 9's set)
# or Gaussian noise N(0, sigma) (gauss:sigma, Box-Muller from random()).
# Cluster: shared_buffers 4GB, maintenance_work_mem 4GB (issue 9's settings),
# max_parallel_workers_per_gather 0 (serial queries), jit off; index builds may use the
# default max_parallel_maintenance_workers (2): pgvector's HNSW build runs parallel workers,
# ann's k-means and list assignment run on rayon threads, so both may use both cores.
# PVS_DIR, PVS_PORT place the throwaway cluster (default /tmp/image_search_bench_pgvector, 54392).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
LISTS=${PVS_LISTS:-$(( ROWS / 1000 > 10 ? ROWS / 1000 : 10 ))}
SETS=${PVS_SETS:-uniform:0.25 gauss:0.8 gauss:1.0}
PROBES=${PVS_PROBES:-1,2,5,10,20,40}
EF=${PVS_EF:-40,100}
EXACT_QUERIES=${PVS_EXACT_QUERIES:-20}
QUERY_SETS=${PVS_QUERIES:-fresh}
# Each query set's qids start at its own base in the one queries table.
first_qid() { case $1 in fresh) echo 1 ;; rows) echo 1001 ;; *) echo "unknown PVS_QUERIES set $1 (fresh, rows)" >&2; exit 2 ;; esac; }
for qs in ${QUERY_SETS//,/ }; do first_qid "$qs" >/dev/null; done
source scripts/pg_cluster.sh
if [ ! -f "$($PG_CONFIG_BIN --sharedir)/extension/vector.control" ]; then
  echo "SKIPPED: pgvector is not installed in $($PG_CONFIG_BIN --sharedir)/extension (build it against $PG_CONFIG_BIN)"
  exit 0
fi
cluster_start "${PVS_DIR:-/tmp/image_search_bench_pgvector}" "${PVS_PORT:-54392}"
cluster_settings 'shared_buffers = 4GB' 'maintenance_work_mem = 4GB' 'max_parallel_workers_per_gather = 0' 'jit = off'
q() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
seconds_of() { local t0; t0=$(date +%s.%N); q -c "$1" >/dev/null; printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)"; }

q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION image_search;
CREATE EXTENSION vector;
CREATE EXTENSION pg_prewarm;
\i benches/recall_measure.sql
SQL

# Recall@10 and ms/query of the index being measured, at each value of its search setting
# (GUC), for every query set: measure_index LABEL TOP10_SQL IS_PGVECTOR GUC VALUES
measure_index() {
  local label=$1 top10=$2 pgvector=$3 guc=$4 values=$5 qs f v
  for qs in ${QUERY_SETS//,/ }; do
    f=$(first_qid "$qs")
    for v in ${values//,/ }; do
      q -c "SET enable_seqscan = off" -c "SET $guc = $v" \
        -c "SELECT * FROM measure('warm-up', '$top10', $pgvector, 10, false, $f)" \
        -c "SELECT * FROM measure('$qs queries: $label $v', '$top10', $pgvector, 100, false, $f)" | tail -1 |
        tr '|' '\t' | awk -F'\t' '{ printf "%s | %s | %s\n", $1, $2, $3 }'
    done
  done
}

E_TOP10='SELECT array_agg(id) FROM (SELECT id FROM items_e ORDER BY e <=> $1 LIMIT 10) t'
V_TOP10='SELECT array_agg(id) FROM (SELECT id FROM items_v ORDER BY v <=> $1 LIMIT 10) t'
echo "== $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), PostgreSQL $(q -c 'SHOW server_version'), pgvector $(q -c "SELECT extversion FROM pg_extension WHERE extname = 'vector'"), image_search $(q -c "SELECT extversion FROM pg_extension WHERE extname = 'image_search'")"
echo "== $ROWS rows x 128-d per set; ann lists $LISTS; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for set in $SETS; do
  kind=${set%%:*}; width=${set#*:}
  case $kind in
    uniform) noise="(random() * 2 - 1) * $width" ;;
    gauss) noise="$width * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())" ;;
    *) echo "unknown data set $set (uniform:W or gauss:SIGMA)"; exit 2 ;;
  esac
  echo
  echo "== data set $set: loading ($(date +%T))"
  q <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS centres, items_e, items_v, queries, truth;
SELECT setseed(0.1);
CREATE TABLE centres AS SELECT c, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 128) WHERE c >= 0) AS v
  FROM generate_series(0, 999) c;
CREATE TABLE items_e (id int, e image_search.embedding(128));
INSERT INTO items_e SELECT i, ARRAY(SELECT (v[d] + $noise)::real FROM generate_series(1, 128) d)::image_search.embedding
  FROM generate_series(1, $ROWS) i JOIN centres ON c = i % 1000;
-- The same rows, bit for bit, as pgvector's type (same binary layout, converted through real[]).
CREATE TABLE items_v AS SELECT id, e::real[]::vector(128) AS v FROM items_e;
-- 100 fresh queries (qid 1..100): fresh draws (centre chosen at random), not rows of the table.
CREATE TABLE queries AS SELECT k AS qid, qe, qe::real[]::vector(128) AS qv FROM (
  SELECT k, ARRAY(SELECT (v[d] + $noise)::real FROM generate_series(1, 128) d)::image_search.embedding(128) AS qe
  FROM (SELECT k, floor(random() * 1000)::int AS c FROM generate_series(1, 100) k) pick JOIN centres USING (c)) s;
-- 100 rows of the table as queries (qid 1001..1100), drawn at random (seeded above).
INSERT INTO queries SELECT 1000 + row_number() OVER (), e, e::real[]::vector(128)
  FROM (SELECT e FROM items_e ORDER BY random() LIMIT 100) r;
CREATE TABLE truth (qid int PRIMARY KEY, ids int[]);
VACUUM ANALYZE items_e, items_v, queries;
SELECT pg_prewarm('items_e') + pg_prewarm('items_v') < 0 AS prewarm \gset
SQL
  echo "tables: embedding $(q -c "SELECT pg_size_pretty(pg_relation_size('items_e'))"), vector $(q -c "SELECT pg_size_pretty(pg_relation_size('items_v'))") ($(date +%T))"
  echo "setting | recall@10 | ms/query"
  for qs in ${QUERY_SETS//,/ }; do
    f=$(first_qid "$qs")
    q <<SQL | tr '|' '\t' | awk -F'\t' '{ printf "%s | %s | %s\n", $1, $2, $3 }'
SELECT * FROM measure('$qs queries: exact scan, embedding, all 100 queries (the truth)', '$E_TOP10', false, 100, true, $f);
SELECT * FROM measure('$qs queries: exact scan, embedding, first $EXACT_QUERIES queries', '$E_TOP10', false, $EXACT_QUERIES, false, $f);
SELECT * FROM measure('$qs queries: exact scan, pgvector, first $EXACT_QUERIES queries', '$V_TOP10', true, $EXACT_QUERIES, false, $f);
SQL
  done

  echo "-- pgvector hnsw (m 16, ef_construction 64), building ($(date +%T))"
  secs=$(seconds_of "CREATE INDEX items_v_hnsw ON items_v USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)")
  echo "hnsw build ${secs} s, size $(q -c "SELECT pg_size_pretty(pg_relation_size('items_v_hnsw'))")"
  q -c "SELECT pg_prewarm('items_v_hnsw') < 0" >/dev/null
  measure_index "hnsw ef_search" "$V_TOP10" true hnsw.ef_search "$EF"
  q -c "DROP INDEX items_v_hnsw"

  echo "-- image_search ann (lists $LISTS), building ($(date +%T))"
  secs=$(seconds_of "CREATE INDEX items_e_ann ON items_e USING ann (e image_search.embedding_cosine_ops) WITH (lists = $LISTS)")
  echo "ann build ${secs} s, size $(q -c "SELECT pg_size_pretty(pg_relation_size('items_e_ann'))")"
  q -c "SELECT pg_prewarm('items_e_ann') < 0" >/dev/null
  measure_index "ann probes" "$E_TOP10" false image_search.ann_probes "$PROBES"
  q -c "DROP INDEX items_e_ann"
  echo "(done $(date +%T), load average $(cut -d' ' -f1-3 /proc/loadavg))"
done
