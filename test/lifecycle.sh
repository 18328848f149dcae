#!/usr/bin/env bash
# Lifecycle check: an image_search database survives pg_dump / pg_restore, and
# DROP EXTENSION ... CASCADE removes everything the extension made.
#
#   bash test/lifecycle.sh      (needs root; uses the installed extension)
#
# On a throwaway cluster: load the tutorial data, build a model (5 epochs), import its
# exported encoder as a second model, convert with both, keep the first current;
# save the top-10 search of mnist_test for 923.jpg; pg_dump -Fc, pg_restore into a new
# database, run the same search there and diff. An `ann` index on mnist_test's embedding
# column is dumped and restored too: it exists afterwards, EXPLAIN uses it (seqscan off)
# and its top-10 is the one before the dump. Then DROP EXTENSION image_search
# CASCADE: the schema's objects (the empty schema itself stays), the models and the
# <model>_simclr column of mnist_test (its type is the extension's) are gone; the
# table and its other columns stay.
# Prints PASS/FAIL lines; exits non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_cluster.sh
cluster_start "${LIFECYCLE_DIR:-/tmp/image_search_lifecycle}" "${LIFECYCLE_PORT:-54381}"
WORK=$CLUSTER_DIR/work
mkdir -p "$WORK"
psql_db() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$@"; }
source test/checks.sh
SEARCH="SET search_path = public, image_search;
SELECT filename || ' ' || label || ' ' || round(cosine_similarity(my_model_simclr,
         (SELECT embed_image('my_model', 'tutorial_data/mnist_data/test/923.jpg')))::numeric, 5)
FROM mnist_test
ORDER BY my_model_simclr <=> embed_image('my_model', 'tutorial_data/mnist_data/test/923.jpg'), filename
LIMIT 10;"

echo "== build in database lifecycle_src"
"$PGBIN/createdb" lifecycle_src
psql_db lifecycle_src >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION image_search;
SET search_path = public, image_search;
SELECT load_csv('mnist_train', 'tutorial_data/mnist_data/mnist_train.csv');
SELECT load_csv('mnist_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT * FROM build_model('my_model', 'SELECT * FROM mnist_train', image_col => 'img_path', max_epochs => 5);
SELECT convert('my_model', 'mnist_test', image_col => 'img_path');
SELECT keep_current('my_model', 'mnist_test', image_col => 'img_path');
SELECT * FROM import_model('imported', export_model('my_model'), image_size => 28, mean => '{0}', std => '{1}');
SELECT convert('imported', 'mnist_test', image_col => 'img_path');
CREATE INDEX mnist_test_ann ON mnist_test USING ann (my_model_simclr embedding_cosine_ops) WITH (lists = 10);
SQL
psql_db lifecycle_src -c "$SEARCH" > "$WORK/top10_src.txt"
cat "$WORK/top10_src.txt"
check "search before dump returns 10 rows, 923.jpg first" \
  test "$(wc -l < "$WORK/top10_src.txt")" = 10 -a "$(head -1 "$WORK/top10_src.txt" | cut -d' ' -f1)" = 923.jpg

# The same search through the ann index (all 10 lists probed, so the exact top-10).
ANN_SEARCH="SET search_path = public, image_search; SET enable_seqscan = off; SET image_search.ann_probes = 10;
SELECT filename FROM mnist_test
ORDER BY my_model_simclr <=> embed_image('my_model', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 10;"
explain_ann() { psql_db "$1" -c "SET search_path = public, image_search; SET enable_seqscan = off;
  EXPLAIN (COSTS OFF) SELECT filename FROM mnist_test
  ORDER BY my_model_simclr <=> embed_image('my_model', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 10"; }
check "the ann index is used before the dump" grep -q "Index Scan using mnist_test_ann" <<<"$(explain_ann lifecycle_src)"
psql_db lifecycle_src -c "$ANN_SEARCH" > "$WORK/ann_src.txt"
check "the ann index's top-10 before the dump = the exact search's" \
  diff -u <(cut -d' ' -f1 "$WORK/top10_src.txt") "$WORK/ann_src.txt"

echo "== pg_dump -Fc, pg_restore into lifecycle_copy"
"$PGBIN/pg_dump" -Fc -d lifecycle_src -f "$WORK/lifecycle.dump"
"$PGBIN/createdb" lifecycle_copy
restore_ok=true
"$PGBIN/pg_restore" --exit-on-error -d lifecycle_copy "$WORK/lifecycle.dump" 2> "$WORK/restore.err" || restore_ok=false
check "pg_restore succeeds" $restore_ok
[ -s "$WORK/restore.err" ] && sed 's/^/  pg_restore: /' "$WORK/restore.err"
count() { psql_db "$1" -c "$2"; }
check "models restored (trained and imported: same rows, build_id, encoder bytes)" test \
  "$(count lifecycle_src  "SELECT count(*) || ' ' || max(build_id) || ' ' || md5(string_agg(encoder_onnx::text, '')) FROM image_search.models")" = \
  "$(count lifecycle_copy "SELECT count(*) || ' ' || max(build_id) || ' ' || md5(string_agg(encoder_onnx::text, '')) FROM image_search.models")"
check "embeddings restored (same md5 of mnist_test)" test \
  "$(count lifecycle_src  "SELECT md5(string_agg(t::text, ',' ORDER BY filename)) FROM mnist_test t")" = \
  "$(count lifecycle_copy "SELECT md5(string_agg(t::text, ',' ORDER BY filename)) FROM mnist_test t")"
check "model sequence restored (next build_id continues)" test \
  "$(count lifecycle_src  "SELECT last_value FROM image_search.models_build_id_seq")" = \
  "$(count lifecycle_copy "SELECT last_value FROM image_search.models_build_id_seq")"
psql_db lifecycle_copy -c "$SEARCH" > "$WORK/top10_copy.txt" || true
check "keep_current's triggers are restored and embed a new row" test \
  "$(count lifecycle_copy "INSERT INTO mnist_test VALUES ('tutorial_data/mnist_data/test/923.jpg', 'new.jpg', 8); SELECT image_search.cosine_similarity(my_model_simclr, image_search.embed_image('my_model', img_path)) > 0.99999 FROM mnist_test WHERE filename = 'new.jpg'")" = t
psql_db lifecycle_copy -c "DELETE FROM mnist_test WHERE filename = 'new.jpg'"
check "search after restore is identical" diff -u "$WORK/top10_src.txt" "$WORK/top10_copy.txt"
check "the ann index is restored (USING ann, default operator class embedding_cosine_ops, lists = 10)" test \
  "$(count lifecycle_copy "SELECT indexdef FROM pg_indexes WHERE indexname = 'mnist_test_ann'")" = \
  "CREATE INDEX mnist_test_ann ON public.mnist_test USING ann (my_model_simclr) WITH (lists='10')"
check "the restored ann index is used (EXPLAIN, seqscan off)" grep -q "Index Scan using mnist_test_ann" <<<"$(explain_ann lifecycle_copy)"
psql_db lifecycle_copy -c "$ANN_SEARCH" > "$WORK/ann_copy.txt" || true
check "the restored ann index returns the same top-10" diff -u "$WORK/ann_src.txt" "$WORK/ann_copy.txt"
IMPORTED="SELECT string_agg(filename, ' ') FROM (SELECT filename FROM mnist_test
  ORDER BY imported_onnx OPERATOR(image_search.<=>) image_search.embed_image('imported', 'tutorial_data/mnist_data/test/923.jpg'), filename LIMIT 10) s"
check "an imported model searches the same after restore (and as the model it was exported from)" test \
  "$(count lifecycle_src "$IMPORTED")" = "$(count lifecycle_copy "$IMPORTED")" -a \
  "$(count lifecycle_copy "$IMPORTED")" = "$(cut -d' ' -f1 "$WORK/top10_src.txt" | tr '\n' ' ' | sed 's/ $//')"

echo "== DROP EXTENSION image_search CASCADE in lifecycle_copy"
psql_db lifecycle_copy -c "SET client_min_messages = warning; DROP EXTENSION image_search CASCADE"
# The schema comes from the control file's `schema = image_search`: CREATE EXTENSION
# creates it when missing, but it is not a member of the extension, so DROP EXTENSION
# leaves it behind, empty (as for any extension with a fixed schema).
check "image_search schema is empty (no tables, functions or types left)" test \
  "$(count lifecycle_copy "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid) + (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid) + (SELECT count(*) FROM pg_type WHERE typnamespace = n.oid) FROM pg_namespace n WHERE nspname = 'image_search' UNION ALL SELECT 0 LIMIT 1")" = 0
check "no embedding type or image_search functions anywhere" test \
  "$(count lifecycle_copy "SELECT (SELECT count(*) FROM pg_type WHERE typname = 'embedding') + (SELECT count(*) FROM pg_proc WHERE proname IN ('embed_image', 'build_model', 'search_image', 'load_csv'))")" = 0
echo "NOTE image_search schema after DROP EXTENSION: $(count lifecycle_copy "SELECT CASE WHEN count(*) > 0 THEN 'left behind, empty' ELSE 'gone' END FROM pg_namespace WHERE nspname = 'image_search'")"
check "mnist_test keeps its rows and other columns; my_model_simclr was dropped with the type" test \
  "$(count lifecycle_copy "SELECT (SELECT count(*) FROM mnist_test) || ' ' || (SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'mnist_test'::regclass AND attnum > 0 AND NOT attisdropped)")" = \
  "200 img_path,filename,label"
check "no keep_current triggers left; INSERT still works" test \
  "$(count lifecycle_copy "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'mnist_test'::regclass")" = 0 -a \
  "$(count lifecycle_copy "INSERT INTO mnist_test VALUES ('x.jpg', 'x.jpg', 0) RETURNING label")" = 0
check "CREATE EXTENSION again starts with no models" test \
  "$(count lifecycle_copy "SET client_min_messages = warning; CREATE EXTENSION image_search; SELECT count(*) FROM image_search.models")" = 0

cluster_stop
echo "lifecycle: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
