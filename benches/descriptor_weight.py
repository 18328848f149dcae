#!/usr/bin/env python3
"""How much of the gradient descriptor a grayscale embedding should carry (issue 8).

A default grayscale build embeds concat(unit(h), w * unit(descriptor)). The weight w does not
enter training, so one build per seed answers for every w: this script builds the default
model, converts the pool, splits each stored embedding into its learnt part (the first 128
values for simclr_cnn) and its descriptor part (the last 64), and scores precision@4 of
concat(unit(h), w * unit(d)) for several w, on digits and clothes, on two draws of the data.
Protocol, data and cluster as benches/quality_sets.py:

    python benches/descriptor_weight.py [--seeds 0 1] [--data-seeds 20261128 777]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality_sets as Q  # noqa: E402

H = Q.H
WEIGHTS = [0, 0.3, 0.5, 0.6, 0.7, 0.85, 1.0, 1.5]
LEARNT = 128  # simclr_cnn's h


def unit(e):
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--data-seeds", type=int, nargs="+", default=[H.DATA_SEED, 777])
    ap.add_argument("--sets", nargs="+", default=["clothes", "digits"])
    args = ap.parse_args()
    Q.psql("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS image_search")
    for data_seed in args.data_seeds:
        for name in args.sets:
            train, pool, labels, _, _ = Q.prepare(name, data_seed)
            Q.load_table("q_train", train)
            Q.load_table("q_pool", pool, labels)
            scores = {}
            for seed in args.seeds:
                e, _, _ = Q.build_and_embed(f", seed => {seed}")
                h, d = unit(e[:, :LEARNT]), unit(e[:, LEARNT:])
                for w in WEIGHTS:
                    scores.setdefault(f"w {w}", []).append(H.precision_at_k(np.concatenate([h, w * d], 1), labels))
                scores.setdefault("descriptor alone", []).append(H.precision_at_k(d, labels))
            print(f"{name:8s} data draw {data_seed}: " +
                  ", ".join(f"{k} {np.mean(v):.4f}" for k, v in scores.items()), flush=True)
    Q.psql("SELECT image_search.drop_model('q_model', if_exists => true); DROP TABLE IF EXISTS q_train, q_pool")


if __name__ == "__main__":
    main()
