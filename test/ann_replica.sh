#!/usr/bin/env bash
# The ann index is copied by pg_basebackup and kept current by physical replication
# (issue 9 item 2), on two throwaway clusters: a primary and a hot standby made from it.
#
#   bash test/ann_replica.sh      (needs root; uses the installed extension)
#   ANN_REPLICA_DIR (default /tmp/image_search_ann_replica), ANN_REPLICA_PORT (primary,
#   default 54386; the standby takes the next port) override.
#
# Table t: 20,000 random 32-d embeddings (some NULL) with a cosine and an L2 `ann` index (the
# cosine one in page format 2, quantizer sq8, the default; the L2 one in format 1, 'none')
# (20 lists each). The standby is made by `pg_basebackup -R -X stream` after the build;
# then the primary inserts, updates, deletes and VACUUMs (every change to the indexes
# travels as WAL), and the standby replays it. Checks, after replay: the standby is in
# recovery and its plans use the indexes; for 5 queries and both operators, the
# standby's index scans (enable_seqscan off, image_search.ann_probes at its default and at
# every list) return exactly the primary's ids and distances; an index scan over all
# lists returns every non-NULL row once on both; with all lists probed the standby's
# index answer equals its own exact scan; the index files have the same size on both;
# and neither server logged an ERROR (the index's own corruption checks run during every
# scan: a page that replay got wrong raises "ann index ... is corrupted").
# Prints PASS/FAIL lines; exits non-zero if any check fails. Removes both clusters when
# every check passed (keeps them for inspection otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_cluster.sh
ROOT=${ANN_REPLICA_DIR:-/tmp/image_search_ann_replica}
PRIMARY_PORT=${ANN_REPLICA_PORT:-54386}
STANDBY_PORT=$((PRIMARY_PORT + 1))
STANDBY=$ROOT/standby
stop_standby() {
  [ -d "$STANDBY/data" ] && as_postgres "$PGBIN/pg_ctl" -D "$STANDBY/data" -m fast -w stop >/dev/null 2>&1 || true
}
rm -rf "$STANDBY"
cluster_start "$ROOT/primary" "$PRIMARY_PORT"
trap 'stop_standby; cluster_stop' EXIT
cluster_settings 'wal_level = replica' 'max_wal_senders = 4' 'hot_standby = on' \
  'max_parallel_workers_per_gather = 0'
source test/checks.sh
qp() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$ROOT/primary" -p "$PRIMARY_PORT" -d postgres "$@"; }
qs() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$STANDBY" -p "$STANDBY_PORT" -d postgres "$@"; }
N0=20000
LISTS=20
VEC="ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 32) WHERE g > 0)::image_search.embedding(32)"
t0=$(date +%s)

qp <<SQL
SET client_min_messages = warning;
CREATE EXTENSION image_search;
CREATE TABLE t (id bigserial PRIMARY KEY, s int NOT NULL DEFAULT 0, e image_search.embedding(32));
SELECT setseed(0.25) \gset
INSERT INTO t (e) SELECT CASE WHEN g % 101 = 0 THEN NULL ELSE $VEC END FROM generate_series(1, $N0) g;
CREATE INDEX t_cos ON t USING ann (e image_search.embedding_cosine_ops) WITH (lists = $LISTS);
CREATE INDEX t_l2 ON t USING ann (e image_search.embedding_l2_ops) WITH (lists = $LISTS, quantizer = 'none');
ANALYZE t;
SQL

echo "== pg_basebackup -R of the primary, then a hot standby on port $STANDBY_PORT"
mkdir -p "$STANDBY"; chown postgres "$STANDBY" 2>/dev/null || true
as_postgres "$PGBIN/pg_basebackup" -h "$ROOT/primary" -p "$PRIMARY_PORT" -U postgres -D "$STANDBY/data" -R -X stream -c fast
cat >> "$STANDBY/data/postgresql.conf" <<CONF
port = $STANDBY_PORT
unix_socket_directories = '$STANDBY'
CONF
as_postgres "$PGBIN/pg_ctl" -D "$STANDBY/data" -l "$STANDBY/server.log" -w start >/dev/null
check "the standby is in recovery (a replica)" test "$(qs -c "SELECT pg_is_in_recovery()")" = t

echo "== on the primary: inserts, updates, deletes and VACUUM, replayed by the standby"
qp <<SQL
SELECT setseed(0.75) \gset
INSERT INTO t (s, e) SELECT 1, CASE WHEN g % 97 = 0 THEN NULL ELSE $VEC END FROM generate_series(1, 5000) g;
UPDATE t SET s = 2, e = $VEC FROM generate_series(1, 1) g WHERE id % 53 = 0;
DELETE FROM t WHERE id % 3 = 0 AND id > 100;
VACUUM t;
INSERT INTO t (s, e) SELECT 3, $VEC FROM generate_series(1, 3000) g;
SQL
target=$(qp -c "SELECT pg_current_wal_lsn()")
replayed=false
for i in $(seq 600); do
  if [ "$(qs -c "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn")" = t ]; then replayed=true; break; fi
  sleep 0.1
done
check "the standby replayed the primary's WAL up to $target" $replayed

plan=$(PGOPTIONS="-c enable_seqscan=off" qs -c "EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY e OPERATOR(image_search.<=>) (SELECT e FROM t WHERE id = 50) LIMIT 10
  " -c "EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY e OPERATOR(image_search.<->) (SELECT e FROM t WHERE id = 50) LIMIT 10")
check "the standby's plans scan t_cos for <=> and t_l2 for <->" \
  bash -c 'grep -q "Index Scan using t_cos" <<<"$1" && grep -q "Index Scan using t_l2" <<<"$1"' _ "$plan"

query_vector() {
  case $1 in
    vec1) echo "'[$(seq -s, 1 32)]'::image_search.embedding" ;;
    vec2) echo "'[$(for i in $(seq 32); do echo -n "$(( (i * 7919) % 13 - 6 )),"; done | sed 's/,$//')]'::image_search.embedding" ;;
    *) echo "(SELECT e FROM t WHERE id = $1)" ;;
  esac
}
answers() {  # answers PSQL-FUNCTION OPTIONS: top-50 ids and distances of every query, both operators
  local run=$1 options=$2 out="" op qv
  for op in '<=>' '<->'; do
    for query in 50 4321 19999 "(SELECT max(id) FROM t WHERE s = 3)" vec1 vec2; do
      qv=$(query_vector "$query")
      out+="$op $query: "$(PGOPTIONS="$options" $run -c "SELECT string_agg(id || ':' || round(d::numeric, 6), ' ' ORDER BY d, id) FROM (
        SELECT id, e OPERATOR(image_search.$op) $qv AS d FROM t ORDER BY e OPERATOR(image_search.$op) $qv LIMIT 50) s" 2>&1 || true)$'\n'
    done
  done
  printf '%s' "$out"
}
WORK=$ROOT/work; mkdir -p "$WORK"
INDEX_DEFAULT="-c enable_seqscan=off -c enable_bitmapscan=off"
INDEX_ALL="$INDEX_DEFAULT -c image_search.ann_probes=$LISTS"
EXACT="-c enable_indexscan=off -c enable_bitmapscan=off"
answers qp "$INDEX_DEFAULT" > "$WORK/primary_default.txt"
answers qs "$INDEX_DEFAULT" > "$WORK/standby_default.txt"
answers qp "$INDEX_ALL" > "$WORK/primary_all.txt"
answers qs "$INDEX_ALL" > "$WORK/standby_all.txt"
answers qs "$EXACT" > "$WORK/standby_exact.txt"
check "12 top-50 answers on each server, no ERROR" \
  bash -c 'for f in "$@"; do test "$(grep -c "[0-9]:[0-9]" "$f")" = 12 && ! grep -q ERROR "$f" || exit 1; done' _ "$WORK"/*.txt
check "default ann_probes: the standby's index scans return the primary's ids and distances (12 queries)" \
  diff -q "$WORK/primary_default.txt" "$WORK/standby_default.txt"
check "ann_probes = lists: the standby's index scans return the primary's ids and distances" \
  diff -q "$WORK/primary_all.txt" "$WORK/standby_all.txt"
check "ann_probes = lists: the standby's index answers equal its exact scan's" \
  diff -q "$WORK/standby_all.txt" "$WORK/standby_exact.txt"

full_set() {  # every row an index scan over all lists returns: count, distinct count, md5 of ids
  PGOPTIONS="$INDEX_ALL" $1 -c "
    SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || md5(string_agg(id::text, ',' ORDER BY id))
      FROM (SELECT id FROM t ORDER BY e OPERATOR(image_search.$2) (SELECT e FROM t WHERE id = 50) LIMIT 100000000) s" 2>&1 || true
}
heap=$(qp -c "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || md5(string_agg(id::text, ',' ORDER BY id)) FROM t WHERE e IS NOT NULL")
for op in '<=>' '<->'; do
  p=$(full_set qp "$op"); s=$(full_set qs "$op")
  echo "  $op: heap ${heap% *} non-NULL rows; index over all lists: primary ${p% *}, standby ${s% *}"
  check "$op: an index scan over all lists returns every non-NULL row once, on the primary and on the standby" \
    test "$p" = "$heap" -a "$s" = "$heap"
done
sizes() { $1 -c "SELECT pg_relation_size('t_cos') || ' ' || pg_relation_size('t_l2')"; }
check "the index files have the same size on both ($(sizes qp) bytes)" test "$(sizes qp)" = "$(sizes qs)"
check "no ERROR in either server's log (the scans' page checks raised nothing)" \
  bash -c '! grep -h "ERROR\|corrupted\|PANIC" "$@"' _ "$ROOT/primary/server.log" "$STANDBY/server.log"

stop_standby
cluster_stop
echo "ann_replica: $passes passed, $failures failed ($(( $(date +%s) - t0 )) s)"
if [ "$failures" -eq 0 ]; then rm -rf "$ROOT"; else echo "  clusters kept in $ROOT"; fi
[ "$failures" -eq 0 ]
