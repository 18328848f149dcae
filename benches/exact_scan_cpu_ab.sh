#!/usr/bin/env bash
# Two builds of image_search, A and B, on the same exact-scan queries, by backend CPU time.
#
#   benches/exact_scan_cpu_ab.sh A.so B.so      (after benches/distance_kernel.sh)
#
# Uses the cluster and tables benches/distance_kernel.sh leaves (BENCH_DIR, default
# /tmp/image_search_bench; BENCH_PORT, default 54373; t_emb and, when pgvector was
# installed, t_vec). For ROUNDS rounds (default 2) it installs A, restarts, runs every
# query (one warm-up, then RUNS, default 3), then the same with B, so that drift on a
# shared machine hits both alike. A query's figure is the least CPU time (user + system)
# of the backend over its runs, from log_executor_stats: less disturbed by other work on
# the machine than wall time. Leaves B installed.
#   To keep a build for later: cp "$(pg_config --pkglibdir)/image_search.so" /somewhere/A.so
set -uo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2
ROUNDS=${ROUNDS:-2}; RUNS=${RUNS:-3}
source scripts/pg_cluster.sh
LIB=$($PG_CONFIG_BIN --pkglibdir)
CLUSTER_DIR=${BENCH_DIR:-/tmp/image_search_bench}
export PGHOST=$CLUSTER_DIR PGPORT=${BENCH_PORT:-54373} PGUSER=postgres
queries=(
  "seq scan only: count(*)|SELECT count(*) FROM t_emb"
  "embedding: vector_dims(v) = 128|SELECT count(*) FROM t_emb WHERE vector_dims(v) = 128"
  "embedding: v <=> q < 2|SELECT count(*) FROM t_emb WHERE v <=> (SELECT qv FROM q) < 2"
  "embedding: ORDER BY v <=> q LIMIT 10|SELECT id FROM t_emb ORDER BY v <=> (SELECT qv FROM q) LIMIT 10"
  "embedding: ORDER BY v <-> q LIMIT 10|SELECT id FROM t_emb ORDER BY v <-> (SELECT qv FROM q) LIMIT 10"
  "embedding: ORDER BY v <#> q LIMIT 10|SELECT id FROM t_emb ORDER BY v <#> (SELECT qv FROM q) LIMIT 10"
)
restart() {
  as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1
  cp "$1" "$LIB/image_search.so"
  as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null
}
restart "$B"
if [ "$("$PGBIN/psql" -X -At -d postgres -c "SELECT to_regclass('t_vec') IS NOT NULL")" = t ]; then
  queries+=(
    "pgvector: vector_dims(v) = 128|SELECT count(*) FROM t_vec WHERE vector_dims(v) = 128"
    "pgvector: v <=> q < 2|SELECT count(*) FROM t_vec WHERE v <=> (SELECT qvec FROM q) < 2"
    "pgvector: ORDER BY v <=> q LIMIT 10|SELECT id FROM t_vec ORDER BY v <=> (SELECT qvec FROM q) LIMIT 10"
    "pgvector: ORDER BY v <-> q LIMIT 10|SELECT id FROM t_vec ORDER BY v <-> (SELECT qvec FROM q) LIMIT 10"
    "pgvector: ORDER BY v <#> q LIMIT 10|SELECT id FROM t_vec ORDER BY v <#> (SELECT qvec FROM q) LIMIT 10")
  prewarm="SELECT pg_prewarm('t_emb') + pg_prewarm('t_vec') < 0;"
else
  echo "== no t_vec (pgvector was not installed for distance_kernel.sh): pgvector rows skipped"
  prewarm="SELECT pg_prewarm('t_emb') < 0;"
fi
echo "== CPU ms per query (least of $RUNS), $ROUNDS rounds; A = $A, B = $B; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  for build in A B; do
    [ $build = A ] && restart "$A" || restart "$B"
    for entry in "${queries[@]}"; do
      label=${entry%%|*}; sql=${entry#*|}
      { echo "SET search_path = public, image_search; SET max_parallel_workers_per_gather = 0;"
        echo "$prewarm"
        echo "$sql;"
        echo "SET log_executor_stats = on; SET client_min_messages = log;"
        for i in $(seq 1 "$RUNS"); do echo "$sql;"; done; } |
      "$PGBIN/psql" -X -q -At -d postgres 2>&1 >/dev/null |
      awk -v label="$label" -v b="$build" -v r="$r" '/s user,/ && !/\[/ {
             for (i = 1; i < NF; i++) if ($(i+1) == "s" && $(i+2) == "user,") { t = $i + $(i+3); if (best == "" || t < best) best = t } }
           END { printf "round %s  %s  %-40s %7.1f\n", r, b, label, best * 1000 }'
    done
  done
done
as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1
