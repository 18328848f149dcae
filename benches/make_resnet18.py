#!/usr/bin/env python3
"""A ResNet-18-sized image encoder as ONNX, with random weights, for benchmarks.

    python benches/make_resnet18.py OUT.onnx

The graph is torchvision's ResNet-18 for inference with batch norm folded into the
convolutions (a bias per convolution) and no classifier: input pixels [batch, 3, 224,
224] float32, output features [batch, 512]. 11.2 M parameters. Built with the onnx
helper API only (no torch); weights are He-initialised from a fixed seed, so the speed
is that of the real model and the output is deterministic.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(18)
nodes, inits = [], []
count = [0]


def name(prefix):
    count[0] += 1
    return f"{prefix}{count[0]}"


def conv(x, cin, cout, k, stride, relu=True):
    w, b, y = name("w"), name("b"), name("conv")
    inits.append(numpy_helper.from_array(
        (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32), w))
    inits.append(numpy_helper.from_array(np.zeros(cout, np.float32), b))
    nodes.append(helper.make_node("Conv", [x, w, b], [y], kernel_shape=[k, k], strides=[stride, stride],
                                  pads=[k // 2] * 4))
    if not relu:
        return y
    r = name("relu")
    nodes.append(helper.make_node("Relu", [y], [r]))
    return r


def block(x, cin, cout, stride):
    y = conv(x, cin, cout, 3, stride)
    y = conv(y, cout, cout, 3, 1, relu=False)
    shortcut = conv(x, cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else x
    s, r = name("add"), name("relu")
    nodes.append(helper.make_node("Add", [y, shortcut], [s]))
    nodes.append(helper.make_node("Relu", [s], [r]))
    return r


def main(out):
    x = conv("pixels", 3, 64, 7, 2)
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = "pool", 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        x = block(x, cin, cout, stride)
        x = block(x, cout, cout, 1)
        cin = cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["features"], axis=1))
    graph = helper.make_graph(nodes, "resnet18_random", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, 224, 224])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 512])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="image_search benches")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save_model(model, out)
    params = sum(int(np.prod(t.dims)) for t in inits)
    print(f"{out}: {params / 1e6:.2f} M parameters")


if __name__ == "__main__":
    main(sys.argv[1])
