#!/usr/bin/env bash
# Training throughput: build_model inside Postgres (Rust driving ONNX Runtime,
# with decoding and augmentation) next to the same train-step graph driven from
# Python onnxruntime on fixed batches of the same shape, in the same run.
#   benches/train_throughput.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
VENV=${IMAGE_SEARCH_VENV:-/opt/image_search/venv}
source scripts/pg_cluster.sh
cluster_start /tmp/image_search_bench_train 54371
psql -X -q -c "CREATE EXTENSION image_search" -c "SELECT image_search.load_csv('mnist_train', 'tutorial_data/mnist_data/mnist_train.csv')" >/dev/null

echo "== Python onnxruntime, train-step graph only (batch 32, 1x28x28, 2 threads)"
"$VENV/bin/python" models/bench_python.py --batch 32 --size 28 --seconds 5 | grep -E "images/s|GFLOP/s|peak"

echo "== Rust, the same graph through engine/train/step.rs on fixed batches of the same shape (1 worker: the single graph; 2: slices)"
cargo test --release --lib bench_train_step -- --ignored --nocapture 2>/dev/null | grep "TrainStep"

echo "== build_model in Postgres: 1,000 MNIST JPEGs, 5 epochs, defaults (decode + augment + train + store)"
for i in $(seq "$RUNS"); do
  psql -X -At -c "SET client_min_messages = warning" \
    -c "SELECT image_search.build_model('bench', 'SELECT img_path FROM mnist_train', image_col => 'img_path', max_epochs => 5, overwrite => true)" \
    -c "SELECT format('run %s: %s s total, %s images/s end to end (epochs 1-5), %s images/s in the train step = %s GFLOP/s',
                  $i, round(train_seconds::numeric, 2),
                  round((1000 * 5 / (epoch_log->-1->>'seconds')::float)::numeric),
                  round(avg((e->>'step_images_per_second')::float)::numeric),
                  round((avg((e->>'step_images_per_second')::float) * 10308096 / 1e9)::numeric, 1))
        FROM image_search.models, jsonb_array_elements(epoch_log) e WHERE name = 'bench'
        GROUP BY train_seconds, epoch_log" | grep run
done
echo "(10,308,096 FLOP per image per step: models/simclr_cnn/manifest.json flops_per_image.train_step_c1_28)"
