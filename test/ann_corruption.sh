#!/usr/bin/env bash
# A damaged ann index is an ERROR naming it and suggesting REINDEX, never a crash, a
# wrong answer or a scan that never ends (issue 9); REINDEX then repairs it.
#
#   bash test/ann_corruption.sh      (needs root; uses the installed extension)
#   ANN_CORRUPTION_DIR, ANN_CORRUPTION_PORT override the throwaway cluster.
#
# Table t: 3,000 random 16-d embeddings, a cosine ann index with 4 lists (block 0 the
# metapage, block 1 the directory, blocks 2.. the lists' data pages), first in page format
# 1 (quantizer 'none'), then in format 2 ('sq8': block 2 the quantiser, then code and
# vector pages, found by their kind in the special space). For each damage the
# server is stopped, bytes of the index file are overwritten, the server restarted, then:
# a search reading every list, and VACUUM, fail with SQLSTATE XX002 and a message naming
# the index and the damage, the hint names REINDEX, the server did not restart (no
# backend crashed), and after REINDEX the search answers as the exact scan.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_cluster.sh
cluster_start "${ANN_CORRUPTION_DIR:-/tmp/image_search_ann_corruption}" "${ANN_CORRUPTION_PORT:-54385}"
DATA=$CLUSTER_DIR/data
source test/checks.sh
q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION image_search;
SET search_path = public, image_search;
SELECT setseed(0.3);
CREATE TABLE t (id int, e embedding(16));
INSERT INTO t SELECT i, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 16) WHERE i > 0)::embedding
  FROM generate_series(1, 3000) i;
CREATE INDEX t_ann ON t USING ann (e embedding_cosine_ops) WITH (lists = 4, quantizer = 'none');
CREATE TABLE exact AS SELECT array_agg(id ORDER BY d, id) AS ids
  FROM (SELECT id, e <=> (SELECT e FROM t WHERE id = 7) AS d FROM t ORDER BY 2, 1 LIMIT 10) s;
SQL
echo "index t_ann: $(q -c "SELECT pg_relation_size('t_ann') / 8192") blocks"
SEARCH="SET search_path = public, image_search; SET enable_seqscan = off; SET image_search.ann_probes = 4;
SELECT array_agg(id) FROM (SELECT id FROM t ORDER BY e <=> (SELECT e FROM t WHERE id = 7) LIMIT 10) s"
started=$(q -c "SELECT pg_postmaster_start_time()")

# damage NAME OFFSET HEXBYTES EXPECTED-MESSAGE-PART: overwrite, restart, check, REINDEX.
# damage NAME OFFSET HEXBYTES EXPECTED [WHICH]: WHICH = both (default), search or vacuum:
# what must fail (format 2's scan follows code items to vectors but does not walk vector
# chains; VACUUM walks both chains but does not follow the pointers).
damage() {
  local name=$1 offset=$2 bytes=$3 expected=$4 which=${5:-both}
  local file; file=$DATA/$(q -c "SELECT pg_relation_filepath('t_ann')")  # REINDEX gives a new file
  as_postgres "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
  python3 -c "import sys; f = open(sys.argv[1], 'r+b'); f.seek(int(sys.argv[2])); f.write(bytes.fromhex(sys.argv[3])); f.close()" \
    "$file" "$offset" "$bytes"
  as_postgres "$PGBIN/pg_ctl" -D "$DATA" -l "$CLUSTER_DIR/server.log" -w start >/dev/null
  started=$(q -c "SELECT pg_postmaster_start_time()")
  local out
  out=$("$PGBIN/psql" -X -q -At -d postgres -v VERBOSITY=verbose -c "$SEARCH" 2>&1 || true)
  echo "  search: $(echo "$out" | head -3 | tr '\n' ' ')"
  if [ "$which" != vacuum ]; then
    check "$name: search is an ERROR naming the index and the damage" \
      grep -q "ERROR:  XX002: ann index \"t_ann\" is corrupted: .*$expected" <<<"$out"
    check "$name: the hint says REINDEX" grep -q 'HINT:  REINDEX INDEX public.t_ann rebuilds it' <<<"$out"
  fi
  out=$("$PGBIN/psql" -X -q -At -d postgres -v VERBOSITY=verbose -c "VACUUM t" 2>&1 || true)
  echo "  vacuum: $(echo "$out" | head -1)"
  if [ "$which" = vacuum ]; then
    check "$name: VACUUM is an ERROR naming the index and the damage" \
      grep -q "ERROR:  XX002: ann index \"t_ann\" is corrupted: .*$expected" <<<"$out"
  elif [ "$which" = both ]; then
    check "$name: VACUUM is the same ERROR" grep -q "ann index \"t_ann\" is corrupted" <<<"$out"
  fi
  check "$name: no backend crashed (the server did not restart)" \
    test "$(q -c "SELECT pg_postmaster_start_time()")" = "$started"
  q -c "REINDEX INDEX t_ann"
  check "$name: after REINDEX the search answers as the exact scan" \
    test "$(q -c "$SEARCH" | tail -1)" = "$(q -c "SELECT ids FROM exact")"
}

# Before any damage, the index answers as the exact scan.
check "sound index answers as the exact scan" test "$(q -c "$SEARCH" | tail -1)" = "$(q -c "SELECT ids FROM exact")"
# The metapage's magic number (the page's contents start after the 24-byte page header).
damage "bad magic" 24 "efbeadde" "its metapage has magic 0xdeadbeef"
# The metapage's version (4 bytes after the magic).
damage "bad version" 28 "63000000" "and version 99"
# Block 2's link to the list's previous page (the last 4 bytes of its special space's
# first field) made to point at itself: followed blindly, a scan would never end.
damage "data page linked to itself" $((3 * 8192 - 8)) "02000000" "data page 2 links to block 2"
# Block 2's pd_special (offset 16 of the page header) set to the page end: no special space.
damage "data page without its special space" $((2 * 8192 + 16)) "0020" "block 2 is not a data page"
# The first line pointer of block 3 (4 bytes at offset 24: lp_off in bits 0-14, lp_flags
# in 15-16, lp_len in 17-31) made a normal item of 8 bytes at offset 8000.
damage "item of the wrong size" $((3 * 8192 + 24)) "409f1000" "item 1 of data page 3 has 8 bytes"
# Block 3's pd_lower (offset 12 of the page header) inside the header: the line pointers a
# reader walks would start in it. (A pd_lower past pd_upper never reaches the index from
# disk: Postgres refuses such a page on read, "invalid page in block", XX001; the index
# checks it too, for a page damaged in memory, see page_checks.rs's unit tests.)
damage "data page with pd_lower inside the header" $((3 * 8192 + 12)) "1000" "data page 3 has pd_lower 16,"

# Format 2.
q -c "ALTER INDEX t_ann SET (quantizer = 'sq8')" -c "REINDEX INDEX t_ann"
check "sq8: sound index answers as the exact scan" test "$(q -c "$SEARCH" | tail -1)" = "$(q -c "SELECT ids FROM exact")"
FILE=$DATA/$(q -c "SELECT pg_relation_filepath('t_ann')")
q -c "CHECKPOINT"
# The first code page and vector page (kind in the special space's last 4 bytes), and the
# code item of the query's own row (its heap TID, so that it is surely re-ranked): its
# page and its byte offset in the file.
TID=$(q -c "SELECT ctid FROM t WHERE id = 7")
read -r CODE VEC ROW_ITEM < <(as_postgres python3 -c "
import struct, sys
d = open(sys.argv[1], 'rb').read()
blk, pos = map(int, sys.argv[2].strip('()').split(','))
tid = struct.pack('<HHH', blk >> 16, blk & 0xffff, pos)
kinds, row = {}, None
for b in range(3, len(d) // 8192):
    page = b * 8192
    kind = struct.unpack_from('<I', d, page + 8188)[0]
    kinds.setdefault(kind, b)
    if kind != 1:
        continue
    lower = struct.unpack_from('<H', d, page + 12)[0]
    for lp_at in range(page + 24, page + lower, 4):
        off = struct.unpack_from('<I', d, lp_at)[0] & 0x7fff
        if d[page + off:page + off + 6] == tid:
            row = page + off
print(kinds[1], kinds[2], row)" "$FILE" "$TID")
echo "index t_ann (sq8): $(q -c "SELECT pg_relation_size('t_ann') / 8192") blocks, first code page $CODE, first vector page $VEC"
damage "sq8: quantiser scale negative" $((2 * 8192 + 8192 - 4)) "000080bf" "its quantizer has a scale that is not a positive" search
damage "sq8: code page linked to itself" $(((CODE + 1) * 8192 - 8)) "$(printf '%02x000000' "$CODE")" \
  "code page $CODE links to block $CODE"
damage "sq8: vector page linked to itself" $(((VEC + 1) * 8192 - 8)) "$(printf '%02x000000' "$VEC")" \
  "vector page $VEC links to block $VEC" vacuum
damage "sq8: code item pointing at a code page" $((ROW_ITEM + 8)) "$(printf '%02x000000' "$CODE")" \
  "a code item points at block $CODE, which is not a vector page" search
damage "sq8: code item of the wrong size" $((CODE * 8192 + 24)) "409f1000" "item 1 of code page $CODE has 8 bytes"
damage "sq8: code page with pd_lower inside the header" $((CODE * 8192 + 12)) "0800" \
  "code page $CODE has pd_lower 8, pd_upper"
damage "sq8: vector page with pd_lower inside the header" $((VEC * 8192 + 12)) "1000" \
  "vector page $VEC has pd_lower 16, pd_upper" vacuum
# The vector page's first line pointer made an in-use (LP_NORMAL) item of 0 bytes at
# offset 8000: only an unused line pointer may have no item.
damage "sq8: in-use vector item of 0 bytes" $((VEC * 8192 + 24)) "409f0000" \
  "item 1 of vector page $VEC has 0 bytes" vacuum

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
