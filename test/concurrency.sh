#!/usr/bin/env bash
# Tests that need several sessions at once, against the cluster in PGHOST/PGPORT
# (scripts/test.sh runs it after the golden tests). Prints one line per check
# and "concurrency: N passed, M failed"; exits non-zero on a failure.
set -uo pipefail
DB=${1:-image_search_regress}
psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
passed=0; failed=0
check() { # name, condition (shell test)
  if eval "$2"; then echo "ok   $1"; passed=$((passed + 1)); else echo "FAIL $1"; failed=$((failed + 1)); fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# cancel_and_wait PID PATTERN: pg_cancel_backend on the session running a query like
# PATTERN, then wait for PID; sets $status (its exit code) and $stop (seconds it took).
cancel_and_wait() {
  psql_q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '$2' AND pid <> pg_backend_pid()" >/dev/null
  local t0 t1; t0=$(date +%s.%N); wait "$1"; status=$?; t1=$(date +%s.%N)
  stop=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS image_search" \
  -c "SELECT image_search.load_csv('cc_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true)" \
  -c "CREATE TABLE cc_many AS SELECT t.img_path FROM cc_train t, generate_series(1, 10)" \
  -c "SELECT image_search.build_model('cc_base', 'SELECT img_path FROM cc_train LIMIT 64', image_col => 'img_path', max_epochs => 1)" \
  -c "SELECT image_search.convert('cc_base', 'cc_many', image_col => 'img_path')" >/dev/null

# 1. Two sessions build the same model name at once: the second waits for the
#    first, then finds the name taken. One model, one clear error, no corruption.
build='SET client_min_messages = warning; SELECT epochs FROM image_search.build_model('"'cc_same'"', '"'SELECT img_path FROM cc_train LIMIT 256'"', image_col => '"'img_path'"', max_epochs => 3)'
psql_q -c "$build" >"$tmp/a.out" 2>&1 & a=$!
sleep 0.3
psql_q -c "$build" >"$tmp/b.out" 2>&1 & b=$!
wait $a; ra=$?; wait $b; rb=$?
check "same-name builds: first succeeds" "[ $ra -eq 0 ]"
check "same-name builds: second fails with 'already exists'" "[ $rb -ne 0 ] && grep -q 'model \"cc_same\" already exists' $tmp/b.out"
check "same-name builds: exactly one model row" "[ \"\$(psql_q -c \"SELECT count(*) FROM image_search.models WHERE name = 'cc_same'\")\" = 1 ]"

# 2. Searches keep working while another session recomputes the embeddings of the table.
psql_q -c "SELECT image_search.convert('cc_base', 'cc_many', image_col => 'img_path', replace => true)" >"$tmp/c.out" 2>&1 & c=$!
sleep 0.5
ok=0
for i in 1 2 3 4 5; do
  n=$(psql_q -c "SET statement_timeout = '2s'" -c "SELECT count(*) FROM (SELECT 1 FROM cc_many ORDER BY cc_base_simclr OPERATOR(image_search.<=>) image_search.embed_image('cc_base', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 4) s" 2>&1)
  [ "$n" = 4 ] && ok=$((ok + 1))
done
running=$(kill -0 $c 2>/dev/null && echo yes || echo no)
wait $c; rc=$?
check "search during convert: 5 of 5 searches answered (convert still running: $running)" "[ $ok -eq 5 ]"
check "search during convert: the convert finished" "[ $rc -eq 0 ]"

# 3. pg_cancel_backend stops a long build within a second and leaves no model.
psql_q -c "SELECT image_search.build_model('cc_cancel', 'SELECT img_path FROM cc_train', image_col => 'img_path', max_epochs => 200)" >"$tmp/d.out" 2>&1 & d=$!
sleep 1.5
cancel_and_wait $d '%cc_cancel%'
check "cancel build: ERROR 'canceling statement due to user request'" "[ $status -ne 0 ] && grep -q 'canceling statement due to user request' $tmp/d.out"
check "cancel build: stopped ${stop}s after the cancel (< 1 s)" "awk -v s=$stop 'BEGIN { exit !(s < 1.0) }'"
check "cancel build: no model row" "[ \"\$(psql_q -c \"SELECT count(*) FROM image_search.models WHERE name = 'cc_cancel'\")\" = 0 ]"

# 4. pg_cancel_backend stops a convert; the table is left as it was (no new column).
psql_q -c "SELECT image_search.convert('cc_base', 'cc_many', image_col => 'img_path', replace => true)" >/dev/null
psql_q -c "SET client_min_messages = warning" \
  -c "SELECT image_search.build_model('cc_other', 'SELECT img_path FROM cc_train LIMIT 64', image_col => 'img_path', max_epochs => 1, seed => 7)" >/dev/null
psql_q -c "SELECT image_search.convert('cc_other', 'cc_many', image_col => 'img_path')" >"$tmp/e.out" 2>&1 & e=$!
sleep 0.5
cancel_and_wait $e "%convert(''cc_other''%"
check "cancel convert: canceled, stopped ${stop}s after the cancel (< 1 s)" "[ $status -ne 0 ] && grep -q 'canceling statement' $tmp/e.out && awk -v s=$stop 'BEGIN { exit !(s < 1.0) }'"
check "cancel convert: no cc_other_simclr column" "[ \"\$(psql_q -c \"SELECT count(*) FROM pg_attribute WHERE attrelid = 'cc_many'::regclass AND attname = 'cc_other_simclr' AND NOT attisdropped\")\" = 0 ]"

# 5. A second session updates, deletes and changes image paths of a partitioned table
#    while convert recomputes it. Its writes keep their embeddings current themselves
#    (UPDATE ... SET image, embedding = embed_image(image)); convert must never write an
#    embedding to another row nor overwrite a newer one, so afterwards every row's
#    embedding is its current image's.
psql_q -c "CREATE TABLE cc_part (id int, img_path text, label int) PARTITION BY RANGE (id)" \
  -c "CREATE TABLE cc_part_a PARTITION OF cc_part FOR VALUES FROM (0) TO (5000)" \
  -c "CREATE TABLE cc_part_b PARTITION OF cc_part FOR VALUES FROM (5000) TO (10000) PARTITION BY HASH (id)" \
  -c "CREATE TABLE cc_part_b0 PARTITION OF cc_part_b FOR VALUES WITH (MODULUS 2, REMAINDER 0)" \
  -c "CREATE TABLE cc_part_b1 PARTITION OF cc_part_b FOR VALUES WITH (MODULUS 2, REMAINDER 1)" \
  -c "INSERT INTO cc_part SELECT row_number() OVER () - 1, img_path, label FROM cc_train, generate_series(1, 10)" \
  -c "SELECT image_search.convert('cc_base', 'cc_part', image_col => 'img_path')" >/dev/null
writer_sql=$tmp/writer.sql
for k in $(seq 0 29); do
  image="tutorial_data/mnist_data/test/$(ls tutorial_data/mnist_data/test | sed -n "$((k + 1))p")"
  cat >> "$writer_sql" <<SQL
UPDATE cc_part SET img_path = '$image', cc_base_simclr = image_search.embed_image('cc_base', '$image') WHERE id % 97 = $k;
DELETE FROM cc_part WHERE id % 101 = $k;
UPDATE cc_part SET label = label + 100 WHERE id % 89 = $k;
SELECT pg_sleep(0.05);
SQL
done
psql_q -f "$writer_sql" >"$tmp/w.out" 2>&1 & w=$!
sleep 0.3
psql_q -c "SELECT image_search.convert('cc_base', 'cc_part', image_col => 'img_path', replace => true)" >"$tmp/f.out" 2>&1 & f=$!
wait $w; rw=$?; wait $f; rf=$?
check "concurrent writer: its 90 statements and the convert succeeded" "[ $rw -eq 0 ] && [ $rf -eq 0 ]"
check "concurrent writer: its path changes and deletes are there" "[ \"\$(psql_q -c \"SELECT count(*) FILTER (WHERE img_path LIKE '%/test/%') > 0 AND count(*) < 10000 FROM cc_part\")\" = t ]"
wrong=$(psql_q -c "SELECT count(*) FROM cc_part WHERE cc_base_simclr IS NULL
  OR image_search.cosine_similarity(cc_base_simclr, image_search.embed_image('cc_base', img_path)) < 0.9999")
check "concurrent writer: every row holds its current image's embedding ($wrong wrong)" "[ \"$wrong\" = 0 ]"

psql_q -c "SELECT image_search.drop_model(name) FROM image_search.models WHERE name LIKE 'cc\_%'" \
  -c "DROP TABLE cc_train, cc_many, cc_part" >/dev/null
echo "concurrency: $passed passed, $failed failed"
[ $failed -eq 0 ]
