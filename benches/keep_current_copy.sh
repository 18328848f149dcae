#!/usr/bin/env bash
# COPY into a kept-current table (issue 11) against plain COPY plus a separate convert.
#   benches/keep_current_copy.sh [rows]      (default 10,000: the tutorial's 1,000 training JPEGs x 10)
# 1. reference: COPY into a plain table, then convert: rows/s of the two together
# 2. keep_current: COPY into a table whose triggers embed each statement's rows: rows/s
# 3. single-row INSERTs (1,000 statements in one session), with and without keep_current
# Each timing is one statement in a fresh session (loading the model is included).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000}
source scripts/pg_cluster.sh
cluster_start /tmp/image_search_bench_keep 54373
CSV=$CLUSTER_DIR/rows.csv
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION image_search;
SELECT image_search.load_csv('mnist_train', 'tutorial_data/mnist_data/mnist_train.csv');
SELECT image_search.build_model('m', 'SELECT img_path FROM mnist_train', image_col => 'img_path', max_epochs => 1);
COPY (SELECT g, t.img_path FROM generate_series(1, $ROWS) g
        JOIN (SELECT row_number() OVER (ORDER BY filename) - 1 AS i, img_path FROM mnist_train) t
          ON t.i = g % (SELECT count(*) FROM mnist_train)) TO '$CSV' WITH (FORMAT csv);
CREATE TABLE plain (id int, img_path text);
CREATE TABLE kept (id int, img_path text);
SELECT image_search.keep_current('m', 'kept', image_col => 'img_path');
CREATE TABLE plain_one (id int, img_path text);
CREATE TABLE kept_one (id int, img_path text);
SELECT image_search.keep_current('m', 'kept_one', image_col => 'img_path');
SQL

ms() {  # ms SQL: milliseconds of one statement in a fresh session
  psql -X -At -v ON_ERROR_STOP=1 -c "\\timing on" -c "$1" | awk '/^Time/ { ms = $2 } END { print ms }'
}
copy_ms=$(ms "COPY plain (id, img_path) FROM '$CSV' WITH (FORMAT csv)")
convert_ms=$(ms "SELECT image_search.convert('m', 'plain', image_col => 'img_path')")
kept_ms=$(ms "COPY kept (id, img_path) FROM '$CSV' WITH (FORMAT csv)")
awk -v n="$ROWS" -v c="$copy_ms" -v v="$convert_ms" -v k="$kept_ms" 'BEGIN {
  printf "plain COPY                    %6d rows in %7.0f ms\n", n, c
  printf "convert afterwards            %6d rows in %7.0f ms\n", n, v
  printf "reference: COPY + convert     %6d rows in %7.0f ms = %5.0f rows/s\n", n, c + v, n / (c + v) * 1000
  printf "COPY into a kept-current table %5d rows in %7.0f ms = %5.0f rows/s\n", n, k, n / k * 1000
}'
echo "check: rows without an embedding, rows whose embedding differs from convert's"
psql -X -At -c "SELECT count(*) FILTER (WHERE k.m_simclr IS NULL), count(*) FILTER (WHERE (k.m_simclr OPERATOR(image_search.<=>) p.m_simclr) > 1e-6)
                FROM kept k JOIN plain p USING (id)"

# 1,000 single-row INSERT statements in one session.
inserts() {
  awk -F, -v t="$1" 'NR > 1 && NR <= 1001 { printf "INSERT INTO %s VALUES (%d, \x27%s\x27);\n", t, NR - 1, $1 }' \
    tutorial_data/mnist_data/mnist_train.csv
}
inserts plain_one > "$CLUSTER_DIR/plain_one.sql"
inserts kept_one > "$CLUSTER_DIR/kept_one.sql"
for t in plain_one kept_one; do
  start=$(date +%s%N)
  psql -X -q -v ON_ERROR_STOP=1 -f "$CLUSTER_DIR/$t.sql"
  end=$(date +%s%N)
  awk -v t="$t" -v ns=$((end - start)) 'BEGIN { printf "1,000 single-row INSERTs into %-9s %6.0f ms = %.2f ms per statement\n", t, ns / 1e6, ns / 1e9 }'
done
psql -X -At -c "SELECT 'kept_one rows without an embedding: ' || count(*) FILTER (WHERE m_simclr IS NULL) FROM kept_one"
