#!/usr/bin/env bash
# Citus tier: image_search on a Citus cluster (a coordinator and two workers on local
# sockets), where Citus is installed; says SKIPPED where it is not (Citus is not in
# Debian's or PyPI's registries: README "Citus" says how to build it).
#   bash test/citus.sh      (needs root; uses the installed extension)
# Checks: CREATE EXTENSION reaches the workers; the models catalog as a reference
# table is readable where embeddings are computed; convert on a distributed table
# (and on a reference table) writes each row its own image's embedding, keyed by
# the primary key, and refuses a table without one; searches match a plain table's;
# the embed-once search form; the set-based UPDATE route; keep_current refused.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_cluster.sh
if [ ! -f "$($PG_CONFIG_BIN --pkglibdir)/citus.so" ]; then
  echo "SKIPPED Citus tier: Citus is not installed for $($PG_CONFIG_BIN --bindir)/postgres (see README, Citus)"
  exit 0
fi
DIR=${CITUS_TEST_DIR:-/tmp/image_search_citus}
PORTS=(54410 54411 54412)
ROOT=$(image_root)
stop_all() {
  for port in "${PORTS[@]}"; do
    as_postgres "$PGBIN/pg_ctl" -D "$DIR/n$port/data" -m immediate -w stop >/dev/null 2>&1 || true
  done
}
trap stop_all EXIT
stop_all
rm -rf "$DIR"; mkdir -p "$DIR"; chown postgres "$DIR"
for port in "${PORTS[@]}"; do
  d=$DIR/n$port
  as_postgres mkdir -p "$d"
  as_postgres "$PGBIN/initdb" -D "$d/data" -A trust -U postgres --no-sync >/dev/null
  cat >> "$d/data/postgresql.conf" <<CONF
listen_addresses = 'localhost'
unix_socket_directories = '$d'
port = $port
fsync = off
shared_preload_libraries = 'citus'
image_search.image_root = '$ROOT'
CONF
  as_postgres "$PGBIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w start >/dev/null
  as_postgres "$PGBIN/psql" -X -q -h localhost -p "$port" -d postgres -c "CREATE EXTENSION citus"
done
coordinator() { as_postgres "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h localhost -p "${PORTS[0]}" -d postgres "$@"; }
worker() { as_postgres "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h localhost -p "${PORTS[1]}" -d postgres "$@"; }
coordinator -c "SELECT citus_set_coordinator_host('localhost', ${PORTS[0]})" \
            -c "SELECT citus_add_node('localhost', ${PORTS[1]})" -c "SELECT citus_add_node('localhost', ${PORTS[2]})" >/dev/null
failures=0; passes=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "PASS $1"; passes=$((passes + 1)); else echo "FAIL $1: expected [$2], got [$3]"; failures=$((failures + 1)); fi
}

coordinator >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION image_search;
-- Models are computed with on every node: replicate the catalog (README, Citus).
SELECT create_reference_table('image_search.models');
SET search_path = public, image_search;
SELECT load_csv('plain', 'tutorial_data/mnist_data/mnist_test.csv');
CREATE TABLE photos (LIKE plain);
ALTER TABLE photos ADD PRIMARY KEY (filename);
SELECT create_distributed_table('photos', 'filename');
INSERT INTO photos SELECT * FROM plain;
CREATE TABLE no_key (LIKE plain);
SELECT create_distributed_table('no_key', 'filename');
INSERT INTO no_key SELECT * FROM plain;
CREATE TABLE shared_photos (LIKE plain);
ALTER TABLE shared_photos ADD PRIMARY KEY (filename);
SELECT create_reference_table('shared_photos');
INSERT INTO shared_photos SELECT * FROM plain;
SELECT model_name FROM build_model('cm', 'SELECT * FROM photos', image_col => 'img_path', max_epochs => 1);
SELECT convert('cm', 'plain', image_col => 'img_path');
SQL
check "CREATE EXTENSION image_search reached the workers" \
  "$(coordinator -c "SELECT default_version FROM pg_available_extensions WHERE name = 'image_search'")" \
  "$(worker -c "SELECT extversion FROM pg_extension WHERE extname = 'image_search'")"
check "a worker reads the model from its copy of the catalog" \
  "$(coordinator -c "SELECT embedding_dim FROM image_search.model_list WHERE name = 'cm'")" \
  "$(worker -c "SELECT image_search.vector_dims(image_search.embed_image('cm', 'tutorial_data/mnist_data/test/923.jpg'))")"

WRONG="SELECT count(t.cm_simclr) || ' ' || count(*) FILTER (WHERE t.cm_simclr IS NULL OR (t.cm_simclr <=> p.cm_simclr) > 1e-6)
       FROM %s t JOIN plain p USING (filename)"
check "convert on a distributed table: 200 rows, all embedded, 0 with another row's embedding" "200 200 0" \
  "$(coordinator -c "SET search_path = public, image_search" -c "SELECT convert('cm', 'photos', image_col => 'img_path')" \
                  -c "$(printf "$WRONG" photos)" | tr '\n' ' ' | sed 's/ $//')"
check "the same with replace => true (0 wrong)" "200 0" \
  "$(coordinator -c "SET search_path = public, image_search" -c "DO \$\$ BEGIN PERFORM convert('cm', 'photos', image_col => 'img_path', replace => true); END \$\$" \
                  -c "$(printf "$WRONG" photos)")"
check "convert on a reference table (0 wrong)" "200 0" \
  "$(coordinator -c "SET search_path = public, image_search" -c "DO \$\$ BEGIN PERFORM convert('cm', 'shared_photos', image_col => 'img_path'); END \$\$" \
                  -c "$(printf "$WRONG" shared_photos)")"
check "convert refuses a distributed table without a primary key, and adds no column" "refused 0" \
  "$(coordinator -c "SET search_path = public, image_search" \
       -c "DO \$\$ BEGIN PERFORM convert('cm', 'no_key', image_col => 'img_path'); RAISE NOTICE 'converted'; EXCEPTION WHEN feature_not_supported THEN RAISE NOTICE 'refused: %', SQLERRM; END \$\$" \
       -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'no_key'::regclass AND attname = 'cm_simclr'" 2>&1 \
     | sed -n 's/.*NOTICE:  \(refused\|converted\).*/\1/p; /^[0-9]/p' | tr '\n' ' ' | sed 's/ $//')"

TOP4_PLAIN=$(coordinator -c "SELECT string_agg(filename, ' ') FROM (SELECT filename FROM plain ORDER BY cm_simclr <=> image_search.embed_image('cm', 'tutorial_data/mnist_data/test/923.jpg'), filename LIMIT 4) s")
check "search pushed to every shard (embed_image on the workers) = the plain table's top 4" "$TOP4_PLAIN" \
  "$(coordinator -c "SELECT string_agg(filename, ' ') FROM (SELECT filename FROM photos ORDER BY cm_simclr <=> image_search.embed_image('cm', 'tutorial_data/mnist_data/test/923.jpg'), filename LIMIT 4) s")"
EMBED_ONCE="SELECT filename FROM photos ORDER BY cm_simclr <=> (SELECT image_search.embed_image('cm', 'tutorial_data/mnist_data/test/923.jpg')), filename LIMIT 4"
check "embed-once form: the query image is a distributed subplan, run once on the coordinator" 1 \
  "$(coordinator -c "EXPLAIN (COSTS OFF) $EMBED_ONCE" | grep -c "Distributed Subplan")"
check "embed-once form gives the same top 4" "$TOP4_PLAIN" \
  "$(coordinator -c "SELECT string_agg(filename, ' ') FROM ($EMBED_ONCE) s")"

check "UPDATE ... SET e = embed_image(m, column) is refused by Citus (STABLE)" 1 \
  "$(coordinator -c "UPDATE photos SET cm_simclr = image_search.embed_image('cm', img_path)" 2>&1 | grep -c "STABLE functions used in UPDATE")"
check "the set-based route (embeddings computed in a subquery, joined on the key) writes 0 wrong rows" "200 0" \
  "$(coordinator -c "UPDATE photos SET cm_simclr = NULL" \
       -c "UPDATE photos t SET cm_simclr = s.e FROM (SELECT filename, image_search.embed_image('cm', img_path) AS e FROM photos OFFSET 0) s WHERE t.filename = s.filename" \
       -c "$(printf "$WRONG" photos)")"
check "keep_current is refused on a Citus table with a clear message" 1 \
  "$(coordinator -c "SELECT image_search.keep_current('cm', 'photos', image_col => 'img_path')" 2>&1 | grep -c "keep_current does not support Citus tables")"

echo "citus: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
