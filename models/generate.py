#!/usr/bin/env python3
"""Generate the ONNX graphs, initial parameters and manifest for `simclr_cnn`.

The ONNX Runtime we ship with is an *inference* build: no training API, no
com.microsoft *Grad ops and no ai.onnx.preview.training ops.  So the training
step is one plain ai.onnx graph (opset 18) that contains the forward pass, the
NT-Xent loss, a hand-written reverse pass (explicit gradient ops, one backward
rule per layer type) and an AdamW update.  The same step is also cut into four
graphs (forward, loss, backward, update), so that slices of a batch can run on
several cores ("The train step split in four" below).

Usage:  python models/generate.py --out models/simclr_cnn
        python models/generate.py --arch simclr_cnn_ms      # -> models/simclr_cnn_ms/

Output is byte-for-byte deterministic (fixed seeds, no timestamps, sequential
node names).  The gradient of the train graph is checked against finite
differences of its own loss in models/test_models.py.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
IR_VERSION = 8
ARCH_NAME = "simclr_cnn"
INIT_SEED = 20240601
EMBED_DIM = 128
MIN_IMAGE_SIZE = 16

# Default architecture: a 16-32-64-128 CNN.  Each conv is followed by per-sample
# GroupNorm (so an embedding never depends on the other images of the batch)
# and ReLU.  Global average pooling gives h (128), the representation used
# for retrieval; the projection head 128 -> 128 -> 64 is used only for the loss.
# (cout, kernel, stride)
DEFAULT_ARCH = {
    "convs": [(16, 3, 2), (32, 3, 2), (64, 3, 2), (128, 3, 2)],
    "groups": 8,
    "head": [128, 64],
    "pixel_mean": 0.5,
    "pixel_std": 0.25,
    "gn_eps": 1e-5,
}

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8

# Chosen by models/study.py (see models/STUDY.md).
RECOMMENDED_DEFAULTS = {
    "learning_rate": 0.003,
    "temperature": 0.1,
    "weight_decay": 0.0001,
    "batch_size": 32,
    "image_size": 28,
    "image_size_c3": 32,
    "epochs": 5,
    "lr_schedule": "constant",
    "augmentation": {
        "random_resized_crop_scale": [0.6, 1.0],
        "random_resized_crop_ratio": [0.75, 1.3333],
        "rotation_degrees": 10.0,
        "translate_fraction": 0.05,
        "brightness": 0.3,
        "contrast": 0.3,
        "gaussian_noise_std": 0.03,
        "gaussian_blur_probability": 0.2,
        "gaussian_blur_sigma": [0.1, 1.0],
        "horizontal_flip_probability": 0.5,
        "saturation": 0.3,
        "hue": 0.05,
        "grayscale_probability": 0.2,
        "fill": 0.0,
        "order": "geometry (crop+rotate+translate+flip, one bilinear resample, fill 0) -> brightness -> contrast -> saturation -> hue -> grayscale -> blur -> noise -> clip [0,1]",
        "reference_implementation": "models/study.py augment()",
    },
}


# --------------------------------------------------------------------------
# Parameter layout
# --------------------------------------------------------------------------
def param_layout(in_ch, arch=DEFAULT_ARCH):
    """List of (name, shape, kind, part).  Encoder tensors come first."""
    layers = []
    c = in_ch
    for i, (cout, k, _s) in enumerate(arch["convs"]):
        layers.append((f"conv{i}.weight", (cout, c, k, k), "conv_weight", "encoder"))
        layers.append((f"conv{i}.gn_gain", (cout,), "norm_gain", "encoder"))
        layers.append((f"conv{i}.gn_bias", (cout,), "norm_bias", "encoder"))
        c = cout
    c = embed_dim(in_ch, arch)
    nh = len(arch["head"])
    for j, d in enumerate(arch["head"]):
        layers.append((f"head{j}.weight", (c, d), "dense_weight", "head"))
        layers.append((f"head{j}.bias", (d,), "dense_bias", "head"))
        if arch.get("head_norm") == "batch" and j < nh - 1:
            layers.append((f"head{j}.bn_gain", (d,), "norm_gain", "head"))
            layers.append((f"head{j}.bn_bias", (d,), "norm_bias", "head"))
        c = d
    out = []
    off = 0
    for name, shape, kind, part in layers:
        n = int(np.prod(shape))
        out.append({"name": name, "shape": list(shape), "kind": kind, "part": part,
                    "offset": off, "size": n,
                    "weight_decay": kind in ("conv_weight", "dense_weight")})
        off += n
    return out


def readout_taps(arch):
    """[(conv index, grid)]: h = concat over taps of the post-ReLU map of that conv,
    average-pooled to grid x grid and flattened.  Default: [(last, 1)] = global average pool."""
    taps = [tuple(t) for t in arch.get("readout", [(len(arch["convs"]) - 1, 1)])]
    assert any(i == len(arch["convs"]) - 1 for i, _ in taps), "the readout must include the last conv"
    return taps


def embed_dim(in_ch, arch=DEFAULT_ARCH):
    return sum(arch["convs"][i][0] * g * g for i, g in readout_taps(arch))


def counts(layout):
    p = sum(l["size"] for l in layout)
    p_enc = sum(l["size"] for l in layout if l["part"] == "encoder")
    return p, p_enc


def init_params(layout, seed=INIT_SEED):
    rng = np.random.RandomState(seed)
    chunks = []
    n_dense = sum(1 for l in layout if l["kind"] == "dense_weight")
    dense_i = 0
    for l in layout:
        shape = l["shape"]
        if l["kind"] == "conv_weight":
            fan_in = shape[1] * shape[2] * shape[3]
            w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        elif l["kind"] == "dense_weight":
            dense_i += 1
            gain = 2.0 if dense_i < n_dense else 1.0  # He for ReLU layers
            w = rng.standard_normal(shape) * np.sqrt(gain / shape[0])
        elif l["kind"] == "norm_gain":
            w = np.ones(shape)
        else:
            w = np.zeros(shape)
        chunks.append(np.asarray(w, dtype=np.float32).ravel())
    return np.concatenate(chunks).astype("<f4")


# --------------------------------------------------------------------------
# Tiny graph builder
# --------------------------------------------------------------------------
class Builder:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self.consts = {}
        self.n = 0

    def op(self, op_type, inputs, n_out=1, **attrs):
        self.n += 1
        base = f"{op_type.lower()}_{self.n}"
        outs = [base] if n_out == 1 else [f"{base}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=f"n{self.n}_{op_type}", **attrs))
        return outs[0] if n_out == 1 else outs

    def named(self, op_type, inputs, out_name, **attrs):
        self.n += 1
        self.nodes.append(helper.make_node(op_type, list(inputs), [out_name], name=f"n{self.n}_{op_type}", **attrs))
        return out_name

    def const(self, value, dtype):
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self.consts:
            name = f"const_{len(self.consts)}"
            self.inits.append(numpy_helper.from_array(arr, name))
            self.consts[key] = name
        return self.consts[key]

    def i64(self, v):
        return self.const(v, np.int64)

    def f32(self, v):
        return self.const(v, np.float32)

    # helpers --------------------------------------------------------------
    def shape_slice(self, x, start, end):
        return self.op("Shape", [x], start=start, end=end)

    def reduce(self, kind, x, axes, keepdims=1):
        return self.op(kind, [x, self.i64(axes)], keepdims=keepdims)


# --------------------------------------------------------------------------
# Layers: forward emits nodes and returns a backward closure
# --------------------------------------------------------------------------
def conv_forward(g, x, w, k, s):
    p = (k - 1) // 2
    y = g.op("Conv", [x, w], kernel_shape=[k, k], pads=[p] * 4, strides=[s, s])

    def backward(dy, need_dx):
        # dW[o,i,ky,kx] = sum_{n,y,x} dY[n,o,y,x] * Xpad[n,i,s*y+ky,s*x+kx]
        # = Conv(input=X^T [I,N,H,W], weight=dY^T [O,N,Ho,Wo], dilation=s)^T
        xt = g.op("Transpose", [x], perm=[1, 0, 2, 3])
        dyt = g.op("Transpose", [dy], perm=[1, 0, 2, 3])
        dwt = g.op("Conv", [xt, dyt], pads=[p] * 4, dilations=[s, s])
        if s != 1:
            dwt = g.op("Slice", [dwt, g.i64([0, 0]), g.i64([k, k]), g.i64([2, 3])])
        dw = g.op("Transpose", [dwt], perm=[1, 0, 2, 3])
        dx = None
        if need_dx:
            dx = g.op("ConvTranspose", [dy, w], kernel_shape=[k, k], pads=[p] * 4,
                      strides=[s, s], output_padding=[s - 1, s - 1])
            if s != 1:
                hw = g.shape_slice(x, 2, 4)
                dx = g.op("Slice", [dx, g.i64([0, 0]), hw, g.i64([2, 3])])
        return dx, dw

    return y, backward


def groupnorm_forward(g, x, gain, bias, groups, eps):
    xs = g.op("Shape", [x])
    xg = g.op("Reshape", [x, g.i64([0, groups, -1])])
    mu = g.reduce("ReduceMean", xg, [2])
    xc = g.op("Sub", [xg, mu])
    var = g.reduce("ReduceMean", g.op("Mul", [xc, xc]), [2])
    rstd = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [var, g.f32(eps)])])])
    xhat_g = g.op("Mul", [xc, rstd])
    xhat = g.op("Reshape", [xhat_g, xs])
    gain4 = g.op("Reshape", [gain, g.i64([1, -1, 1, 1])])
    bias4 = g.op("Reshape", [bias, g.i64([1, -1, 1, 1])])
    y = g.op("Add", [g.op("Mul", [xhat, gain4]), bias4])

    def backward(dy):
        dgain = g.reduce("ReduceSum", g.op("Mul", [dy, xhat]), [0, 2, 3], keepdims=0)
        dbias = g.reduce("ReduceSum", dy, [0, 2, 3], keepdims=0)
        dxhat = g.op("Reshape", [g.op("Mul", [dy, gain4]), g.i64([0, groups, -1])])
        m1 = g.reduce("ReduceMean", dxhat, [2])
        m2 = g.reduce("ReduceMean", g.op("Mul", [dxhat, xhat_g]), [2])
        t = g.op("Sub", [g.op("Sub", [dxhat, m1]), g.op("Mul", [xhat_g, m2])])
        dx = g.op("Reshape", [g.op("Mul", [t, rstd]), xs])
        return dx, dgain, dbias

    return y, backward


def relu_forward(g, x):
    y = g.op("Relu", [x])

    def backward(dy):
        return g.op("Mul", [dy, g.op("Sign", [y])])  # y >= 0 so Sign(y) is the mask

    return y, backward


def gap_forward(g, x):
    y = g.reduce("ReduceMean", x, [2, 3], keepdims=0)

    def backward(dy):
        hw = g.op("Cast", [g.reduce("ReduceProd", g.shape_slice(x, 2, 4), [0], keepdims=0)], to=TensorProto.FLOAT)
        d = g.op("Div", [g.op("Unsqueeze", [dy, g.i64([2, 3])]), hw])
        return g.op("Expand", [d, g.op("Shape", [x])])

    return y, backward


def grid_pool_forward(g, x, grid):
    """Average pool [N,C,H,W] to grid x grid cells (H, W divisible by grid) -> [N, C*grid*grid]."""
    xs = g.op("Shape", [x])
    w_cell = g.op("Div", [g.shape_slice(x, 3, 4), g.i64([grid])])
    shp6 = g.op("Concat", [g.i64([0, 0, grid, -1, grid]), w_cell], axis=0)
    x6 = g.op("Reshape", [x, shp6])
    pooled = g.reduce("ReduceMean", x6, [3, 5], keepdims=0)
    y = g.op("Reshape", [pooled, g.i64([0, -1])])

    def backward(dy):
        d6 = g.op("Reshape", [dy, g.i64([0, -1, grid, 1, grid, 1])])
        cell = g.op("Cast", [g.reduce("ReduceProd", g.op("Div", [g.shape_slice(x, 2, 4), g.i64([grid])]), [0], keepdims=0)],
                    to=TensorProto.FLOAT)
        d = g.op("Div", [g.op("Expand", [d6, g.op("Shape", [x6])]), cell])
        return g.op("Reshape", [d, xs])

    return y, backward


def batchnorm_forward(g, x, gain, bias, eps):
    """BatchNorm over the batch axis of [B,D] (training statistics only: used in the projection
    head, which the encoder graph does not contain, so embeddings stay per-image)."""
    mu = g.reduce("ReduceMean", x, [0])
    xc = g.op("Sub", [x, mu])
    var = g.reduce("ReduceMean", g.op("Mul", [xc, xc]), [0])
    rstd = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [var, g.f32(eps)])])])
    xhat = g.op("Mul", [xc, rstd])
    y = g.op("Add", [g.op("Mul", [xhat, gain]), bias])

    def backward(dy):
        dgain = g.reduce("ReduceSum", g.op("Mul", [dy, xhat]), [0], keepdims=0)
        dbias = g.reduce("ReduceSum", dy, [0], keepdims=0)
        dxhat = g.op("Mul", [dy, gain])
        m1 = g.reduce("ReduceMean", dxhat, [0])
        m2 = g.reduce("ReduceMean", g.op("Mul", [dxhat, xhat]), [0])
        dx = g.op("Mul", [g.op("Sub", [g.op("Sub", [dxhat, m1]), g.op("Mul", [xhat, m2])]), rstd])
        return dx, dgain, dbias

    return y, backward


def dense_forward(g, x, w, b):
    y = g.op("Gemm", [x, w, b])

    def backward(dy, need_dx=True):
        dw = g.op("Gemm", [x, dy], transA=1)
        db = g.reduce("ReduceSum", dy, [0], keepdims=0)
        dx = g.op("Gemm", [dy, w], transB=1) if need_dx else None
        return dx, dw, db

    return y, backward


# --------------------------------------------------------------------------
# Model pieces
# --------------------------------------------------------------------------
def unpack_params(g, flat, layout, only_part=None):
    t = {}
    for l in layout:
        if only_part and l["part"] != only_part:
            continue
        s = g.op("Slice", [flat, g.i64([l["offset"]]), g.i64([l["offset"] + l["size"]]), g.i64([0])])
        t[l["name"]] = g.op("Reshape", [s, g.i64(l["shape"])])
    return t


def encoder_forward(g, images, t, arch):
    """images: [B,C,H,W] pixels in [0,1] -> (h [B,D], backward closures)."""
    x = g.op("Div", [g.op("Sub", [images, g.f32(arch["pixel_mean"])]), g.f32(arch["pixel_std"])])
    tape = []
    maps = []
    for i, (cout, k, s) in enumerate(arch["convs"]):
        x, bconv = conv_forward(g, x, t[f"conv{i}.weight"], k, s)
        groups = arch["groups"][i] if isinstance(arch["groups"], (list, tuple)) else arch["groups"]
        x, bgn = groupnorm_forward(g, x, t[f"conv{i}.gn_gain"], t[f"conv{i}.gn_bias"], groups, arch["gn_eps"])
        x, brelu = relu_forward(g, x)
        tape.append((i, bconv, bgn, brelu))
        maps.append(x)
    taps = readout_taps(arch)
    if "readout" not in arch:
        h, bgap = gap_forward(g, x)
        return h, (tape, bgap)
    feats, pools = [], []
    for li, grid in taps:
        f, bp = gap_forward(g, maps[li]) if grid == 1 else grid_pool_forward(g, maps[li], grid)
        feats.append(f)
        pools.append((li, bp, arch["convs"][li][0] * grid * grid))
    h = feats[0] if len(feats) == 1 else g.op("Concat", feats, axis=1)
    return h, (tape, pools)


def encoder_backward(g, dh, enc_tape, grads):
    tape, bgap = enc_tape
    if callable(bgap):
        dx = bgap(dh)
        extra = {}
    else:  # readout taps: split dh, route each part to its layer
        extra = {}
        off = 0
        for li, bp, dim in bgap:
            part = g.op("Slice", [dh, g.i64([off]), g.i64([off + dim]), g.i64([1])]) if len(bgap) > 1 else dh
            d = bp(part)
            extra[li] = g.op("Add", [extra[li], d]) if li in extra else d
            off += dim
        dx = extra.pop(len(tape) - 1, None)
    for i, bconv, bgn, brelu in reversed(tape):
        if i in extra:
            dx = extra[i] if dx is None else g.op("Add", [dx, extra[i]])
        dx = brelu(dx)
        dx, dgain, dbias = bgn(dx)
        dx, dw = bconv(dx, need_dx=(i > 0))
        grads[f"conv{i}.weight"] = dw
        grads[f"conv{i}.gn_gain"] = dgain
        grads[f"conv{i}.gn_bias"] = dbias


def ntxent_forward_backward(g, z, n, temperature, targets):
    """z: [2N,d] projections (rows 0..N-1 view1, N..2N-1 view2); targets: [2N,2N].

    loss = mean_i [ logsumexp_{j != i} S_ij - sum_j T_ij S_ij ],  S = u u^T / tau,
    u = z / ||z||: the cross-entropy of each view's softmax over the other views
    against the target row T_i (rows summing to 1, diagonal 0; models/targets.py).
    SimCLR's T is one-hot on the partner view (i <-> i+-N); supervised contrastive
    (SupCon, Khosla et al. 2020, L_out) spreads it evenly over every other view with
    the anchor's label.  dL/dS = (softmax_i - T_i) / 2N holds for any such T.
    Returns (loss, dz).
    """
    b2 = g.op("Mul", [n, g.i64([2])])
    bb_shape = g.op("Concat", [b2, b2], axis=0)
    pos = targets
    zeros_bb = g.op("ConstantOfShape", [bb_shape], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]))
    self_mask = g.op("Mul", [g.op("EyeLike", [zeros_bb]), g.f32(-1e9)])

    sq = g.reduce("ReduceSum", g.op("Mul", [z, z]), [1])
    r = g.op("Sqrt", [g.op("Add", [sq, g.f32(1e-12)])])  # [2N,1]
    u = g.op("Div", [z, r])
    s = g.op("Div", [g.op("Gemm", [u, u], transB=1), temperature])
    sm = g.op("Add", [s, self_mask])
    mx = g.reduce("ReduceMax", sm, [1])
    e = g.op("Exp", [g.op("Sub", [sm, mx])])
    se = g.reduce("ReduceSum", e, [1])
    lse = g.op("Add", [g.op("Log", [se]), mx])  # [2N,1]
    spos = g.reduce("ReduceSum", g.op("Mul", [s, pos]), [1])
    loss = g.reduce("ReduceMean", g.op("Sub", [lse, spos]), [0, 1], keepdims=0)

    b2f = g.op("Cast", [b2], to=TensorProto.FLOAT)
    soft = g.op("Div", [e, se])
    ds = g.op("Div", [g.op("Sub", [soft, pos]), b2f])  # dL/dS
    dsym = g.op("Add", [ds, g.op("Transpose", [ds], perm=[1, 0])])
    du = g.op("Div", [g.op("MatMul", [dsym, u]), temperature])
    udu = g.reduce("ReduceSum", g.op("Mul", [u, du]), [1])
    dz = g.op("Div", [g.op("Sub", [du, g.op("Mul", [u, udu])]), r])
    return loss, dz


def projection_head_forward(g, h, t, arch):
    """The projection head z = head(h) of the train step, with its backward tape."""
    x = h
    head_tape = []
    nh = len(arch["head"])
    for j in range(nh):
        x, bd = dense_forward(g, x, t[f"head{j}.weight"], t[f"head{j}.bias"])
        br = bbn = None
        if j < nh - 1:
            if arch.get("head_norm") == "batch":
                x, bbn = batchnorm_forward(g, x, t[f"head{j}.bn_gain"], t[f"head{j}.bn_bias"], arch["gn_eps"])
            x, br = relu_forward(g, x)
        head_tape.append((j, bd, br, bbn))
    return x, head_tape


def backward_pass(g, dz, enc_tape, head_tape, layout):
    """The flat gradient [P] of every parameter, from dL/dz through the head and the encoder."""
    grads = {}
    d = dz
    for j, bd, br, bbn in reversed(head_tape):
        if br is not None:
            d = br(d)
        if bbn is not None:
            d, grads[f"head{j}.bn_gain"], grads[f"head{j}.bn_bias"] = bbn(d)
        d, dw, db = bd(d)
        grads[f"head{j}.weight"] = dw
        grads[f"head{j}.bias"] = db
    encoder_backward(g, d, enc_tape, grads)
    flat = [g.op("Reshape", [grads[l["name"]], g.i64([-1])]) for l in layout]
    return g.op("Concat", flat, axis=0)


def adamw_update(g, grad, layout):
    """Outputs params_out, adam_m_out, adam_v_out from the inputs params, adam_m, adam_v,
    step, learning_rate and weight_decay and the flat gradient `grad`."""
    b1, b2c = g.f32(ADAM_BETA1), g.f32(ADAM_BETA2)
    m = g.named("Add", [g.op("Mul", ["adam_m", b1]), g.op("Mul", [grad, g.f32(1 - ADAM_BETA1)])], "adam_m_out")
    v = g.named("Add", [g.op("Mul", ["adam_v", b2c]),
                        g.op("Mul", [g.op("Mul", [grad, grad]), g.f32(1 - ADAM_BETA2)])], "adam_v_out")
    bc1 = g.op("Sub", [g.f32(1.0), g.op("Pow", [b1, "step"])])
    bc2 = g.op("Sub", [g.f32(1.0), g.op("Pow", [b2c, "step"])])
    mhat = g.op("Div", [m, bc1])
    vhat = g.op("Div", [v, bc2])
    upd = g.op("Div", [mhat, g.op("Add", [g.op("Sqrt", [vhat]), g.f32(ADAM_EPS)])])
    # weight-decay mask: 1 for conv/dense weights, 0 for norm gains/biases and biases
    segs = []
    for l in layout:
        segs.append(g.op("ConstantOfShape", [g.i64([l["size"]])],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0 if l["weight_decay"] else 0.0])))
    wd_mask = g.op("Concat", segs, axis=0)
    decay = g.op("Mul", [g.op("Mul", ["params", wd_mask]), "weight_decay"])
    g.named("Sub", ["params", g.op("Mul", ["learning_rate", g.op("Add", [upd, decay])])], "params_out")


def build_train_graph(in_ch, arch=DEFAULT_ARCH, debug=False, name=ARCH_NAME):
    layout = param_layout(in_ch, arch)
    P, _ = counts(layout)
    g = Builder()
    t = unpack_params(g, "params", layout)

    n = g.shape_slice("view1", 0, 1)
    images = g.op("Concat", ["view1", "view2"], axis=0)
    h, enc_tape = encoder_forward(g, images, t, arch)
    z, head_tape = projection_head_forward(g, h, t, arch)
    loss, dz = ntxent_forward_backward(g, z, n, "temperature", "targets")
    g.named("Identity", [loss], "loss")
    grad = backward_pass(g, dz, enc_tape, head_tape, layout)
    adamw_update(g, grad, layout)

    f = TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("params", f, [P]),
        helper.make_tensor_value_info("adam_m", f, [P]),
        helper.make_tensor_value_info("adam_v", f, [P]),
        helper.make_tensor_value_info("step", f, []),
        helper.make_tensor_value_info("learning_rate", f, []),
        helper.make_tensor_value_info("temperature", f, []),
        helper.make_tensor_value_info("weight_decay", f, []),
        helper.make_tensor_value_info("view1", f, ["N", in_ch, "H", "W"]),
        helper.make_tensor_value_info("view2", f, ["N", in_ch, "H", "W"]),
        helper.make_tensor_value_info("targets", f, ["N2", "N2"]),
    ]
    outputs = [
        helper.make_tensor_value_info("loss", f, []),
        helper.make_tensor_value_info("params_out", f, [P]),
        helper.make_tensor_value_info("adam_m_out", f, [P]),
        helper.make_tensor_value_info("adam_v_out", f, [P]),
    ]
    if debug:
        g.named("Identity", [grad], "grad")
        g.named("Identity", [h], "h")
        outputs += [helper.make_tensor_value_info("grad", f, [P]),
                    helper.make_tensor_value_info("h", f, ["N2", embed_dim(in_ch, arch)])]
    return finish(g, inputs, outputs, f"{name}_train_step_c{in_ch}")


# --------------------------------------------------------------------------
# The train step split in four, so that its two passes can run on several cores
# --------------------------------------------------------------------------
# A step of the fused graph above runs on one core: ONNX Runtime's own threads meet at
# every operator, which on small batches costs as much as they save (BENCHMARKS,
# "Train-step threads").  These four graphs compute the same step with the batch cut
# into slices, one per core (engine/train/step.rs):
#   forward_step  each slice's views -> z, and every tensor its backward pass reads;
#   loss_step     all slices' z -> loss and dL/dz (NT-Xent couples the whole batch);
#   backward_step each slice's dL/dz and saved tensors -> its part of the gradient;
#   update_step   the sum of the parts -> AdamW, as in the fused graph.
# The encoder normalises per image and the head has no batch statistics, so a slice's
# forward and backward pass do not depend on the other slices: the parts add up to the
# fused graph's gradient (models/test_models.py checks it).

def build_pass_graphs(in_ch, arch=DEFAULT_ARCH, name=ARCH_NAME):
    """(forward_step, backward_step): one graph of both passes on a slice of views, cut
    where dL/dz enters.  Every tensor the backward nodes read from the forward nodes is an
    output of the first (after z) and an input of the second, under the same name."""
    assert arch.get("head_norm") != "batch", "a head with batch statistics cannot be split by slices"
    layout = param_layout(in_ch, arch)
    P, _ = counts(layout)
    proj = arch["head"][-1]
    g = Builder()
    t = unpack_params(g, "params", layout)
    h, enc_tape = encoder_forward(g, "images", t, arch)
    z, head_tape = projection_head_forward(g, h, t, arch)
    g.named("Identity", [z], "z")
    cut = len(g.nodes)
    g.named("Identity", [backward_pass(g, "dz", enc_tape, head_tape, layout)], "grad")
    forward_nodes, backward_nodes = g.nodes[:cut], g.nodes[cut:]
    produced = {o for node in forward_nodes for o in node.output}
    saved = []
    for node in backward_nodes:
        saved += [i for i in node.input if i in produced and i not in saved]

    f = TensorProto.FLOAT
    params = helper.make_tensor_value_info("params", f, [P])
    images = helper.make_tensor_value_info("images", f, ["M", in_ch, "H", "W"])
    z_info = helper.make_tensor_value_info("z", f, ["M", proj])

    # the saved tensors' types and shapes, as ONNX's shape inference gives them
    z_only = finish(g, [params, images], [z_info], "f", nodes=forward_nodes)
    infos = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(z_only).graph.value_info}
    saved_infos = [infos[name] for name in saved]
    forward = finish(g, [params, images], [z_info, *saved_infos], f"{name}_forward_step_c{in_ch}",
                     nodes=forward_nodes)
    dz = helper.make_tensor_value_info("dz", f, ["M", proj])
    grad = helper.make_tensor_value_info("grad", f, [P])
    backward = finish(g, [params, dz, *saved_infos], [grad], f"{name}_backward_step_c{in_ch}",
                      nodes=backward_nodes)
    return forward, backward


def build_loss_graph(arch=DEFAULT_ARCH, name=ARCH_NAME):
    """loss_step: z [2N, d] of the whole batch (view1 rows, then view2 rows) -> loss, dz."""
    g = Builder()
    n = g.op("Div", [g.shape_slice("z", 0, 1), g.i64([2])])
    loss, dz = ntxent_forward_backward(g, "z", n, "temperature", "targets")
    g.named("Identity", [loss], "loss")
    g.named("Identity", [dz], "dz")
    f = TensorProto.FLOAT
    d = arch["head"][-1]
    inputs = [helper.make_tensor_value_info("z", f, ["N2", d]),
              helper.make_tensor_value_info("temperature", f, []),
              helper.make_tensor_value_info("targets", f, ["N2", "N2"])]
    outputs = [helper.make_tensor_value_info("loss", f, []), helper.make_tensor_value_info("dz", f, ["N2", d])]
    return finish(g, inputs, outputs, f"{name}_loss_step")


def build_update_graph(in_ch, arch=DEFAULT_ARCH, name=ARCH_NAME):
    """update_step: AdamW from the flat gradient, exactly as the fused graph's last part."""
    layout = param_layout(in_ch, arch)
    P, _ = counts(layout)
    g = Builder()
    adamw_update(g, "grad", layout)
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info(n, f, [P]) for n in ("params", "adam_m", "adam_v", "grad")]
    inputs += [helper.make_tensor_value_info(n, f, []) for n in ("step", "learning_rate", "weight_decay")]
    outputs = [helper.make_tensor_value_info(n, f, [P]) for n in ("params_out", "adam_m_out", "adam_v_out")]
    return finish(g, inputs, outputs, f"{name}_update_step_c{in_ch}")


def split_step_graphs(in_ch, arch=DEFAULT_ARCH, name=ARCH_NAME):
    """(file name, model) of the split step's graphs for `in_ch` channels."""
    forward, backward = build_pass_graphs(in_ch, arch, name)
    out = [(f"forward_step_c{in_ch}.onnx", forward), (f"backward_step_c{in_ch}.onnx", backward),
           (f"update_step_c{in_ch}.onnx", build_update_graph(in_ch, arch, name))]
    if in_ch == 1:
        out.append(("loss_step.onnx", build_loss_graph(arch, name)))
    return out


def projection_forward(g, h, t, arch):
    """The projection head on h [N, D] without its training-only pieces: the embedding of a
    model read out at the projection (by default colour and labelled builds; models/STUDY.md, session 9).
    Each dense layer runs as a 1x1 convolution, not Gemm: ONNX Runtime convolves image by
    image, so an image embeds to the same bits whatever batch it is in (Gemm with one row
    takes another kernel), and convert stores exactly what embed_image returns."""
    assert arch.get("head_norm") != "batch", "a head with batch statistics cannot embed one image"
    x = g.op("Reshape", [h, g.i64([0, -1, 1, 1])])
    nh = len(arch["head"])
    for j in range(nh):
        weight = g.op("Unsqueeze", [g.op("Transpose", [t[f"head{j}.weight"]], perm=[1, 0]), g.i64([2, 3])])
        x = g.op("Conv", [x, weight, t[f"head{j}.bias"]])
        if j < nh - 1:
            x = g.op("Relu", [x])
    return g.op("Flatten", [x], axis=1)


def readout_forward(g, images, t, arch, projection=False):
    """The learnt part of the embedding: h, or with `projection` the projection head's output."""
    h, _ = encoder_forward(g, images, t, arch)
    return projection_forward(g, h, t, arch) if projection else h


def learnt_dim(in_ch, arch=DEFAULT_ARCH, projection=False):
    return arch["head"][-1] if projection else embed_dim(in_ch, arch)


def encoder_params(g, in_ch, arch, projection):
    """(tensors, `params` input): the encoder's parameters, or all of them (encoder then
    head, the train step's layout) for a projection readout."""
    layout = param_layout(in_ch, arch)
    P, P_enc = counts(layout)
    t = unpack_params(g, "params", layout, only_part=None if projection else "encoder")
    return t, helper.make_tensor_value_info("params", TensorProto.FLOAT, [P if projection else P_enc])


def encoder_file_prefix(kind, projection):
    """File and graph name prefix: encoder, mirror_encoder, gradient_encoder, ... and their
    projection_ variants."""
    return ("projection_" if projection else "") + kind


def build_encoder_graph(in_ch, arch=DEFAULT_ARCH, name=ARCH_NAME, projection=False):
    g = Builder()
    t, params = encoder_params(g, in_ch, arch, projection)
    g.named("Identity", [readout_forward(g, "images", t, arch, projection)], "embedding")
    f = TensorProto.FLOAT
    inputs = [params, helper.make_tensor_value_info("images", f, ["N", in_ch, "H", "W"])]
    outputs = [helper.make_tensor_value_info("embedding", f, ["N", learnt_dim(in_ch, arch, projection)])]
    return finish(g, inputs, outputs, f"{name}_{encoder_file_prefix('encoder', projection)}_c{in_ch}")


def build_mirror_encoder_graph(in_ch, arch=DEFAULT_ARCH, name=ARCH_NAME, projection=False):
    """The encoder of a model trained with horizontal flips: the embedding of an image is
    unit(h(x)) + unit(h(mirror(x))), so an image and its mirror embed identically (a flip
    is then never a reason to miss a near-duplicate; models/STUDY.md).  Same `params` and
    `images` inputs as build_encoder_graph; the two halves run as one batch of 2N."""
    g = Builder()
    t, params = encoder_params(g, in_ch, arch, projection)
    mirror_average(g, lambda both: readout_forward(g, both, t, arch, projection))
    f = TensorProto.FLOAT
    inputs = [params, helper.make_tensor_value_info("images", f, ["N", in_ch, "H", "W"])]
    outputs = [helper.make_tensor_value_info("embedding", f, ["N", learnt_dim(in_ch, arch, projection)])]
    return finish(g, inputs, outputs, f"{name}_{encoder_file_prefix('mirror_encoder', projection)}_c{in_ch}")


def encoder_graphs(in_ch, arch=DEFAULT_ARCH, name=ARCH_NAME):
    """(file name, model) of every encoder graph of an architecture: plain and mirror, with
    and without the gradient descriptor, read out at h and at the projection."""
    import gradient_descriptor  # imports this module; see models/gradient_descriptor.py
    out = []
    for projection in (False, True):
        pre = encoder_file_prefix("", projection)
        out += [(f"{pre}encoder_c{in_ch}.onnx", build_encoder_graph(in_ch, arch, name, projection)),
                (f"{pre}mirror_encoder_c{in_ch}.onnx", build_mirror_encoder_graph(in_ch, arch, name, projection)),
                *gradient_descriptor.graphs(in_ch, arch, name, projection)]
    return out


def unit_rows(g, x):
    """x [N, D] with each row scaled to unit length."""
    return g.op("Div", [x, g.op("Max", [g.reduce("ReduceL2", x, [1]), g.f32(1e-12)])])


def mirror_average(g, embed):
    """Output "embedding" = unit(embed(x)) + unit(embed(mirror x)) for the graph input
    "images"; `embed` maps a batch node to its embeddings and runs once on both halves (2N)."""
    mirrored = g.op("Slice", ["images", g.i64([-1]), g.i64([np.iinfo(np.int64).min]), g.i64([3]), g.i64([-1])])
    unit = unit_rows(g, embed(g.op("Concat", ["images", mirrored], axis=0)))
    n = g.shape_slice("images", 0, 1)
    first = g.op("Slice", [unit, g.i64([0]), n, g.i64([0])])
    second = g.op("Slice", [unit, n, g.i64([np.iinfo(np.int64).max]), g.i64([0])])
    g.named("Add", [first, second], "embedding")


def finish(g, inputs, outputs, name, nodes=None):
    """The checked model of `g`'s nodes, or of `nodes` (a part of them) with only the
    initializers those read."""
    inits = g.inits
    if nodes is not None:
        used = {i for node in nodes for i in node.input}
        inits = [i for i in g.inits if i.name in used]
    graph = helper.make_graph(g.nodes if nodes is None else nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="image_search/models/generate.py", producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


# --------------------------------------------------------------------------
# FLOP estimate (used by bench_python.py and the manifest)
# --------------------------------------------------------------------------
def flops_per_image(in_ch, size, arch=DEFAULT_ARCH):
    """Analytic multiply-add FLOPs (2 per MAC) per *original* image for one train
    step: two views, forward + backward (dX and dW for every conv/dense layer,
    except dX of the first conv).  Elementwise/norm ops are ignored."""
    fwd = 0
    bwd = 0
    c, hw = in_ch, size
    for i, (cout, k, s) in enumerate(arch["convs"]):
        p = (k - 1) // 2
        hw = (hw + 2 * p - k) // s + 1
        macs = hw * hw * cout * c * k * k
        fwd += macs
        bwd += macs * (2 if i > 0 else 1)
        c = cout
    c = embed_dim(in_ch, arch)
    for d in arch["head"]:
        macs = c * d
        fwd += macs
        bwd += 2 * macs
        c = d
    return 2 * 2 * (fwd + bwd), 2 * fwd  # (train-step FLOPs per original image, encoder FLOPs per image)


# --------------------------------------------------------------------------
def manifest(arch=DEFAULT_ARCH, name=ARCH_NAME):
    lay1, lay3 = param_layout(1, arch), param_layout(3, arch)
    p1, e1 = counts(lay1)
    p3, e3 = counts(lay3)
    return {
        "architecture": name,
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "embedding_dim": embed_dim(1, arch),
        "projection_dim": arch["head"][-1],
        "param_count": {"c1": p1, "c3": p3},
        "encoder_param_count": {"c1": e1, "c3": e3},
        "min_image_size": MIN_IMAGE_SIZE,
        "dtype": "float32",
        "pixel_range": [0.0, 1.0],
        "input_normalisation": {"mean": arch["pixel_mean"], "std": arch["pixel_std"],
                                "note": "done inside the graphs: x' = (x - mean) / std"},
        "files": {
            "train_step": {"c1": "train_step_c1.onnx", "c3": "train_step_c3.onnx"},
            "encoder": {"c1": "encoder_c1.onnx", "c3": "encoder_c3.onnx"},
            "mirror_encoder": {"c1": "mirror_encoder_c1.onnx", "c3": "mirror_encoder_c3.onnx",
                               "note": "embedding = unit(h(x)) + unit(h(x mirrored left-right)); used for models trained with flips"},
            "init_params": {"c1": "init_params_c1.bin", "c3": "init_params_c3.bin"},
            "split_step": {
                "forward": {"c1": "forward_step_c1.onnx", "c3": "forward_step_c3.onnx"},
                "backward": {"c1": "backward_step_c1.onnx", "c3": "backward_step_c3.onnx"},
                "loss": "loss_step.onnx",
                "update": {"c1": "update_step_c1.onnx", "c3": "update_step_c3.onnx"},
                "note": "the train step in four graphs, for a batch cut into slices of views run on several "
                        "cores: forward (params, images [M,C,H,W] -> z [M,d] and the tensors the backward pass "
                        "reads), loss (z of all 2N views, temperature, targets -> loss, dz), backward (params, "
                        "the slice's dz and saved tensors, by name -> grad [P]), update (params, adam_m, adam_v, "
                        "the summed grad, step, learning_rate, weight_decay -> params_out, adam_m_out, "
                        "adam_v_out); together the same step as train_step",
            },
        },
        "train_step_io": {
            "inputs": [["params", ["P"]], ["adam_m", ["P"]], ["adam_v", ["P"]], ["step", []],
                       ["learning_rate", []], ["temperature", []], ["weight_decay", []],
                       ["view1", ["N", "C", "H", "W"]], ["view2", ["N", "C", "H", "W"]], ["targets", ["2N", "2N"]]],
            "outputs": [["loss", []], ["params_out", ["P"]], ["adam_m_out", ["P"]], ["adam_v_out", ["P"]]],
            "batch_min": 2,
            "targets": "row i = the target distribution of view i over the 2N views (rows 0..N-1 = view1, "
                       "N..2N-1 = view2): non-negative, each row sums to 1, diagonal 0. SimCLR / label pairs: "
                       "one-hot on the partner view (T[i][i+N] = T[i+N][i] = 1). Supervised contrastive: "
                       "1/|P(i)| on every other view whose image has view i's label (P(i) always holds the "
                       "partner view; an unlabelled image's views keep the one-hot row). See models/targets.py",
        },
        "encoder_io": {
            "inputs": [["params", ["P_enc"]], ["images", ["N", "C", "H", "W"]]],
            "outputs": [["embedding", ["N", embed_dim(1, arch)]]],
        },
        "projection_encoders": {
            "files": "projection_<encoder file>: each encoder read out at the projection head",
            "inputs": [["params", ["P"]], ["images", ["N", "C", "H", "W"]]],
            "outputs": [["embedding", ["N", arch["head"][-1]]]],
            "note": "z = head(h) in place of h (1x1 convolutions, so an image embeds to the same bits in any "
                    "batch); `params` is every parameter in the train step's layout. build_model uses these for "
                    "readout => 'projection', by default colour and labelled builds (models/STUDY.md, session 9)",
        },
        "optimizer": {"type": "AdamW", "beta1": ADAM_BETA1, "beta2": ADAM_BETA2, "eps": ADAM_EPS,
                      "weight_decay_applies_to": "conv and dense weights only (not norm gains, norm biases, dense biases); see layers[].weight_decay",
                      "update": "m=b1*m+(1-b1)*g; v=b2*v+(1-b2)*g^2; p -= lr*((m/(1-b1^step))/(sqrt(v/(1-b2^step))+eps) + wd*mask*p)",
                      "step": "1-based"},
        "loss": "NT-Xent over 2N views, cosine similarity / temperature, self-similarity masked, mean over views of "
                "the cross-entropy against the `targets` row: loss = mean_i [logsumexp_{j != i} S_ij - sum_j T_ij S_ij]",
        "normalisation": f"GroupNorm({arch['groups']} groups, per sample) after every conv",
        "convs": [{"out_channels": c, "kernel": k, "stride": s} for c, k, s in arch["convs"]],
        "init": {"seed": INIT_SEED, "conv": "He normal (fan_in)", "dense": "He normal (fan_in), last layer LeCun normal",
                 "norm_gain": 1.0, "biases": 0.0},
        "flops_per_image": {
            "note": "2*MACs of conv/dense layers only; train step = 2 views x (fwd + bwd), per original image",
            "train_step_c1_28": flops_per_image(1, 28, arch)[0],
            "train_step_c3_32": flops_per_image(3, 32, arch)[0],
            "encoder_c1_28": flops_per_image(1, 28, arch)[1],
        },
        "layers": {"c1": lay1, "c3": lay3},
        "generator": "models/generate.py",
        "recommended_defaults": RECOMMENDED_DEFAULTS,
    }


# Further architectures, each generated into its own directory models/<name>/ by
# `python models/generate.py --arch <name>` (simclr_cnn stays the default and is
# regenerated byte for byte).  See models/STUDY.md, 2026-11-28.
EXTRA_ARCHS = {
    # same convolutions as simclr_cnn; the embedding h concatenates the third conv's map
    # average-pooled to 2x2 (spatial layout, 4*64) with the global average of the last (128):
    # 384-d.  Needs the third conv's map to have even sides: image_size in 9-16, 25-32, 41-48, ...
    "simclr_cnn_ms": dict(DEFAULT_ARCH, readout=[(2, 2), (3, 1)]),
}


def generate(out_dir, name=ARCH_NAME):
    if name != ARCH_NAME:
        return generate_extra(out_dir, name)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for c in (1, 3):
        for fname, model in ((f"train_step_c{c}.onnx", build_train_graph(c)), *split_step_graphs(c),
                             *encoder_graphs(c)):
            path = os.path.join(out_dir, fname)
            with open(path, "wb") as fh:
                fh.write(model.SerializeToString(deterministic=True))
            written.append(path)
        path = os.path.join(out_dir, f"init_params_c{c}.bin")
        with open(path, "wb") as fh:
            fh.write(init_params(param_layout(c)).tobytes())
        written.append(path)
    path = os.path.join(out_dir, "manifest.json")
    with open(path, "w") as fh:
        json.dump(manifest(), fh, indent=1, sort_keys=False)
        fh.write("\n")
    written.append(path)
    return written


def generate_extra(out_dir, name):
    arch = EXTRA_ARCHS[name]
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for c in (1, 3):
        for fname, model in ((f"train_step_c{c}.onnx", build_train_graph(c, arch, name=name)),
                             *split_step_graphs(c, arch, name), *encoder_graphs(c, arch, name)):
            path = os.path.join(out_dir, fname)
            with open(path, "wb") as fh:
                fh.write(model.SerializeToString(deterministic=True))
            written.append(path)
        path = os.path.join(out_dir, f"init_params_c{c}.bin")
        with open(path, "wb") as fh:
            fh.write(init_params(param_layout(c, arch)).tobytes())
        written.append(path)
    m = manifest(arch, name)
    m["readout"] = {"taps": [{"conv": i, "grid": g} for i, g in readout_taps(arch)],
                    "note": "h = concat over taps of the post-ReLU map of that conv, average-pooled to grid x grid "
                            "(cells row-major, channel-major within the tap: index = c*grid*grid + gy*grid + gx)"}
    path = os.path.join(out_dir, "manifest.json")
    with open(path, "w") as fh:
        json.dump(m, fh, indent=1, sort_keys=False)
        fh.write("\n")
    written.append(path)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ARCH_NAME))
    ap.add_argument("--arch", default=ARCH_NAME, choices=[ARCH_NAME] + sorted(EXTRA_ARCHS))
    args = ap.parse_args(argv)
    if args.arch != ARCH_NAME and args.out == ap.get_default("out"):
        args.out = os.path.join(os.path.dirname(os.path.abspath(__file__)), args.arch)
    for p in generate(args.out, args.arch):
        print(p)


if __name__ == "__main__":
    sys.exit(main())
