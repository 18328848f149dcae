#!/usr/bin/env bash
# Two builds of image_search, A and B, on the same ann index scans, interleaved.
#
#   benches/ann_scan_ab.sh A.so B.so
#
# Measures the cost of an ann index scan per probed list: the same 100 queries at each
# `image_search.ann_probes` in ANN_AB_PROBES (default 1,10,20,40) with build A, then with
# build B, ROUNDS times (default 2), so that drift on a shared machine hits both alike.
# Each figure: recall@10 (against the exact scan) and the mean server-side ms per query
# (planning + execution, warm cache: the table and index are prewarmed after each restart,
# then 10 warm-up queries per setting). The ms difference between probes 40 and 10,
# divided by 30, is the cost of one more list.
#
# Data: ANN_AB_ROWS (default 1000000) 128-d rows of pgvector_side_by_side.sh's gauss:SIGMA
# set (ANN_AB_SIGMA, default 1.0: 1,000 centres uniform in [-1, 1]^128, each row a centre
# plus N(0, sigma) per component), 100 rows of the table as queries, an ann index (cosine)
# with ROWS / 1000 lists (about 1,000 rows, ~70 pages, per list). Built once, with B
# installed; ANN_AB_REUSE=1 reuses the cluster and tables of an earlier run.
# Cluster: ANN_AB_DIR (default /tmp/image_search_ann_ab), ANN_AB_PORT (default 54377);
# shared_buffers 4GB, max_parallel_workers_per_gather 0, jit off.
# ANN_AB_REBUILD=1: each build also builds the index (REINDEX, timed, before its probes in
# every round), so builds that make different lists (k-means, sample size) are compared
# on build seconds, index size and recall; the index left at the end is B's.
# ANN_AB_WITH_A / ANN_AB_WITH_B: index options each build's REINDEX uses (ALTER INDEX ...
# SET (...) first; implies ANN_AB_REBUILD=1), e.g. to compare page formats with one build:
#   ANN_AB_WITH_A="quantizer = 'none'" ANN_AB_WITH_B="quantizer = 'sq8'" benches/ann_scan_ab.sh X.so X.so
# Builds: copies of image_search.so, e.g.
#   cp "$(pg_config --pkglibdir)/image_search.so" /somewhere/A.so
# The script installs each in turn into IMAGE_SEARCH_PG_CONFIG's tree and leaves B there.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2
ROUNDS=${ROUNDS:-2}
ROWS=${ANN_AB_ROWS:-1000000}
SIGMA=${ANN_AB_SIGMA:-1.0}
PROBES=${ANN_AB_PROBES:-1,10,20,40}
LISTS=$(( ROWS / 1000 > 10 ? ROWS / 1000 : 10 ))
source scripts/pg_cluster.sh
LIB=$($PG_CONFIG_BIN --pkglibdir)
DIR=${ANN_AB_DIR:-/tmp/image_search_ann_ab}
PORT=${ANN_AB_PORT:-54377}
q() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
install_so() { cp "$1" "$LIB/image_search.so"; }
restart() {
  as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  install_so "$1"
  as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null
  q -c "SELECT pg_prewarm('items') + pg_prewarm('items_ann') < 0" >/dev/null
}

if [ "${ANN_AB_REUSE:-0}" = 1 ] && [ -d "$DIR/data" ]; then
  CLUSTER_DIR=$DIR
  export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres
  trap cluster_stop EXIT
  restart "$B"
else
  install_so "$B"
  cluster_start "$DIR" "$PORT"
  cluster_settings 'shared_buffers = 4GB' 'maintenance_work_mem = 1GB' 'max_parallel_workers_per_gather = 0' 'jit = off'
  echo "== loading $ROWS rows, gauss:$SIGMA ($(date +%T))"
  q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION image_search;
CREATE EXTENSION pg_prewarm;
\i benches/recall_measure.sql
SELECT setseed(0.1);
CREATE TABLE centres AS SELECT c, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 128) WHERE c >= 0) AS v
  FROM generate_series(0, 999) c;
CREATE TABLE items (id int, e image_search.embedding(128));
INSERT INTO items SELECT i, ARRAY(SELECT (v[d] + $SIGMA * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::real
  FROM generate_series(1, 128) d)::image_search.embedding FROM generate_series(1, $ROWS) i JOIN centres ON c = i % 1000;
CREATE TABLE queries AS SELECT row_number() OVER () AS qid, e AS qe FROM (SELECT e FROM items ORDER BY random() LIMIT 100) r;
CREATE TABLE truth (qid int PRIMARY KEY, ids int[]);
VACUUM ANALYZE items, queries;
SELECT * FROM measure('exact scan (the truth)', 'SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY e <=> \$1 LIMIT 10) t', false, 100, true);
CREATE INDEX items_ann ON items USING ann (e image_search.embedding_cosine_ops) WITH (lists = $LISTS);
SQL
  echo "== index: $(q -c "SELECT pg_size_pretty(pg_relation_size('items_ann'))"), $LISTS lists ($(date +%T))"
fi

TOP10='SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY e <=> $1 LIMIT 10) t'
if [ -n "${ANN_AB_WITH_A:-}${ANN_AB_WITH_B:-}" ]; then ANN_AB_REBUILD=1; fi
rebuild() {
  local t0 t1 with
  if [ "$2" = A ]; then with=${ANN_AB_WITH_A:-}; else with=${ANN_AB_WITH_B:-}; fi
  [ -n "$with" ] && q -c "ALTER INDEX items_ann SET ($with)"
  t0=$(date +%s.%N)
  q -c "REINDEX INDEX items_ann"
  t1=$(date +%s.%N)
  q -c "SELECT pg_prewarm('items_ann') < 0" >/dev/null
  echo "$1 | $2 | REINDEX $(echo "$t1 - $t0" | bc | xargs printf '%.1f') s, $(q -c "SELECT pg_size_pretty(pg_relation_size('items_ann'))"), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
echo "== $ROUNDS rounds; A = $A, B = $B; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "round | build | probes | recall@10 | ms/query"
for r in $(seq 1 "$ROUNDS"); do
  for build in A B; do
    [ $build = A ] && restart "$A" || restart "$B"
    [ "${ANN_AB_REBUILD:-0}" = 1 ] && rebuild "$r" "$build"
    for p in ${PROBES//,/ }; do
      q -c "SET enable_seqscan = off" -c "SET image_search.ann_probes = $p" \
        -c "SELECT * FROM measure('warm-up', '$TOP10', false, 10)" \
        -c "SELECT * FROM measure('x', '$TOP10', false, 100)" | tail -1 |
        awk -F'|' -v r="$r" -v b="$build" -v p="$p" '{ printf "%s | %s | %s | %s | %s\n", r, b, p, $2, $3 }'
    done
  done
done
echo "== done $(date +%T), load average $(cut -d' ' -f1-3 /proc/loadavg)"
