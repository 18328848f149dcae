#!/usr/bin/env bash
# Convert throughput and search latency on a throwaway cluster.
#   benches/convert_search.sh [concurrent_seconds]     (CONVERT_ONLY=1: stop after the converts)
# 1. convert: embeddings for 10,000 MNIST rows (the 1,000 training JPEGs x 10), images/s
# 2. search: the tutorial's search over the 200-row mnist_test, end to end per statement
#    (pgbench, 1 client, 200 transactions), both the similarity form and the <=> form
# 3. many sessions searching at once: pgbench, 16 clients, N seconds (default 60): TPS, p99, errors
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_CONCURRENT=${1:-60}
source scripts/pg_cluster.sh
cluster_start ${BENCH_DIR:-/tmp/image_search_bench_search} ${BENCH_PORT:-54372}
psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION image_search;
SELECT image_search.load_csv('mnist_train', 'tutorial_data/mnist_data/mnist_train.csv');
SELECT image_search.load_csv('mnist_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT image_search.build_model('m', 'SELECT img_path FROM mnist_train', image_col => 'img_path');
CREATE TABLE many AS SELECT t.img_path FROM mnist_train t, generate_series(1, 10);
CREATE TABLE many_part (id int, img_path text) PARTITION BY HASH (id);
CREATE TABLE many_part_0 PARTITION OF many_part FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE many_part_1 PARTITION OF many_part FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE many_part_2 PARTITION OF many_part FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE many_part_3 PARTITION OF many_part FOR VALUES WITH (MODULUS 4, REMAINDER 3);
INSERT INTO many_part SELECT row_number() OVER (), img_path FROM many;
SELECT image_search.convert('m', 'mnist_test', image_col => 'img_path');
SQL

# timed_convert LABEL ARGS: one convert in a fresh session (loading the model is included).
timed_convert() {
  echo "== convert: $1"
  psql -X -At -c "\\timing on" -c "SELECT image_search.convert('m', $2)" \
    | awk '/^Time/ { ms = $2 } /^[0-9]+$/ { n = $1 } END { printf "%d rows in %.0f ms = %.0f images/s\n", n, ms, n / ms * 1000 }'
}
timed_convert "10,000 MNIST rows" "'many', image_col => 'img_path'"
timed_convert "the same rows again, replace => true" "'many', image_col => 'img_path', replace => true"
timed_convert "10,000 rows of a table with 4 hash partitions" "'many_part', image_col => 'img_path'"
[ -n "${CONVERT_ONLY:-}" ] && exit 0

cat > /tmp/search_similarity.sql <<'SQL'
SELECT filename, image_search.cosine_similarity(m_simclr, (SELECT image_search.embed_image('m', 'tutorial_data/mnist_data/test/923.jpg'))) AS m_simclr_similarity1
FROM mnist_test ORDER BY m_simclr_similarity1 DESC LIMIT 4;
SQL
cat > /tmp/search_operator.sql <<'SQL'
SELECT filename FROM mnist_test
ORDER BY m_simclr OPERATOR(image_search.<=>) image_search.embed_image('m', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 4;
SQL
for form in similarity operator; do
  echo "== search over 200 rows, $form form: 1 client, 200 statements (each embeds the query JPEG)"
  "$PGBIN/pgbench" -n -f /tmp/search_$form.sql -c 1 -t 200 postgres 2>/dev/null | grep -E "latency average|tps"
done

echo "== $SECONDS_CONCURRENT s of searches from 16 clients at once (pgbench -c 16 -j 2)"
rm -rf /tmp/image_search_pgbench_log && mkdir /tmp/image_search_pgbench_log
(cd /tmp/image_search_pgbench_log && "$PGBIN/pgbench" -n -f /tmp/search_similarity.sql -c 16 -j 2 -T "$SECONDS_CONCURRENT" -l postgres 2>&1 \
  | grep -E "number of failed|latency average|tps|transactions actually")
cat /tmp/image_search_pgbench_log/pgbench_log.* | awk '{ print $3 }' | sort -n \
  | awk '{ v[NR] = $1 } END { printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d statements\n", v[int(NR*0.5)]/1000, v[int(NR*0.99)]/1000, v[NR]/1000, NR }'
