#!/usr/bin/env bash
# VACUUM's freed space in an ann index is reused by later inserts (issue 9): under churn
# the index stops growing, and it still answers like the exact scan.
#
#   bash test/ann_reuse.sh      (needs root; uses the installed extension)
#   ANN_REUSE_DIR (default /tmp/image_search_ann_reuse), ANN_REUSE_PORT (default 54388) override.
#
# Table t: 20,000 random 16-d embeddings, a cosine ann index with 10 lists. Six rounds of
# churn: delete a random half of the rows, VACUUM, insert as many new rows. Without reuse
# every round adds half the index again (~4x after six rounds); with it the index may grow
# by a few pages per list at most. Then: an index scan over all lists returns every row
# once, its top-50 for 3 queries equals the exact scan's, each of 300 sampled new rows is
# its own top-1 with ann_probes = 1 (a row put in a reused page sits in its nearest
# centroid's list), and after deleting every row, VACUUM and a refill the index grew by
# at most one page per list (the refill puts each row in its nearest list again, and a
# list that receives more rows than it held before needs a new page; without reuse the
# refill added as many pages as the index had). Prints PASS/FAIL lines; exits non-zero if any check fails; removes its cluster
# when every check passed.
set -euo pipefail
# ANN_QUANTIZER=none|sq8: the index's page format (default: the option's default, sq8).
QUANTIZER_OPTION=${ANN_QUANTIZER:+", quantizer = '$ANN_QUANTIZER'"}
cd "$(dirname "$0")/.."
source scripts/pg_cluster.sh
ROOT=${ANN_REUSE_DIR:-/tmp/image_search_ann_reuse}
cluster_start "$ROOT" "${ANN_REUSE_PORT:-54388}"
source test/checks.sh
N=20000
LISTS=10
VEC="ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 16) WHERE g > 0)::image_search.embedding(16)"
t0=$(date +%s)
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION image_search;
SELECT setseed(0.5) \gset
CREATE TABLE t (id bigserial PRIMARY KEY, round int NOT NULL DEFAULT 0, e image_search.embedding(16));
ALTER TABLE t SET (autovacuum_enabled = off);
INSERT INTO t (e) SELECT $VEC FROM generate_series(1, $N) g;
CREATE INDEX t_ann ON t USING ann (e image_search.embedding_cosine_ops) WITH (lists = $LISTS$QUANTIZER_OPTION);
SQL
pages() { q -c "SELECT pg_relation_size('t_ann') / 8192"; }
built=$(pages)
sizes="$built"
for r in 1 2 3 4 5 6; do
  q -c "SELECT setseed(0.$r)" -c "DELETE FROM t WHERE random() < 0.5" -c "VACUUM t" \
    -c "INSERT INTO t (round, e) SELECT $r, $VEC FROM generate_series(1, $N - (SELECT count(*) FROM t)) g" >/dev/null
  sizes+=" $(pages)"
done
echo "  index pages: built $built; after each of 6 rounds of churn: ${sizes#* }"
final=$(pages)
check "after 6 rounds of deleting half and inserting as many, the index grew by at most 2 pages per list ($built -> $final pages)" \
  test "$final" -le $((built + 2 * LISTS))

INDEX_ALL="-c enable_seqscan=off -c enable_bitmapscan=off -c image_search.ann_probes=$LISTS"
EXACT="-c enable_indexscan=off -c enable_bitmapscan=off"
full_set() {
  PGOPTIONS="$INDEX_ALL" q -c "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || md5(string_agg(id::text, ',' ORDER BY id))
    FROM (SELECT id FROM t ORDER BY e OPERATOR(image_search.<=>) (SELECT e FROM t ORDER BY id LIMIT 1) LIMIT 100000000) s" 2>&1 || true
}
heap=$(q -c "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || md5(string_agg(id::text, ',' ORDER BY id)) FROM t")
check "an index scan over all lists returns every row once (${heap% *})" test "$(full_set)" = "$heap"
topk() {
  local out="" qv
  for qv in "(SELECT e FROM t ORDER BY id LIMIT 1)" "(SELECT e FROM t ORDER BY id DESC LIMIT 1)" "'[$(seq -s, 1 16)]'::image_search.embedding"; do
    out+=$(PGOPTIONS="$1" q -c "SELECT string_agg(id || ':' || round(d::numeric, 6), ' ' ORDER BY d, id) FROM (
      SELECT id, e OPERATOR(image_search.<=>) $qv AS d FROM t ORDER BY e OPERATOR(image_search.<=>) $qv LIMIT 50) s" 2>&1 || true)$'\n'
  done
  printf '%s' "$out"
}
check "top-50 of 3 queries with all lists probed = the exact scan's (ids and distances)" \
  test "$(topk "$INDEX_ALL")" = "$(topk "$EXACT")"
misplaced=$(PGOPTIONS="-c enable_seqscan=off -c image_search.ann_probes=1" q -c "
  SELECT count(*) FILTER (WHERE top IS DISTINCT FROM id) || ' of ' || count(*) FROM (
    SELECT x.id, (SELECT y.id FROM t y ORDER BY y.e OPERATOR(image_search.<=>) x.e LIMIT 1) AS top
      FROM (SELECT id, e FROM t WHERE round > 0 ORDER BY id % 17, id LIMIT 300) x) s" 2>&1) || misplaced="ERROR"
check "ann_probes = 1: each of 300 rows inserted during the churn is its own top-1 ($misplaced not)" \
  test "${misplaced%% *}" = 0
before=$(pages)
q -c "SELECT setseed(0.7)" -c "DELETE FROM t" -c "VACUUM t" -c "INSERT INTO t (round, e) SELECT 7, $VEC FROM generate_series(1, $N) g" >/dev/null
check "delete every row, VACUUM, insert as many again: at most one page more per list ($before -> $(pages) pages)" \
  test "$(pages)" -le $((before + LISTS))
check "and still every row once from an index scan over all lists" \
  test "$(full_set)" = "$(q -c "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || md5(string_agg(id::text, ',' ORDER BY id)) FROM t")"
check "no ERROR in the server log" bash -c '! grep -q "ERROR\|PANIC" "$1"' _ "$CLUSTER_DIR/server.log"

cluster_stop
echo "ann_reuse: $passes passed, $failures failed ($(( $(date +%s) - t0 )) s)"
if [ "$failures" -eq 0 ]; then rm -rf "$ROOT"; else echo "  cluster kept in $ROOT"; fi
[ "$failures" -eq 0 ]
