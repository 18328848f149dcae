#!/usr/bin/env python3
"""Label pairs with one-hot targets vs. supervised contrastive (SupCon) targets (issue 8).

Three ways to train the simclr_cnn on the harness's clothes / digits training images
(models/quality_harness.py: 1,000 training images, 500-image pool, p@4 of the learnt
embedding h; the test splits are never read):
  simclr  : view1, view2 = two views of the same image; one-hot target on the partner view.
  label   : view2 = a view of a uniformly drawn OTHER training image with the same label
            (as build_model(..., label_col => ...) pairs them, probability 1); one-hot target
            on the partner view, every other view a negative (even same-label ones).
  supcon  : the label pairs, and every other view whose image has the anchor's label is a
            positive (Khosla et al. 2020, L_out): target row = 1/|P(i)| on P(i), diagonal 0.
The train-step graph takes the target matrix as its input `targets` (models/targets.py),
so all three run the same graph.

    python models/supcon_study.py --sets clothes digits --seeds 0 777 --budget 100000
"""
import argparse
import json
import time

import numpy as np

import quality_harness as Q
import generate as G
import study
from targets import simclr_targets, supcon_targets


def label_partners(labels):
    """For each training image, the other images with its label (itself when alone)."""
    groups = {}
    for i, y in enumerate(labels):
        groups.setdefault(int(y), []).append(i)
    return [np.array([j for j in groups[int(y)] if j != i] or [i]) for i, y in enumerate(labels)]


class Trainer(Q.Trainer):
    def __init__(self, in_ch=1, arch=G.DEFAULT_ARCH):
        self.arch = arch
        self.layout = G.param_layout(in_ch, arch)
        self.P, self.P_enc = G.counts(self.layout)
        self.train = study.session(G.build_train_graph(in_ch, arch))
        self.enc = study.session(G.build_encoder_graph(in_ch, arch))

    def fit_mode(self, x, ytr, mode, cfg, aug, S, C, seed=0):
        rng = np.random.RandomState(seed)
        p = G.init_params(self.layout)
        m = np.zeros(self.P, np.float32)
        v = np.zeros(self.P, np.float32)
        bs, n = cfg["batch_size"], len(x)
        partners = label_partners(ytr) if mode != "simclr" else None
        f32 = lambda z: np.array(z, np.float32)  # noqa: E731
        step, losses, tg = 0, [], 0.0
        for _ep in range(cfg["epochs"]):
            perm = rng.permutation(n)
            el = []
            for i in range(0, n, bs):
                bi = perm[i:i + bs]
                if len(bi) < 2:
                    continue
                v1 = Q.augment_batch(x[bi], rng, aug, S, C)
                b2 = bi if partners is None else np.array([partners[j][rng.randint(len(partners[j]))] for j in bi])
                v2 = Q.augment_batch(x[b2], rng, aug, S, C)
                t = supcon_targets(ytr[bi]) if mode == "supcon" else simclr_targets(len(bi))
                step += 1
                t0 = time.perf_counter()
                loss, p, m, v = self.train.run(None, {
                    "params": p, "adam_m": m, "adam_v": v, "step": f32(step),
                    "learning_rate": f32(cfg["learning_rate"]), "temperature": f32(cfg["temperature"]),
                    "weight_decay": f32(cfg["weight_decay"]), "view1": v1, "view2": v2, "targets": t})
                tg += time.perf_counter() - t0
                el.append(float(loss))
            losses.append(float(np.mean(el)))
        return p, losses, tg


def run(name, mode, seed, budget):
    cfg = Q.merged({"image_budget": budget, "aug": Q.REC_GRAY_LONG})
    loader = Q.load_digits if name == "digits" else Q.load_clothes
    xtr, xpool, ypool, ytr = loader(train_labels=True)
    aug = dict(Q.AUG_GRAY, **cfg["aug"])
    cfg["epochs"] = max(1, int(round(budget / len(xtr))))
    tr = Trainer(in_ch=1)
    t0 = time.perf_counter()
    p, losses, tg = tr.fit_mode(xtr, ytr, mode, cfg, aug, 28, 1, seed=seed)
    return {"set": name, "mode": mode, "seed": seed, "epochs": cfg["epochs"],
            "p@4": Q.precision_at_k(tr.embed(p, xpool), ypool), "loss": [losses[0], losses[-1]],
            "seconds": time.perf_counter() - t0, "graph_seconds": tg}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=["clothes", "digits"])
    ap.add_argument("--modes", nargs="+", default=["simclr", "label", "supcon"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--budget", type=int, default=100000, help="trained images (epochs x 1,000)")
    ap.add_argument("--json", default=None, help="append one JSON line per run here")
    a = ap.parse_args()
    for seed in a.seeds:
        for name in a.sets:
            for mode in a.modes:
                r = run(name, mode, seed, a.budget)
                print(f"{name:8s} {mode:7s} seed {seed:4d} p@4 {r['p@4']:.3f} ep {r['epochs']} "
                      f"loss {r['loss'][0]:.2f}->{r['loss'][1]:.2f} {r['seconds']:.0f}s", flush=True)
                if a.json:
                    with open(a.json, "a") as fh:
                        fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
