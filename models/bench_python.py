#!/usr/bin/env python3
"""Python reference benchmark of the simclr_cnn train-step graph (onnxruntime,
intra_op_num_threads=2) on fixed random batches.

    python models/bench_python.py                       # defaults from manifest (c1, 28x28)
    python models/bench_python.py --channels 3 --size 32 --batch 64

images/s counts each ORIGINAL image once (N per step; each step processes two
views of N images: forward + backward + AdamW).

FLOPs: analytic, 2 x multiply-accumulates of the conv and dense layers only
(forward for both views; backward = dX and dW for every layer except dX of the
first conv).  Normalisation / elementwise / loss ops are not counted, so the
GFLOP/s figure is a lower bound of the work actually done.

fp32 peak estimate = cores x GHz x (SIMD fp32 lanes x 2 flops per FMA x FMA units)
  lanes = 16 with avx512f, 8 with avx2/avx, 4 with sse;  2 FMA units per core
  (true for Zen 2+/Haswell+ with AVX2; an assumption, printed), x 2 for FMA
  only if the 'fma' flag is present.  GHz = "CPU max MHz" from lscpu when
  available, else the current "cpu MHz" of /proc/cpuinfo.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate as G  # noqa: E402
from targets import simclr_targets  # noqa: E402


def peak_estimate(cores):
    try:
        txt = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        txt = ""
    flags = set((re.search(r"^Flags:\s*(.*)$", txt, re.M) or [None, ""])[1].split())
    if not flags:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"^flags\s*:\s*(.*)$", fh.read(), re.M)
            flags = set(m.group(1).split()) if m else set()
    lanes = 16 if "avx512f" in flags else 8 if ("avx2" in flags or "avx" in flags) else 4
    fma = 2 if "fma" in flags else 1
    units = 2
    m = re.search(r"CPU max MHz:\s*([\d.]+)", txt)
    if m:
        mhz, src = float(m.group(1)), "lscpu CPU max MHz"
    else:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"cpu MHz\s*:\s*([\d.]+)", fh.read())
        mhz, src = (float(m.group(1)), "/proc/cpuinfo cpu MHz") if m else (2000.0, "assumed")
    per_cycle = lanes * fma * units
    peak = cores * mhz / 1000 * per_cycle
    basis = (f"{cores} cores x {mhz / 1000:.3f} GHz ({src}) x {lanes} lanes "
             f"({'avx512f' if lanes == 16 else 'avx2/avx' if lanes == 8 else 'sse'}) x {fma} (fma) x {units} FMA units "
             f"= {peak:.1f} GFLOP/s")
    return peak, basis


def main():
    with open(os.path.join(HERE, G.ARCH_NAME, "manifest.json")) as fh:
        man = json.load(fh)
    d = man["recommended_defaults"]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=1, choices=[1, 3])
    ap.add_argument("--size", type=int, default=d["image_size"])
    ap.add_argument("--batch", type=int, default=d["batch_size"])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    c, n, s = args.channels, args.batch, args.size
    path = os.path.join(HERE, G.ARCH_NAME, f"train_step_c{c}.onnx")
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    p = np.fromfile(os.path.join(HERE, G.ARCH_NAME, f"init_params_c{c}.bin"), dtype="<f4")
    P = p.size
    rng = np.random.RandomState(0)
    batches = [(rng.rand(n, c, s, s).astype(np.float32), rng.rand(n, c, s, s).astype(np.float32)) for _ in range(4)]
    m = np.zeros(P, np.float32)
    v = np.zeros(P, np.float32)
    f32 = lambda x: np.array(x, np.float32)  # noqa: E731

    def step(i, p, m, v):
        v1, v2 = batches[i % len(batches)]
        return sess.run(None, {"params": p, "adam_m": m, "adam_v": v, "step": f32(i + 1),
                               "learning_rate": f32(d["learning_rate"]), "temperature": f32(d["temperature"]),
                               "weight_decay": f32(d["weight_decay"]), "view1": v1, "view2": v2,
                               "targets": simclr_targets(n)})

    for i in range(3):
        _, p, m, v = step(i, p, m, v)
    times = []
    t_end = time.perf_counter() + args.seconds
    i = 3
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        _, p, m, v = step(i, p, m, v)
        times.append(time.perf_counter() - t0)
        i += 1
    times = np.array(times)
    flop_img = G.flops_per_image(c, s)[0]
    med = float(np.median(times))
    mean = float(times.mean())
    peak, basis = peak_estimate(args.threads)
    print(f"graph: {os.path.relpath(path)}  P={P}  batch N={n}  image {c}x{s}x{s}  threads={args.threads}")
    print(f"steps: {len(times)}  median {med * 1e3:.2f} ms/step  mean {mean * 1e3:.2f} ms/step")
    print(f"images/s (each original image once): median {n / med:.0f}  mean {n / mean:.0f}")
    print(f"FLOP per image (2 views x fwd+bwd, conv+dense MACs x2): {flop_img / 1e6:.2f} MFLOP")
    print(f"GFLOP/s: {flop_img * n / med / 1e9:.2f} (median)")
    print(f"fp32 peak estimate: {basis}  -> {flop_img * n / med / 1e9 / peak * 100:.1f}% of peak")
    print(f"time for 1000 images x 5 epochs (graph only): {5000 / (n / med):.2f} s")


if __name__ == "__main__":
    main()
