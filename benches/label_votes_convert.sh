#!/usr/bin/env bash
# What label votes cost at convert and at build (issue 8; engine/label_votes.rs): two labelled
# models of the tutorial's 1,000 MNIST training images (max_epochs 5), one with votes (the
# default) and one with label_votes => false; then convert of the same rows (the 1,000
# training JPEGs x ROWS/1,000), each model three times, alternating, each in a fresh session.
#   benches/label_votes_convert.sh [rows]      (default 10,000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000}
source scripts/pg_cluster.sh
cluster_start /tmp/image_search_bench_votes 54374
ms() {  # ms SQL: milliseconds of the last statement of one fresh session
  psql -X -At -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "\\timing on" -c "$1" |
    awk '/^Time/ { ms = $2 } END { print ms }'
}
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION image_search;
SELECT image_search.load_csv('mnist_train', 'tutorial_data/mnist_data/mnist_train.csv');
CREATE TABLE rows_to_embed AS
SELECT g AS id, t.img_path FROM generate_series(1, $ROWS) g
  JOIN (SELECT row_number() OVER (ORDER BY filename) - 1 AS i, img_path FROM mnist_train) t
    ON t.i = g % (SELECT count(*) FROM mnist_train);
SQL
for model in votes novotes; do
  opt=""; [ $model = novotes ] && opt=", label_votes => false"
  build=$(ms "SELECT image_search.build_model('$model', 'SELECT img_path, label FROM mnist_train',
             image_col => 'img_path', label_col => 'label', max_epochs => 5$opt)")
  psql -X -At -c "SELECT format('%-8s build %s ms, embedding_dim %s, encoder %s', name, round($build), embedding_dim, encoder_size)
                  FROM image_search.model_list WHERE name = '$model'"
done
for run in 1 2 3; do
  for model in votes novotes; do
    t=$(ms "SELECT image_search.convert('$model', 'rows_to_embed', image_col => 'img_path', replace => true)")
    awk -v m=$model -v n=$ROWS -v t=$t -v r=$run 'BEGIN { printf "run %d convert %-8s %6d rows in %6.0f ms = %5.0f rows/s\n", r, m, n, t, n / t * 1000 }'
  done
done
