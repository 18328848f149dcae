#!/usr/bin/env python3
"""Which layer to embed with: h (before the projection head) or the head's output z
(issue 8; models/STUDY.md, session 9; adopted as build_model's `readout`).

Trains once per seed with the harness's default long recipe (models/quality_harness.py:
1,000 training images and a 500-image pool for clothes and digits, the 400-photo
near-duplicate set for colour), then scores several readouts of the same weights by
precision@4: h, z1 (after the head's first layer and ReLU) and z, each beside the gradient
descriptor d (grayscale, as build_model fits it) or mirror-summed (colour). Grayscale sets
train as models/supcon_study.py does: `--mode supcon` with the training labels (label_col),
`--mode simclr` without. The test splits are never read.

    python models/readout_study.py --set clothes --seeds 0 777
    python models/readout_study.py --set clothes --seeds 0 --data-seed 777
    python models/readout_study.py --set clothes --seeds 0 --mode simclr
    python models/readout_study.py --set clothes --seeds 0 777 --cfg '{"batch_size": 64}'
    python models/readout_study.py --set colour --seeds 0 1
With labels the rows also score z beside the descriptor fitted as a labelled build fits it
("z+0.5d within labels": whitened within labels, session 12).
"""
import argparse
import json
import time

import numpy as np

import generate as G
import gradient_descriptor as GD
import quality_harness as Q
import supcon_study as SS


def head_outputs(p, layout, h):
    """(z1, z) of the projection head on h, from the flat parameters `p`."""
    w = {l["name"]: p[l["offset"]:l["offset"] + l["size"]].reshape(l["shape"]) for l in layout}
    z1 = np.maximum(h @ w["head0.weight"] + w["head0.bias"], 0)
    return z1, z1 @ w["head1.weight"] + w["head1.bias"]


def grayscale(a):
    cfg = Q.merged({"image_budget": a.budget, "aug": Q.REC_GRAY_LONG})
    cfg.update(json.loads(a.cfg))
    loader = Q.load_digits if a.set == "digits" else Q.load_clothes
    xtr, xpool, ypool, ytr = loader(train_labels=True, **({} if a.data_seed is None else {"seed": a.data_seed}))
    aug = dict(Q.AUG_GRAY, **cfg["aug"])
    cfg["epochs"] = max(1, int(round(a.budget / len(xtr))))
    features = GD.reference(xtr)
    pca = GD.fit_pca(features)
    mean, projection = pca[:GD.FEATURES], pca[GD.FEATURES:].reshape(GD.FEATURES, GD.DIMS)
    pool_features = GD.reference(xpool)
    d = Q.unit_rows((pool_features - mean) @ projection)
    # The descriptor as a labelled build fits it (session 12): whitened within labels.
    within = GD.fit_pca_within_labels(features, ytr)
    d_within = Q.unit_rows((pool_features - within[:GD.FEATURES])
                           @ within[GD.FEATURES:].reshape(GD.FEATURES, GD.DIMS))
    for seed in a.seeds:
        tr = SS.Trainer(in_ch=1)
        t0 = time.perf_counter()
        p, _, _ = tr.fit_mode(xtr, ytr, a.mode, cfg, aug, 28, 1, seed=seed)
        seconds = time.perf_counter() - t0
        h = tr.embed(p, xpool)
        z1, z = head_outputs(p, tr.layout, h)
        readouts = {"h": h, "z1": z1, "z": z}
        scores = {name: Q.unit_rows(e) for name, e in readouts.items()}
        for name, e in readouts.items():
            for weight in (0.3, 0.5, 0.7, 1.0):
                scores[f"{name}+{weight}d"] = np.hstack([Q.unit_rows(e), weight * d])
        if a.mode == "supcon":
            scores["z+0.5d within labels"] = np.hstack([Q.unit_rows(z), 0.5 * d_within])
        scores["h+z+0.5d"] = np.hstack([Q.unit_rows(h), Q.unit_rows(z), 0.5 * d])
        yield seed, seconds, {k: Q.precision_at_k(e, ypool) for k, e in scores.items()}


def colour(a):
    cfg = Q.merged({"image_budget": a.budget, "aug_c3": Q.REC_COLOUR_LONG})
    cfg.update(json.loads(a.cfg))
    xtr, xpool, ypool, S, C = Q.dataset("colour", cfg)
    aug = dict(Q.AUG_COLOUR, **cfg["aug_c3"])
    tr = Q.trainer_for(C, dict(G.DEFAULT_ARCH, **cfg["arch"]))
    cfg["epochs"] = max(1, int(round(cfg["image_budget"] / len(xtr))))
    flipped = np.ascontiguousarray(xpool[:, :, :, ::-1])
    for seed in a.seeds:
        t0 = time.perf_counter()
        p, _, _ = tr.fit(xtr, cfg, aug, S, C, seed=seed)
        seconds = time.perf_counter() - t0
        h, hf = tr.embed(p, xpool), tr.embed(p, flipped)
        (z1, z), (z1f, zf) = head_outputs(p, tr.layout, h), head_outputs(p, tr.layout, hf)
        mirror = {name: Q.unit_rows(e) + Q.unit_rows(ef) for name, e, ef in (("h", h, hf), ("z1", z1, z1f), ("z", z, zf))}
        scores = {"h": Q.unit_rows(h), **{f"{k} mirror": v for k, v in mirror.items()},
                  "h+z mirror": np.hstack([mirror["h"], mirror["z"]])}
        yield seed, seconds, {k: Q.precision_at_k(e, ypool) for k, e in scores.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="clothes", choices=["clothes", "digits", "colour"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--mode", default="supcon", choices=["simclr", "supcon"], help="grayscale sets only")
    ap.add_argument("--budget", type=int, default=100000, help="trained images (epochs x set size)")
    ap.add_argument("--cfg", default="{}", help="JSON overrides of the harness recipe, e.g. batch_size")
    ap.add_argument("--data-seed", type=int, default=None, help="another draw of the grayscale sets")
    a = ap.parse_args()
    for seed, seconds, scores in (colour(a) if a.set == "colour" else grayscale(a)):
        print(json.dumps({"set": a.set, "mode": a.mode if a.set != "colour" else "simclr", "seed": seed,
                          "cfg": a.cfg, "seconds": round(seconds), **{k: round(v, 4) for k, v in scores.items()}}),
              flush=True)


if __name__ == "__main__":
    main()
