"""Retrieval quality on the tutorial test set: label precision@4.

Each of the 200 test images queries the other 199 by cosine similarity; the score
is the fraction of the top 4 that share its label, averaged. Compared in one run:
raw pixels (the baseline), the untrained encoder, and models built in Postgres
with build_model for the given epoch counts.

Usage (against a cluster with the extension, PGHOST/PGPORT/PGUSER set):
    python benches/quality.py [--epochs 5 50] [--seeds 42]
"""
import argparse
import csv
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def psql(sql):
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout


def precision_at_4(vectors, labels):
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    top = np.argsort(-sim, axis=1)[:, :4]
    return float((labels[top] == labels[:, None]).mean())


def stored_embeddings(column):
    rows = psql(f"SELECT label, {column}::text FROM bench_test ORDER BY filename")
    labels, vectors = [], []
    for line in rows.strip().splitlines():
        label, text = line.split("|", 1)
        labels.append(int(label))
        vectors.append([float(x) for x in text.strip("[]").split(",")])
    return np.array(vectors), np.array(labels)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 50],
                        help="epoch counts to build; -1 builds with build_model's default (no max_epochs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--augment", default=None, help="JSON object of augmentation overrides")
    parser.add_argument("--no-baselines", action="store_true", help="skip the untrained encoder")
    args = parser.parse_args()

    rows = list(csv.DictReader(open(REPO / "tutorial_data/mnist_data/mnist_test.csv")))
    rows.sort(key=lambda r: r["filename"])
    labels = np.array([int(r["label"]) for r in rows])
    pixels = np.array([np.asarray(Image.open(REPO / r["img_path"]), dtype=np.float32).ravel() for r in rows])
    print(f"raw pixels (784-d cosine)          precision@4 = {precision_at_4(pixels, labels):.3f}")

    psql("CREATE EXTENSION IF NOT EXISTS image_search")
    psql("SELECT image_search.load_csv('bench_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true)")
    psql("SELECT image_search.load_csv('bench_test', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true)")
    batch = f", batch_size => {args.batch_size}" if args.batch_size else ""
    if args.augment:
        batch += f", augment => '{args.augment}'"
    for seed in args.seeds:
        for epochs in ([] if args.no_baselines else [0]) + args.epochs:
            if epochs == 0:
                # learning_rate so small that the weights stay at their initial values
                opts = f"max_epochs => 1, learning_rate => 1e-30, seed => {seed}"
                name = "untrained encoder"
            elif epochs < 0:
                opts = f"seed => {seed}{batch}"
                name = f"build_model default   seed {seed}"
            else:
                opts = f"max_epochs => {epochs}, seed => {seed}{batch}"
                name = f"build_model {epochs:>2} epochs seed {seed}"
            started = time.time()
            psql(f"SET client_min_messages = warning; SELECT image_search.build_model('bench_model', "
                 f"'SELECT img_path FROM bench_train', image_col => 'img_path', {opts}, overwrite => true)")
            seconds = time.time() - started
            psql("SELECT image_search.convert('bench_model', 'bench_test', image_col => 'img_path', replace => true)")
            vectors, stored_labels = stored_embeddings("bench_model_simclr")
            assert (stored_labels == labels).all()
            print(f"{name:<34} precision@4 = {precision_at_4(vectors, labels):.3f}   ({seconds:.1f} s)")
    psql("SELECT image_search.drop_model('bench_model'); DROP TABLE bench_train, bench_test")


if __name__ == "__main__":
    main()
