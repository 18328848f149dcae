#!/usr/bin/env bash
# An sq8 (page format 2) scan that VACUUM overtakes between two fetches (issue 9; the case
# 621f48b fixed: before it, this test failed with "corrupted: a code item points at item 67
# of vector page 5"): a cursor
# reads every code item of its lists on its first FETCH and re-ranks the best 100 by their
# vector items; before its next FETCH another session VACUUMs away rows whose vector items
# are the last line pointers of a vector page, so that page's item count shrinks below
# what the cursor's remaining code items point at. The cursor must go on without
# "corrupted" and return exactly the rows its snapshot sees.
#
#   bash test/ann_cursor_vacuum.sh   (needs root; uses the installed extension)
#   ANN_CURSOR_DIR, ANN_CURSOR_PORT override the throwaway cluster.
#
# Table t: 300 16-d rows, row i at distance ~i from the query (component 1 = i, the rest
# small noise), one list, so the index build writes the vector items in id order and the
# last vector page ends with ids ..300. Ids 281..300 are deleted (committed) before the
# cursor opens: invisible to its snapshot, yet their code items are in the pool its first
# FETCH reads; its first re-rank round (ids 1..100) does not touch them, the second
# (the next 200) does, after VACUUM removed their vector items from the page's end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_cluster.sh
cluster_start "${ANN_CURSOR_DIR:-/tmp/image_search_ann_cursor}" "${ANN_CURSOR_PORT:-54386}"
source test/checks.sh
q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION image_search;
SET search_path = public, image_search;
SELECT setseed(0.5);
CREATE TABLE t (id int, e embedding(16)) WITH (autovacuum_enabled = off);
INSERT INTO t SELECT i, ARRAY(SELECT CASE WHEN j = 1 THEN i ELSE random() * 0.01 END
  FROM generate_series(1, 16) j)::embedding FROM generate_series(1, 300) i;
CREATE INDEX t_ann ON t USING ann (e embedding_l2_ops) WITH (lists = 1, quantizer = 'sq8');
DELETE FROM t WHERE id > 280;
SQL
blocks_before=$(q -c "SELECT pg_relation_size('t_ann') / 8192")

# Session 1: the cursor, fed through a FIFO so that it stays open while session 2 vacuums.
work=$(mktemp -d); chmod 777 "$work"
mkfifo "$work/in"
"$PGBIN/psql" -X -q -At -d postgres <"$work/in" >"$work/out" 2>&1 &
reader=$!
exec 3>"$work/in"
wait_for() { for _ in $(seq 1 300); do grep -q "$1" "$work/out" && return 0; sleep 0.1; done; return 1; }
cat >&3 <<'SQL'
SET search_path = public, image_search;
SET enable_seqscan = off;
SET image_search.ann_probes = 1;
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM t
  ORDER BY e <-> (SELECT ARRAY(SELECT 0 FROM generate_series(1, 16))::embedding) ;
FETCH 50 FROM c;
\echo first-fetch-done
SQL
check "the cursor's first FETCH returns rows" wait_for first-fetch-done
check "the plan is an ann index scan" grep -q "Index Scan using t_ann" <<<"$(q -c "SET search_path = public, image_search; SET enable_seqscan = off;
  EXPLAIN SELECT id FROM t ORDER BY e <-> (SELECT ARRAY(SELECT 0 FROM generate_series(1, 16))::embedding)")"

# Session 2: VACUUM removes ids 281..300 (deleted before the cursor's snapshot).
q -c "VACUUM t"
removed=$(q -c "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 't'")
echo "after VACUUM: n_dead_tup $removed, index $blocks_before blocks"

cat >&3 <<'SQL'
FETCH ALL FROM c;
\echo second-fetch-done
COMMIT;
SQL
exec 3>&-
wait "$reader" || true
out=$(cat "$work/out")
echo "$out" | grep -iE "error|corrupt" || true
check "no ERROR when the cursor continues after VACUUM" test "$(grep -ciE 'error|corrupt' <<<"$out")" = 0
check "the second FETCH finished" grep -q second-fetch-done <<<"$out"
got=$(grep -E '^[0-9]+$' <<<"$out" | sort -n | tr '\n' ' ')
want=$(seq 1 280 | tr '\n' ' ')
check "the cursor returned ids 1..280 once each, none of the deleted rows" test "$got" = "$want"
rm -rf "$work"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
