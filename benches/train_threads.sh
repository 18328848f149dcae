#!/usr/bin/env bash
# The train step on one core against every core, A/B in one run: build_model on the
# tutorial's 1,000 MNIST images with image_search.threads = 1 (the single-graph
# step, as every build before session 15 on 2 cores) against threads = the cores
# (each batch cut into one slice per thread: engine/train/step.rs).
#   benches/train_threads.sh [pairs] [epochs]      (defaults 5 and 20)
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-5}
EPOCHS=${2:-20}
CORES=$(nproc)
source scripts/pg_cluster.sh
cluster_start /tmp/image_search_bench_threads 54372
trap cluster_stop EXIT
psql -X -q -c "CREATE EXTENSION image_search" -c "SELECT image_search.load_csv('mnist_train', 'tutorial_data/mnist_data/mnist_train.csv')" >/dev/null
echo "build_model, 1,000 MNIST JPEGs, $EPOCHS epochs; $CORES cores; pairs run alternately"
for i in $(seq "$PAIRS"); do
  for threads in 1 "$CORES"; do
    psql -X -q -c "SET client_min_messages = warning" -c "SET image_search.threads = $threads" \
      -c "SELECT image_search.build_model('bench', 'SELECT img_path FROM mnist_train', image_col => 'img_path', max_epochs => $EPOCHS, overwrite => true)" >/dev/null
    psql -X -At -c "SELECT format('pair %s: threads %s: %s s total, %s images/s in the train step', $i, $threads,
                     round(train_seconds::numeric, 2), round(avg((e->>'step_images_per_second')::float)::numeric))
                    FROM image_search.models, jsonb_array_elements(epoch_log) e WHERE name = 'bench' GROUP BY train_seconds"
  done
done
