#!/usr/bin/env python3
"""The reference for benches/import_throughput.sh: the same ONNX graph on the same
images from Python onnxruntime, with image_search's default preprocessing for imported
models (shorter side to 224, centre crop, RGB, ImageNet mean/std, NCHW).

    python benches/import_reference.py MODEL.onnx BATCH IMAGE...

Prints images/s for (1) decoding and preprocessing with PIL + numpy, one thread;
(2) running the model on the pre-decoded batches (what the issue's target compares
against); (3) both, end to end.
"""
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)


def preprocess(path, size=224):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    x = np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0
    return (x - MEAN) / STD


def main():
    model, batch, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: np.zeros((1, 3, 224, 224), np.float32)})  # warm-up
    t0 = time.perf_counter()
    tensors = [preprocess(p) for p in paths]
    t1 = time.perf_counter()
    outputs = []
    for i in range(0, len(tensors), batch):
        outputs.append(session.run(None, {name: np.stack(tensors[i:i + batch])})[0])
    t2 = time.perf_counter()
    n = len(paths)
    print(f"python decode+preprocess (PIL, 1 thread): {n / (t1 - t0):7.1f} images/s")
    print(f"python onnxruntime on pre-decoded batches of {batch}: {n / (t2 - t1):7.1f} images/s")
    print(f"python end to end (decode, preprocess, run):   {n / (t2 - t0):7.1f} images/s")
    assert np.concatenate(outputs).shape[0] == n  # one vector per image


if __name__ == "__main__":
    main()
