#!/usr/bin/env bash
# The ann index under concurrency and across a crash (issue 9 item 5), on its own
# throwaway cluster with fsync = on.
#
#   bash test/ann_crash.sh      (needs root; uses the installed extension)
#   ANN_CRASH_DIR, ANN_CRASH_PORT, ANN_CRASH_SECONDS (search phase, default 20) override.
#
# Table t: 20,000 random 32-d embeddings, a cosine `ann` index with 20 lists.
# 1. 16 pgbench sessions search (ORDER BY e <=> (a row's own vector) LIMIT 1, default
#    probes) while 1 session inserts, deletes and VACUUMs: 0 errors, and every search's
#    top-1 is the row whose vector was the query, at distance 0.
# 2. CHECKPOINT, then 4 sessions insert batches (some NULL embeddings, some rolled back,
#    one session deletes and VACUUMs); kill -9 the postmaster and its processes mid-way,
#    restart (WAL replay of the index's generic records), then: every acknowledged row is
#    there; an index scan reading all lists (ann_probes = lists) returns every non-NULL row
#    once; its top-50 for several queries equals the exact scan's; each sampled row is
#    found as top-1 with ann_probes = 1 (it sits in its nearest centroid's list); after
#    REINDEX the same answers; VACUUM and inserts still work. An UNLOGGED table u with its
#    own index comes back empty; its index (the init fork) takes new rows and answers as
#    the exact scan, before and after REINDEX.
# Prints PASS/FAIL lines; exits non-zero if any check fails.
set -euo pipefail
# ANN_QUANTIZER=none|sq8: the index's page format (default: the option's default, sq8).
QUANTIZER_OPTION=${ANN_QUANTIZER:+", quantizer = '$ANN_QUANTIZER'"}
cd "$(dirname "$0")/.."
source scripts/pg_cluster.sh
cluster_start "${ANN_CRASH_DIR:-/tmp/image_search_ann_crash}" "${ANN_CRASH_PORT:-54384}"
SECONDS_SEARCH=${ANN_CRASH_SECONDS:-20}
DATA=$CLUSTER_DIR/data
WORK=$CLUSTER_DIR/work
mkdir -p "$WORK"; chmod 777 "$WORK"
cat >> "$DATA/postgresql.conf" <<CONF
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 40
max_parallel_workers_per_gather = 0
CONF
as_postgres "$PGBIN/pg_ctl" -D "$DATA" -l "$CLUSTER_DIR/server.log" -w restart >/dev/null
source test/checks.sh
N0=20000
LISTS=20
VEC="ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 32) WHERE g > 0)::image_search.embedding(32)"
t0=$(date +%s)

q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION image_search;
CREATE TABLE t (id bigserial PRIMARY KEY, s int NOT NULL DEFAULT 0, e image_search.embedding(32));
SELECT setseed(0.5);
INSERT INTO t (e) SELECT $VEC FROM generate_series(1, $N0) g;
CREATE INDEX t_ann ON t USING ann (e image_search.embedding_cosine_ops) WITH (lists = $LISTS$QUANTIZER_OPTION);
CREATE TABLE wrong (qid bigint, top bigint);
ANALYZE t;
-- An UNLOGGED table: a crash empties it, and its index restarts from the init fork.
CREATE UNLOGGED TABLE u (id bigserial PRIMARY KEY, e image_search.embedding(32));
INSERT INTO u (e) SELECT $VEC FROM generate_series(1, 2000) g;
CREATE INDEX u_ann ON u USING ann (e image_search.embedding_cosine_ops) WITH (lists = $LISTS$QUANTIZER_OPTION);
SQL
plan=$(q -c "EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY e OPERATOR(image_search.<=>) (SELECT e FROM t WHERE id = 7) LIMIT 1")
check "the planner uses t_ann for ORDER BY e <=> (a row's vector) LIMIT 1" grep -q "Index Scan using t_ann" <<<"$plan"

echo "== 1. 16 sessions search with the index for ${SECONDS_SEARCH}s while 1 session inserts"
cat > "$WORK/search.sql" <<'SQL'
SELECT max(id) AS m FROM t \gset
\set id random(1, :m)
\set id case when :id % 7 = 0 then :id - 1 else :id end
SELECT s.id AS top, (s.d < 1e-6)::int AS zero FROM (SELECT id, e OPERATOR(image_search.<=>) (SELECT e FROM t WHERE id = :id) AS d FROM t ORDER BY e OPERATOR(image_search.<=>) (SELECT e FROM t WHERE id = :id) LIMIT 1) s \gset
\set bad case when :top = :id and :zero = 1 then 0 else 1 end
\if :bad
INSERT INTO wrong VALUES (:id, :top);
\endif
SQL
chmod a+r "$WORK/search.sql"
# The inserter: batches of 50 new rows; deletes the new rows with id % 7 = 0 (the searches
# skip those ids) and VACUUMs every 10th batch, so scans also meet VACUUM's cleanup locks.
stop_file=$WORK/stop_inserter
(
  k=0; errors=0
  while [ ! -e "$stop_file" ]; do
    k=$((k + 1))
    q -c "INSERT INTO t (s, e) SELECT 9, $VEC FROM generate_series(1, 50) g" 2>>"$WORK/inserter.err" || errors=$((errors + 1))
    if [ $((k % 10)) -eq 0 ]; then
      q -c "DELETE FROM t WHERE s = 9 AND id % 7 = 0" -c "VACUUM t" 2>>"$WORK/inserter.err" || errors=$((errors + 1))
    fi
  done
  echo "$k $errors" > "$WORK/inserter.done"
) &
inserter=$!
bench_rc=0
(cd "$WORK" && PGOPTIONS="-c enable_seqscan=off" "$PGBIN/pgbench" -n -d postgres -f search.sql -c 16 -j 2 -T "$SECONDS_SEARCH" \
  >"$WORK/pgbench.out" 2>"$WORK/pgbench.err") || bench_rc=$?
touch "$stop_file"; wait $inserter
read -r batches ins_errors < "$WORK/inserter.done"
searches=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.out")
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/pgbench.out" | head -1)
echo "  pgbench: ${searches:-0} searches (${tps:-?} per second), inserter: $batches batches of 50 rows"
check "pgbench: 16 clients ran to the end without an error (exit $bench_rc)" \
  test "$bench_rc" = 0 -a "$(grep -c -i 'error\|abort' "$WORK/pgbench.err" || true)" = 0
[ "$bench_rc" = 0 ] || head -5 "$WORK/pgbench.err" | sed 's/^/  pgbench: /'
check "pgbench: searches ran (${searches:-0}) and the inserter added rows ($batches batches)" \
  test "${searches:-0}" -gt 100 -a "$batches" -gt 5
check "inserter: 0 errors ($ins_errors)" test "$ins_errors" = 0
wrong=$(q -c "SELECT count(*) FROM wrong")
check "searches: every top-1 is the query's own row at distance 0 ($wrong wrong)" test "$wrong" = 0
[ "$wrong" = 0 ] || q -c "SELECT * FROM wrong LIMIT 5" | sed 's/^/  wrong: /'

echo "== 2. kill -9 the server during 4 inserting sessions, restart"
q -c "CHECKPOINT"
# Each session's statements come from an endless generator: psql stops at the kill.
gen_sql() {  # gen_sql SESSION
  local s=$1 k=0
  while :; do
    k=$((k + 1))
    case $s in
      4) if [ $((k % 3)) -eq 0 ]; then
           echo "BEGIN; INSERT INTO t (s, e) SELECT 40, $VEC FROM generate_series(1, 99) g; ROLLBACK;"  # INSERT 0 99: not counted as acknowledged
           continue
         fi ;;
      3) if [ $((k % 20)) -eq 0 ] && [ $k -le 400 ]; then  # deletes ids with id % 97 in 1..20
           echo "DELETE FROM t WHERE s = 0 AND id % 97 = $((k / 20));"
           echo "VACUUM t;"
         fi ;;
    esac
    echo "INSERT INTO t (s, e) SELECT $s, CASE WHEN random() < 0.02 THEN NULL ELSE $VEC END FROM generate_series(1, 100) g;"
  done
}
for s in 1 2 3 4; do
  { gen_sql $s 2>/dev/null | "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -d postgres -f - >"$WORK/crash_$s.out" 2>&1; } &
done
sleep 1.5
q -c "CHECKPOINT"  # a checkpoint mid-way: replay starts from here, over pages already on disk
sleep 2
postmaster=$(head -1 "$DATA/postmaster.pid")
children=$(ps -o pid= --ppid "$postmaster" | tr '\n' ' ')
kill -9 "$postmaster" $children 2>/dev/null || true
wait || true  # the psql sessions end with a connection error
acked=$(cat "$WORK"/crash_[123].out | grep -c '^INSERT 0 100$' || true)
echo "  killed postmaster $postmaster and $(wc -w <<<"$children") processes after $acked acknowledged batches (sessions 1-3)"
for i in $(seq 50); do kill -0 "$postmaster" 2>/dev/null || break; sleep 0.1; done
restart_ok=true
as_postgres "$PGBIN/pg_ctl" -D "$DATA" -l "$CLUSTER_DIR/server.log" -w start >/dev/null || restart_ok=false
check "the server restarts after kill -9" $restart_ok
check "it ran crash recovery (redo)" grep -q "redo done\|redo starts" "$CLUSTER_DIR/server.log"
check "the inserting sessions got through some batches before the kill ($acked)" test "$acked" -gt 3
present=true
for s in 1 2 3 4; do
  want=$(( $(grep -c '^INSERT 0 100$' "$WORK/crash_$s.out" || true) * 100 ))
  have=$(q -c "SELECT count(*) FROM t WHERE s = $s")
  [ "$have" -ge "$want" ] || { echo "  session $s: $have rows, $want acknowledged"; present=false; }
done
check "every acknowledged row is in the table (fsync = on)" $present
check "no rolled-back row is visible" test "$(q -c "SELECT count(*) FROM t WHERE s = 40")" = 0

# Answers of the index with every list probed, and of the exact scan.
full_set() {  # every row an index scan over all lists returns: count, distinct count, md5 of ids
  PGOPTIONS="-c enable_seqscan=off -c enable_bitmapscan=off -c image_search.ann_probes=$LISTS" q -c "
    SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || md5(string_agg(id::text, ',' ORDER BY id))
      FROM (SELECT id FROM t ORDER BY e OPERATOR(image_search.<=>) (SELECT e FROM t WHERE id = 50) LIMIT 100000000) s"
}
QIDS="50 4321 9990"  # rows session 3 does not delete (id % 97 > 20)
topk() {  # topk OPTIONS: top-50 ids and distances for a few queries (fixed rows and fixed vectors)
  local out="" qid
  for qid in $QIDS "'[$(seq -s, 1 32)]'" "'[$(for i in $(seq 32); do echo -n "$(( (i * 7919) % 13 - 6 )),"; done | sed 's/,$//')]'"; do
    case $qid in \'*) qv="$qid::image_search.embedding" ;; *) qv="(SELECT e FROM t WHERE id = $qid)" ;; esac
    out+=$(PGOPTIONS="$1" q -c "SELECT string_agg(id || ':' || round(d::numeric, 6), ' ' ORDER BY d, id) FROM (
      SELECT id, e OPERATOR(image_search.<=>) $qv AS d FROM t ORDER BY e OPERATOR(image_search.<=>) $qv LIMIT 50) s" 2>&1 || true)$'\n'
  done
  printf '%s' "$out"
}
INDEX_ALL="-c enable_seqscan=off -c enable_bitmapscan=off -c image_search.ann_probes=$LISTS"
EXACT="-c enable_indexscan=off -c enable_bitmapscan=off"
plan=$(PGOPTIONS="$INDEX_ALL" q -c "EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY e OPERATOR(image_search.<=>) (SELECT e FROM t WHERE id = 50) LIMIT 100000000")
check "after recovery the checks below scan t_ann" grep -q "Index Scan using t_ann" <<<"$plan"
heap=$(q -c "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || md5(string_agg(id::text, ',' ORDER BY id)) FROM t WHERE e IS NOT NULL")
after_crash=$(full_set) || after_crash="ERROR"
echo "  heap: ${heap% *} non-NULL rows; index scan over all lists: ${after_crash% *}"
check "an index scan over all lists returns every non-NULL row exactly once" test "$after_crash" = "$heap"
topk "$INDEX_ALL" > "$WORK/topk_index.txt"
topk "$EXACT" > "$WORK/topk_exact.txt"
check "top-50 of 5 queries with all lists probed = the exact scan's (ids and distances)" \
  diff -q "$WORK/topk_index.txt" "$WORK/topk_exact.txt"
test "$(wc -w < "$WORK/topk_exact.txt")" = 250 || echo "  (exact top-50 has $(wc -w < "$WORK/topk_exact.txt") of 250 entries)"
own_list="SELECT count(*) FILTER (WHERE top IS DISTINCT FROM id) || ' of ' || count(*) FROM (
  SELECT x.id, (SELECT y.id FROM t y ORDER BY y.e OPERATOR(image_search.<=>) x.e LIMIT 1) AS top
    FROM (SELECT id, e FROM t WHERE e IS NOT NULL AND (s > 0 OR id % 50 = 0) ORDER BY id % 13, id LIMIT 300) x) s"
misplaced=$(PGOPTIONS="-c enable_seqscan=off -c image_search.ann_probes=1" q -c "$own_list") || misplaced="ERROR"
check "ann_probes = 1: each of 300 rows (most inserted before the crash) is its own top-1 ($misplaced not)" \
  test "${misplaced%% *}" = 0

# The UNLOGGED table: empty after the crash; its index (the init fork: one list, no
# codes) takes new rows and answers as the exact scan does, before and after REINDEX.
u_all() {
  PGOPTIONS="-c enable_seqscan=off -c enable_bitmapscan=off -c image_search.ann_probes=$LISTS" q -c "
    SELECT count(*) || ' ' || count(DISTINCT id) FROM (
      SELECT id FROM u ORDER BY e OPERATOR(image_search.<=>) '[$(seq -s, 1 32)]' LIMIT 100000000) s"
}
u_top() {  # top-20 ids and distances for one query vector
  PGOPTIONS="$1" q -c "SELECT string_agg(id || ':' || round(d::numeric, 6), ' ' ORDER BY d, id) FROM (
    SELECT id, e OPERATOR(image_search.<=>) '[$(seq -s, 1 32)]' AS d FROM u
     ORDER BY e OPERATOR(image_search.<=>) '[$(seq -s, 1 32)]' LIMIT 20) s"
}
check "UNLOGGED table: empty after the crash, and so is its index" \
  test "$(q -c "SELECT count(*) FROM u") $(u_all)" = "0 0 0"
q -c "INSERT INTO u (e) SELECT $VEC FROM generate_series(1, 400) g" >/dev/null
check "UNLOGGED table: 400 new rows, each returned once by an index scan" test "$(u_all)" = "400 400"
u_exact=$(u_top "$EXACT") || u_exact=ERROR
u_index=$(u_top "$INDEX_ALL") || u_index=ERROR
check "UNLOGGED table: the index's top-20 = the exact scan's (20 rows)" \
  test "$u_index" = "$u_exact" -a "$(wc -w <<<"$u_exact")" = 20
q -c "REINDEX INDEX u_ann" >/dev/null
u_index=$(u_top "$INDEX_ALL") || u_index=ERROR
check "UNLOGGED table: after REINDEX, the same top-20" test "$u_index" = "$u_exact"

echo "== REINDEX"
q -c "REINDEX INDEX t_ann" || true
check "after REINDEX: the same rows from an index scan over all lists" test "$(full_set)" = "$after_crash"
topk "$INDEX_ALL" > "$WORK/topk_reindex.txt"
check "after REINDEX: the same top-50 of the 5 queries" diff -q "$WORK/topk_reindex.txt" "$WORK/topk_index.txt"
check "after REINDEX: ann_probes = 1 finds each of the 300 rows as its own top-1" \
  test "$(PGOPTIONS="-c enable_seqscan=off -c image_search.ann_probes=1" q -c "$own_list" | cut -d' ' -f1)" = 0
check "VACUUM and new inserts work after recovery (and the index finds them)" test "$(
  q -c "DELETE FROM t WHERE s = 1 AND id % 2 = 0" -c "VACUUM t" \
    -c "INSERT INTO t (s, e) SELECT 5, $VEC FROM generate_series(1, 500) g" >/dev/null &&
  full_set | cut -d' ' -f1)" = "$(q -c "SELECT count(*) FROM t WHERE e IS NOT NULL")"

cluster_stop
echo "ann_crash: $passes passed, $failures failed ($(( $(date +%s) - t0 )) s)"
[ "$failures" -eq 0 ]
