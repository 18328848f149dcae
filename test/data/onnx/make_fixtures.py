#!/usr/bin/env python3
"""Small ONNX encoders for the import_model tests (test/sql/import_model.sql and
the unit tests of src/engine/onnx/inspect.rs), written next to this script.

    /opt/image_search/venv/bin/python test/data/onnx/make_fixtures.py

Needs only the `onnx` and `numpy` packages (no torch); the output is byte-for-byte
deterministic (fixed seed, no timestamps), so the committed files are what this
script writes. Weights are random: the models are for plumbing, not quality.

Good models (a 3x3 stride-2 convolution, ReLU, global average pooling, a linear layer):
  conv_dynamic   input  pixels [batch, 3, 32, 32]  -> features [batch, 16]
  conv_batch1    input  pixels [1, 3, 32, 32]      -> features [1, 16]
  conv_nhwc      input  pixels [batch, 32, 32, 3]  -> features [batch, 16]
  feature_map    input  pixels [batch, 3, 32, 32]  -> map [batch, 8, 16, 16] (pool it)
  two_outputs    input  pixels [batch, 3, 32, 32]  -> logits [batch, 4], features [batch, 16]
  gray_any_size  input  pixels [batch, 1, h, w]    -> features [batch, 16]
Pixel models (the input itself, flattened: shows what the preprocessing fed):
  gray_pixels       input  pixels [batch, 1, height, width] -> values [batch, height * width]
  gray_pixels_8x12  input  pixels [batch, 1, 8, 12]         -> values [batch, 96]
and a picture for them, ../framed_gradient.png: 40x40 gray, a black frame 4 pixels wide
around a left-to-right gradient from 100 to 250.
Bad models:
  two_inputs, text_input, flat_input (rank 2), batch4 (fixed batch 4), per_batch
  (one vector for the whole batch), nan_output, external_data, external_in_subgraph,
  custom_domain
"""
import os
import struct
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261201)


def weights(prefix, channels):
    return [
        numpy_helper.from_array(rng.normal(0, 0.5, (8, channels, 3, 3)).astype(np.float32), f"{prefix}conv_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), f"{prefix}conv_b"),
        numpy_helper.from_array(rng.normal(0, 0.5, (8, 16)).astype(np.float32), f"{prefix}fc_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (16,)).astype(np.float32), f"{prefix}fc_b"),
    ]


def trunk(x, out="features"):
    """Nodes from an NCHW float input `x` to `out` [batch, 16], and the feature map `fmap`."""
    return [
        helper.make_node("Conv", [x, "conv_w", "conv_b"], ["conv"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["fmap"]),
        helper.make_node("GlobalAveragePool", ["fmap"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "fc_w"], ["fc"]),
        helper.make_node("Add", ["fc", "fc_b"], [out]),
    ]


def tensor(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def save(name, nodes, inputs, outputs, initializers, opsets=None):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=opsets or [helper.make_opsetid("", OPSET)],
                              producer_name="image_search make_fixtures.py")
    model.ir_version = IR_VERSION
    path = os.path.join(HERE, f"{name}.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return model


def main():
    # The colour models share one set of weights, so their embeddings can be compared.
    shared = weights("", 3)
    w3 = lambda: [onnx.TensorProto.FromString(t.SerializeToString()) for t in shared]
    save("conv_dynamic", trunk("pixels"), [tensor("pixels", ["batch", 3, 32, 32])],
         [tensor("features", ["batch", 16])], w3())
    save("conv_batch1", trunk("pixels"), [tensor("pixels", [1, 3, 32, 32])],
         [tensor("features", [1, 16])], w3())
    save("conv_nhwc", [helper.make_node("Transpose", ["pixels"], ["nchw"], perm=[0, 3, 1, 2])] + trunk("nchw"),
         [tensor("pixels", ["batch", 32, 32, 3])], [tensor("features", ["batch", 16])], w3())
    save("feature_map", trunk("pixels")[:2], [tensor("pixels", ["batch", 3, 32, 32])],
         [tensor("fmap", ["batch", 8, 16, 16])], w3()[:2])
    logits_w = numpy_helper.from_array(rng.normal(0, 0.5, (16, 4)).astype(np.float32), "logits_w")
    save("two_outputs", trunk("pixels") + [helper.make_node("MatMul", ["features", "logits_w"], ["logits"])],
         [tensor("pixels", ["batch", 3, 32, 32])],
         [tensor("logits", ["batch", 4]), tensor("features", ["batch", 16])], w3() + [logits_w])
    save("gray_any_size", trunk("pixels"), [tensor("pixels", ["batch", 1, "height", "width"])],
         [tensor("features", ["batch", 16])], weights("", 1))

    # Bad models.
    save("two_inputs", trunk("sum") + [helper.make_node("Add", ["pixels", "mask"], ["sum"])],
         [tensor("pixels", ["batch", 3, 32, 32]), tensor("mask", ["batch", 3, 32, 32])],
         [tensor("features", ["batch", 16])], w3())
    save("text_input", [helper.make_node("Identity", ["caption"], ["same"])],
         [tensor("caption", ["batch", 1], TensorProto.STRING)], [tensor("same", ["batch", 1], TensorProto.STRING)], [])
    flat_shape = numpy_helper.from_array(np.array([-1, 3, 32, 32], dtype=np.int64), "flat_shape")
    save("flat_input", [helper.make_node("Reshape", ["pixels", "flat_shape"], ["image"])] + trunk("image"),
         [tensor("pixels", ["batch", 3072])], [tensor("features", ["batch", 16])], w3() + [flat_shape])
    save("batch4", trunk("pixels"), [tensor("pixels", [4, 3, 32, 32])], [tensor("features", [4, 16])], w3())
    save("per_batch", trunk("pixels", "per_image") + [helper.make_node("ReduceMean", ["per_image"], ["features"], axes=[0], keepdims=1)],
         [tensor("pixels", ["batch", 3, 32, 32])], [tensor("features", [1, 16])], w3())
    save("nan_output", trunk("pixels", "fc_out") + [
            helper.make_node("Abs", ["fc_out"], ["abs"]),
            helper.make_node("Neg", ["abs"], ["neg"]),
            helper.make_node("Sqrt", ["neg"], ["features"])],  # sqrt of a negative number
         [tensor("pixels", ["batch", 3, 32, 32])], [tensor("features", ["batch", 16])], w3())

    ext = w3()
    ext[0].ClearField("raw_data")
    ext[0].data_location = TensorProto.EXTERNAL
    for key, value in [("location", "../../../../etc/passwd"), ("offset", "0"), ("length", "288")]:
        entry = ext[0].external_data.add()
        entry.key, entry.value = key, value
    save("external_data", trunk("pixels"), [tensor("pixels", ["batch", 3, 32, 32])],
         [tensor("features", ["batch", 16])], ext)

    # The external tensor hides in a Constant inside the then-branch of an If.
    secret = helper.make_tensor("secret", TensorProto.FLOAT, [1], [0.0])
    secret.ClearField("float_data")
    secret.data_location = TensorProto.EXTERNAL
    entry = secret.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    then_graph = helper.make_graph([helper.make_node("Constant", [], ["branch_out"], value=secret)], "then",
                                   [], [tensor("branch_out", [1])])
    else_graph = helper.make_graph([helper.make_node("Constant", [], ["branch_out"],
                                                     value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))],
                                   "else", [], [tensor("branch_out", [1])])
    cond = numpy_helper.from_array(np.array(True), "cond")
    save("external_in_subgraph", trunk("pixels", "fc_out") + [
            helper.make_node("If", ["cond"], ["offset"], then_branch=then_graph, else_branch=else_graph),
            helper.make_node("Add", ["fc_out", "offset"], ["features"])],
         [tensor("pixels", ["batch", 3, 32, 32])], [tensor("features", ["batch", 16])], w3() + [cond])

    save("custom_domain", trunk("pixels", "fc_out") + [
            helper.make_node("FastGelu", ["fc_out"], ["features"], domain="my.custom.ops")],
         [tensor("pixels", ["batch", 3, 32, 32])], [tensor("features", ["batch", 16])], w3(),
         opsets=[helper.make_opsetid("", OPSET), helper.make_opsetid("my.custom.ops", 1)])

    flatten = [helper.make_node("Flatten", ["pixels"], ["values"], axis=1)]
    save("gray_pixels", flatten, [tensor("pixels", ["batch", 1, "height", "width"])],
         [tensor("values", ["batch", "pixels"])], [])
    save("gray_pixels_8x12", flatten, [tensor("pixels", ["batch", 1, 8, 12])], [tensor("values", ["batch", 96])], [])
    write_gray_png(os.path.join(HERE, "..", "framed_gradient.png"), framed_gradient())


def framed_gradient(side=40, frame=4):
    """Rows of a gray picture: a left-to-right gradient from 100 to 250 inside a black frame."""
    inner = side - 2 * frame
    row = [0] * frame + [round(100 + 150 * x / (inner - 1)) for x in range(inner)] + [0] * frame
    return [[0] * side if y < frame or y >= side - frame else row for y in range(side)]


def write_gray_png(path, rows):
    """An 8-bit grayscale PNG, written by hand (zlib only) so the script needs no image library."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    header = struct.pack(">IIBBBBB", len(rows[0]), len(rows), 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    main()
