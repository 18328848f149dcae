"""Tests for the generated simclr_cnn ONNX graphs.

    /opt/isvenv/bin/python -m pytest -q models/test_models.py
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate as G  # noqa: E402
from targets import simclr_targets, supcon_targets  # noqa: E402

OUT = os.path.join(HERE, G.ARCH_NAME)
FILES = ["train_step_c1.onnx", "train_step_c3.onnx", "encoder_c1.onnx", "encoder_c3.onnx",
         "init_params_c1.bin", "init_params_c3.bin", "manifest.json",
         "mirror_encoder_c1.onnx", "mirror_encoder_c3.onnx",
         "gradient_encoder_c1.onnx", "gradient_encoder_c3.onnx",
         "gradient_mirror_encoder_c1.onnx", "gradient_mirror_encoder_c3.onnx"]
FILES += ["projection_" + f for f in FILES if "encoder" in f]
FILES += [f"{part}_step_c{c}.onnx" for part in ("forward", "backward", "update") for c in (1, 3)] + ["loss_step.onnx"]


def f32(x):
    return np.array(x, np.float32)


def sess(path_or_model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    data = path_or_model if isinstance(path_or_model, str) else path_or_model.SerializeToString()
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def manifest():
    with open(os.path.join(OUT, "manifest.json")) as fh:
        return json.load(fh)


def load_params(c):
    return np.fromfile(os.path.join(OUT, f"init_params_c{c}.bin"), dtype="<f4")


def feed(p, v1, v2, m=None, v=None, step=1.0, lr=1e-3, temp=0.5, wd=0.0, targets=None):
    """The train step's inputs; targets default to SimCLR's one-hot on the partner view."""
    P = p.shape[0]
    return {"params": p, "adam_m": np.zeros(P, np.float32) if m is None else m,
            "adam_v": np.zeros(P, np.float32) if v is None else v, "step": f32(step),
            "learning_rate": f32(lr), "temperature": f32(temp), "weight_decay": f32(wd),
            "view1": v1, "view2": v2, "targets": simclr_targets(len(v1)) if targets is None else targets}


# A batch of 5 label pairs: images 0, 2 and 4 share a label, image 3 has none (SupCon rows of 1/3 and one-hot rows)
SUPCON_LABELS = [0, 1, 0, -1, 0]


def batch(c, n, h, w, seed):
    rng = np.random.RandomState(seed)
    base = rng.rand(n, c, h, w).astype(np.float32)
    v1 = np.clip(base + 0.1 * rng.randn(*base.shape), 0, 1).astype(np.float32)
    v2 = np.clip(base[..., ::-1] * 0.9 + 0.05, 0, 1).astype(np.float32)
    return v1, np.ascontiguousarray(v2)


# ---------------------------------------------------------------- (a)
def test_regeneration_is_byte_identical(tmp_path):
    G.generate(str(tmp_path))
    for f in FILES:
        with open(os.path.join(OUT, f), "rb") as a, open(os.path.join(tmp_path, f), "rb") as b:
            assert a.read() == b.read(), f"{f} differs from a fresh regeneration"


# ---------------------------------------------------------------- (e)
@pytest.mark.parametrize("name", FILES[:4] + FILES[-7:])
def test_onnx_valid_standard_ops_only(name):
    m = onnx.load(os.path.join(OUT, name))
    onnx.checker.check_model(m, full_check=True)
    opsets = {o.domain: o.version for o in m.opset_import}
    assert set(opsets) <= {"", "ai.onnx"}
    assert opsets.get("", opsets.get("ai.onnx")) >= 17
    for node in m.graph.node:
        assert node.domain in ("", "ai.onnx"), node
    assert not m.functions


def test_io_contract(manifest):
    for c in (1, 3):
        P = manifest["param_count"][f"c{c}"]
        Pe = manifest["encoder_param_count"][f"c{c}"]
        s = sess(os.path.join(OUT, f"train_step_c{c}.onnx"))
        ins = [(i.name, i.shape) for i in s.get_inputs()]
        assert ins == [("params", [P]), ("adam_m", [P]), ("adam_v", [P]), ("step", []), ("learning_rate", []),
                       ("temperature", []), ("weight_decay", []), ("view1", ["N", c, "H", "W"]),
                       ("view2", ["N", c, "H", "W"]), ("targets", ["N2", "N2"])]
        assert all(i.type == "tensor(float)" for i in s.get_inputs() + s.get_outputs())
        assert [(o.name, o.shape) for o in s.get_outputs()] == [
            ("loss", []), ("params_out", [P]), ("adam_m_out", [P]), ("adam_v_out", [P])]
        e = sess(os.path.join(OUT, f"encoder_c{c}.onnx"))
        assert [(i.name, i.shape) for i in e.get_inputs()] == [("params", [Pe]), ("images", ["N", c, "H", "W"])]
        assert [(o.name, o.shape) for o in e.get_outputs()] == [("embedding", ["N", 128])]
        assert load_params(c).shape == (P,)
        lay = manifest["layers"][f"c{c}"]
        assert sum(l["size"] for l in lay) == P
        assert sum(l["size"] for l in lay if l["part"] == "encoder") == Pe
        assert all(l["part"] == "encoder" for l in lay[:len([x for x in lay if x["part"] == "encoder"])])


# ---------------------------------------------------------------- (b)
@pytest.mark.parametrize("targets", ["simclr", "supcon"])
@pytest.mark.parametrize("c,h,w", [(1, 20, 20), (3, 17, 19)])
def test_gradient_matches_finite_differences(c, h, w, targets):
    """Gradient read from the committed graph (adam_m_out = 0.1*g when adam_m = 0)
    checked per layer against central differences of the graph's own loss along
    the layer's own gradient direction (equality holds only for the true gradient);
    with SimCLR's one-hot targets and with SupCon targets (several positives per row)."""
    s = sess(os.path.join(OUT, f"train_step_c{c}.onnx"))
    p = load_params(c)
    v1, v2 = batch(c, 5, h, w, seed=c)
    t = supcon_targets(SUPCON_LABELS) if targets == "supcon" else simclr_targets(5)
    out = s.run(None, feed(p, v1, v2, targets=t))
    g = out[2].astype(np.float64) / (1 - G.ADAM_BETA1)
    # also agrees with the explicit debug output of the same builder
    dbg = sess(G.build_train_graph(c, debug=True)).run(["grad"], feed(p, v1, v2, targets=t))[0]
    np.testing.assert_allclose(g, dbg, rtol=1e-5, atol=1e-9)

    def loss(pp):
        return float(s.run(["loss"], feed(pp.astype(np.float32), v1, v2, targets=t))[0])

    worst = 0.0
    for l in G.param_layout(c):
        sl = slice(l["offset"], l["offset"] + l["size"])
        gl = g[sl]
        norm = np.linalg.norm(gl)
        assert norm > 1e-4, f"{l['name']}: gradient vanishes ({norm})"
        d = np.zeros_like(g)
        d[sl] = gl / norm
        eps = float(np.clip(3e-4 / norm, 1e-3, 0.1))  # loss changes by ~eps*norm: stay above float32 noise
        fd = (loss(p + eps * d) - loss(p - eps * d)) / (2 * eps)
        rel = abs(fd - norm) / norm
        worst = max(worst, rel)
        assert rel < 0.03, f"{l['name']}: finite difference {fd} vs analytic {norm}"
    # whole-vector check along a random direction
    rng = np.random.RandomState(7)
    d = rng.randn(p.size)
    d /= np.linalg.norm(d)
    fd = (loss(p + 3e-3 * d) - loss(p - 3e-3 * d)) / 6e-3
    assert abs(fd - g @ d) < 0.03 * np.linalg.norm(g)
    print(f"worst per-layer relative error c{c}: {worst:.2e}")


def numpy_loss_from_h(h, p, layout, temp, targets=None):
    """float64 reference of projection head + NT-Xent from the representation h [2N,D]:
    mean over views of -sum_j T_ij log softmax_j (over the other views) of S_i; without
    targets, SimCLR's (the partner view's log-probability), written independently."""
    t = {l["name"]: p[l["offset"]:l["offset"] + l["size"]].reshape(l["shape"]).astype(np.float64) for l in layout}
    x = h.astype(np.float64)
    nh = len(G.DEFAULT_ARCH["head"])
    for j in range(nh):
        x = x @ t[f"head{j}.weight"] + t[f"head{j}.bias"]
        if j < nh - 1:
            x = np.maximum(x, 0)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = u @ u.T / temp
    n2 = len(s)
    n = n2 // 2
    np.fill_diagonal(s, -np.inf)
    lse = np.log(np.exp(s - s.max(1, keepdims=True)).sum(1)) + s.max(1)
    if targets is None:
        pos = s[np.arange(n2), (np.arange(n2) + n) % n2]
        return float(np.mean(lse - pos))
    logp = s - lse[:, None]
    np.fill_diagonal(logp, 0.0)  # T_ii = 0 (and 0 * -inf would be nan)
    return float(np.mean(-(targets.astype(np.float64) * logp).sum(1)))


# ---------------------------------------------------------------- (d) + loss semantics
@pytest.mark.parametrize("c", [1, 3])
def test_encoder_is_train_graph_prefix_and_loss_is_ntxent(c):
    layout = G.param_layout(c)
    P, Pe = G.counts(layout)
    p = load_params(c)
    v1, v2 = batch(c, 6, 28, 28, seed=11)
    enc = sess(os.path.join(OUT, f"encoder_c{c}.onnx"))
    h = enc.run(None, {"params": p[:Pe], "images": np.concatenate([v1, v2])})[0]
    dbg = sess(G.build_train_graph(c, debug=True))
    loss, h_train = dbg.run(["loss", "h"], feed(p, v1, v2, temp=0.3))
    np.testing.assert_allclose(h, h_train, rtol=1e-4, atol=1e-5)
    train = sess(os.path.join(OUT, f"train_step_c{c}.onnx"))
    loss2 = train.run(["loss"], feed(p, v1, v2, temp=0.3))[0]
    ref = numpy_loss_from_h(h, p, layout, 0.3)
    assert abs(float(loss2) - ref) < 1e-4 * max(1, abs(ref)), (loss2, ref)
    assert abs(float(loss) - ref) < 1e-4 * max(1, abs(ref))


@pytest.mark.parametrize("c", [1, 3])
def test_loss_with_supcon_and_soft_targets_matches_numpy(c):
    """The committed train step's loss for non-trivial target matrices equals the float64
    reference: SupCon rows (several positives, 1/|P| each; one-hot for the unlabelled image)
    and arbitrary soft rows; and differs from SimCLR's loss (the input is used)."""
    layout = G.param_layout(c)
    _, Pe = G.counts(layout)
    p = load_params(c)
    v1, v2 = batch(c, 5, 28, 28, seed=13)
    h = sess(os.path.join(OUT, f"encoder_c{c}.onnx")).run(None, {"params": p[:Pe], "images": np.concatenate([v1, v2])})[0]
    train = sess(os.path.join(OUT, f"train_step_c{c}.onnx"))
    sup = supcon_targets(SUPCON_LABELS)
    assert np.allclose(sup.sum(1), 1) and not sup.diagonal().any()
    assert np.flatnonzero(sup[0]).tolist() == [2, 4, 5, 7, 9] and np.allclose(sup[0, [2, 4, 5, 7, 9]], 0.2)
    assert sup[3, 8] == 1 and sup[8, 3] == 1 and sup[1, 6] == 1
    rng = np.random.RandomState(c)
    soft = rng.rand(10, 10).astype(np.float32)
    np.fill_diagonal(soft, 0)
    soft /= soft.sum(1, keepdims=True)
    losses = []
    for t in (sup, soft):
        got = float(train.run(["loss"], feed(p, v1, v2, temp=0.3, targets=t))[0])
        ref = numpy_loss_from_h(h, p, layout, 0.3, t)
        assert abs(got - ref) < 1e-4 * max(1, abs(ref)), (got, ref)
        losses.append(got)
    simclr = float(train.run(["loss"], feed(p, v1, v2, temp=0.3))[0])
    assert abs(simclr - numpy_loss_from_h(h, p, layout, 0.3, simclr_targets(5))) < 1e-4 * max(1, abs(simclr))
    assert min(abs(losses[0] - simclr), abs(losses[1] - simclr)) > 1e-3


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("size", [(16, 16), (28, 28), (32, 32), (64, 64), (23, 40)])
def test_encoder_shapes_and_batch_independence(c, size):
    _, Pe = G.counts(G.param_layout(c))
    p = load_params(c)[:Pe]
    enc = sess(os.path.join(OUT, f"encoder_c{c}.onnx"))
    rng = np.random.RandomState(size[0])
    imgs = rng.rand(5, c, *size).astype(np.float32)
    e = enc.run(None, {"params": p, "images": imgs})[0]
    assert e.shape == (5, 128)
    assert np.isfinite(e).all() and np.abs(e).sum() > 0
    for i in (0, 3):
        alone = enc.run(None, {"params": p, "images": imgs[i:i + 1]})[0]
        np.testing.assert_allclose(alone[0], e[i], rtol=1e-4, atol=1e-5)
    other = imgs.copy()
    other[1:] = rng.rand(4, c, *size)
    np.testing.assert_allclose(enc.run(None, {"params": p, "images": other})[0][0], e[0], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- (c)
@pytest.mark.parametrize("c,n,size", [(1, 16, 28), (3, 8, 32)])
def test_ten_steps_reduce_loss(c, n, size):
    s = sess(os.path.join(OUT, f"train_step_c{c}.onnx"))
    p = load_params(c)
    P = p.size
    m = np.zeros(P, np.float32)
    v = np.zeros(P, np.float32)
    v1, v2 = batch(c, n, size, size, seed=3)
    losses = []
    for step in range(1, 11):
        loss, p, m, v = s.run(None, feed(p, v1, v2, m, v, step=step, lr=3e-3, temp=0.2, wd=1e-4))
        losses.append(float(loss))
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0] - 0.1, losses
    # final parameters still give a lower loss than the initial ones
    assert float(s.run(["loss"], feed(p, v1, v2, temp=0.2))[0]) < losses[0]


def test_adamw_update_formula():
    """params_out/m/v follow the manifest's AdamW formula (incl. the weight-decay mask)."""
    c = 1
    layout = G.param_layout(c)
    s = sess(os.path.join(OUT, f"train_step_c{c}.onnx"))
    rng = np.random.RandomState(5)
    p = load_params(c)
    m0 = (rng.randn(p.size) * 1e-3).astype(np.float32)
    v0 = (rng.rand(p.size) * 1e-5).astype(np.float32)
    v1, v2 = batch(c, 4, 16, 16, seed=9)
    step, lr, wd = 7.0, 0.01, 0.05
    _, p1, m1, vv1 = s.run(None, feed(p, v1, v2, m0, v0, step=step, lr=lr, wd=wd))
    g = (m1 - 0.9 * m0) / 0.1
    np.testing.assert_allclose(vv1, 0.999 * v0 + 0.001 * g * g, rtol=1e-4, atol=1e-12)
    mask = np.concatenate([np.full(l["size"], 1.0 if l["weight_decay"] else 0.0) for l in layout])
    mh = m1 / (1 - 0.9 ** step)
    vh = vv1 / (1 - 0.999 ** step)
    ref = p - lr * (mh / (np.sqrt(vh) + 1e-8) + wd * mask * p)
    np.testing.assert_allclose(p1, ref, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- generator options used by the quality study
VARIANTS = {
    "readout_taps": ({"readout": [[2, 2], [3, 1]]}, 1, 28),
    "readout_grid2_c3": ({"readout": [[3, 2]]}, 3, 32),
    "head_batchnorm": ({"head_norm": "batch"}, 1, 20),
    "groups_per_layer": ({"groups": [1, 8, 8, 8]}, 3, 20),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_gradient_matches_finite_differences(variant):
    """Same check as above for the architecture options of generate.py (in memory, not committed)."""
    over, c, size = VARIANTS[variant]
    arch = dict(G.DEFAULT_ARCH, **over)
    layout = G.param_layout(c, arch)
    s = sess(G.build_train_graph(c, arch))
    p = G.init_params(layout)
    v1, v2 = batch(c, 5, size, size, seed=c)
    g = s.run(None, feed(p, v1, v2))[2].astype(np.float64) / (1 - G.ADAM_BETA1)

    def loss(pp):
        return float(s.run(["loss"], feed(pp.astype(np.float32), v1, v2))[0])

    for l in layout:
        sl = slice(l["offset"], l["offset"] + l["size"])
        gl = g[sl]
        norm = np.linalg.norm(gl)
        if norm < 1e-4:
            # only a dense bias feeding a batch norm may have a zero gradient (the norm removes it)
            assert arch.get("head_norm") == "batch" and l["kind"] == "dense_bias", f"{l['name']}: gradient vanishes"
            continue
        d = np.zeros_like(g)
        d[sl] = gl / norm
        eps = float(np.clip(3e-4 / norm, 1e-3, 0.1))
        fd = (loss(p + eps * d) - loss(p - eps * d)) / (2 * eps)
        assert abs(fd - norm) / norm < 0.04, f"{variant} {l['name']}: finite difference {fd} vs analytic {norm}"
    enc = sess(G.build_encoder_graph(c, arch))
    e = enc.run(None, {"params": p[:G.counts(layout)[1]], "images": v1})[0]
    assert e.shape == (5, G.embed_dim(c, arch))


# ---------------------------------------------------------------- simclr_cnn_ms (optional second architecture)
MS = os.path.join(HERE, "simclr_cnn_ms")


def test_ms_regeneration_is_byte_identical(tmp_path):
    G.generate(str(tmp_path), "simclr_cnn_ms")
    for f in FILES:
        with open(os.path.join(MS, f), "rb") as a, open(os.path.join(tmp_path, f), "rb") as b:
            assert a.read() == b.read(), f"simclr_cnn_ms/{f} differs from a fresh regeneration"


@pytest.mark.parametrize("c", [1, 3])
def test_ms_committed_graphs(c):
    arch = G.EXTRA_ARCHS["simclr_cnn_ms"]
    with open(os.path.join(MS, "manifest.json")) as fh:
        man = json.load(fh)
    P, Pe = man["param_count"][f"c{c}"], man["encoder_param_count"][f"c{c}"]
    assert man["embedding_dim"] == G.embed_dim(c, arch) == 384
    for name in (f"train_step_c{c}.onnx", f"encoder_c{c}.onnx"):
        m = onnx.load(os.path.join(MS, name))
        onnx.checker.check_model(m, full_check=True)
        assert all(n.domain in ("", "ai.onnx") for n in m.graph.node)
    p = np.fromfile(os.path.join(MS, f"init_params_c{c}.bin"), dtype="<f4")
    assert p.shape == (P,)
    e = sess(os.path.join(MS, f"encoder_c{c}.onnx"))
    rng = np.random.RandomState(c)
    imgs = rng.rand(3, c, 28, 28).astype(np.float32)
    out = e.run(None, {"params": p[:Pe], "images": imgs})[0]
    assert out.shape == (3, 384)
    alone = e.run(None, {"params": p[:Pe], "images": imgs[1:2]})[0]
    np.testing.assert_allclose(alone[0], out[1], rtol=1e-4, atol=1e-5)
    # gradient of the committed train step against central differences, per layer
    s = sess(os.path.join(MS, f"train_step_c{c}.onnx"))
    v1, v2 = batch(c, 5, 28, 28, seed=c)
    g = s.run(None, feed(p, v1, v2))[2].astype(np.float64) / (1 - G.ADAM_BETA1)

    def loss(pp):
        return float(s.run(["loss"], feed(pp.astype(np.float32), v1, v2))[0])

    for l in G.param_layout(c, arch):
        sl = slice(l["offset"], l["offset"] + l["size"])
        norm = np.linalg.norm(g[sl])
        assert norm > 1e-4, l["name"]
        d = np.zeros_like(g)
        d[sl] = g[sl] / norm
        eps = float(np.clip(3e-4 / norm, 1e-3, 0.1))
        fd = (loss(p + eps * d) - loss(p - eps * d)) / (2 * eps)
        assert abs(fd - norm) / norm < 0.03, f"{l['name']}: finite difference {fd} vs analytic {norm}"


@pytest.mark.parametrize("arch", ["simclr_cnn", "simclr_cnn_ms"])
@pytest.mark.parametrize("c", [1, 3])
def test_mirror_encoder_averages_an_image_and_its_mirror(arch, c):
    """mirror_encoder = unit(h(x)) + unit(h(mirrored x)), per image; so x and its mirror embed identically."""
    d = os.path.join(HERE, arch)
    enc = sess(os.path.join(d, f"encoder_c{c}.onnx"))
    mirror = sess(os.path.join(d, f"mirror_encoder_c{c}.onnx"))
    pe = enc.get_inputs()[0].shape[0]
    rng = np.random.RandomState(c)
    p = np.fromfile(os.path.join(d, f"init_params_c{c}.bin"), np.float32)[:pe] + rng.randn(pe).astype(np.float32) * 0.01
    x = rng.rand(3, c, 32, 24).astype(np.float32)
    flipped = np.ascontiguousarray(x[:, :, :, ::-1])

    def unit(e):
        return e / np.linalg.norm(e, axis=1, keepdims=True)
    a = enc.run(None, {"params": p, "images": x})[0]
    b = enc.run(None, {"params": p, "images": flipped})[0]
    m = mirror.run(None, {"params": p, "images": x})[0]
    np.testing.assert_allclose(m, unit(a) + unit(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mirror.run(None, {"params": p, "images": flipped})[0], m, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a, b, atol=1e-3), "the plain encoder is not mirror-invariant, so the test can fail"
    np.testing.assert_allclose(mirror.run(None, {"params": p, "images": x[1:2]})[0][0], m[1], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- the gradient descriptor
import gradient_descriptor as D  # noqa: E402


def test_descriptor_regeneration_is_byte_identical(tmp_path):
    D.main(["--out", str(tmp_path)])
    for c in (1, 3):
        name = f"descriptor_c{c}.onnx"
        with open(os.path.join(HERE, "gradient_descriptor", name), "rb") as a, open(tmp_path / name, "rb") as b:
            assert a.read() == b.read(), f"{name} differs from a fresh regeneration"
        m = onnx.load(os.path.join(HERE, "gradient_descriptor", name))
        onnx.checker.check_model(m, full_check=True)
        assert all(node.domain in ("", "ai.onnx") for node in m.graph.node)


@pytest.mark.parametrize("c", [1, 3])
def test_descriptor_matches_the_numpy_reference(c):
    """Oriented-gradient histograms: the graph equals the documented computation; a
    vertical edge votes for the horizontal directions only; other sizes are resized first."""
    s = sess(os.path.join(HERE, "gradient_descriptor", f"descriptor_c{c}.onnx"))
    rng = np.random.RandomState(c)
    x = rng.rand(4, c, D.SIDE, D.SIDE).astype(np.float32)
    np.testing.assert_allclose(s.run(None, {"images": x})[0], D.reference(x), rtol=1e-4, atol=1e-4)
    edge = np.zeros((1, c, D.SIDE, D.SIDE), np.float32)
    edge[..., D.SIDE // 2:] = 1.0  # dark left, bright right: gradients point along +x
    f = s.run(None, {"images": edge})[0].reshape(D.ORIENTATIONS, D.GRID, D.GRID)
    centre = f[:, D.GRID // 2, D.GRID // 2]  # (the image's own borders add other directions)
    assert centre[0] > 0 and np.allclose(centre[1:], 0, atol=1e-6), centre
    assert s.run(None, {"images": rng.rand(2, c, 64, 40).astype(np.float32)})[0].shape == (2, D.FEATURES)


@pytest.mark.parametrize("arch", ["simclr_cnn", "simclr_cnn_ms"])
@pytest.mark.parametrize("c", [1, 3])
def test_gradient_encoders_concatenate_h_and_the_projected_descriptor(arch, c):
    """gradient_encoder = concat(unit(h), WEIGHT * unit((descriptor - mean) @ projection));
    gradient_mirror_encoder averages that over an image and its mirror."""
    d = os.path.join(HERE, arch)
    enc = sess(os.path.join(d, f"encoder_c{c}.onnx"))
    grad = sess(os.path.join(d, f"gradient_encoder_c{c}.onnx"))
    mirror = sess(os.path.join(d, f"gradient_mirror_encoder_c{c}.onnx"))
    desc = sess(os.path.join(HERE, "gradient_descriptor", f"descriptor_c{c}.onnx"))
    pe = enc.get_inputs()[0].shape[0]
    rng = np.random.RandomState(c)
    p = np.fromfile(os.path.join(d, f"init_params_c{c}.bin"), np.float32)[:pe]
    x = rng.rand(80, c, 32, 32).astype(np.float32)
    pca = D.fit_pca(desc.run(None, {"images": x})[0])
    assert pca.shape == (D.FEATURES * (D.DIMS + 1),)

    def unit(e):
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    def expected(images):
        h = enc.run(None, {"params": p, "images": images})[0]
        z = (desc.run(None, {"images": images})[0] - pca[:D.FEATURES]) @ pca[D.FEATURES:].reshape(D.FEATURES, D.DIMS)
        return np.concatenate([unit(h), D.WEIGHT * unit(z)], 1)
    got = grad.run(None, {"params": p, "gradient_pca": pca, "images": x[:5]})[0]
    assert got.shape[1] == G.embed_dim(c, G.EXTRA_ARCHS.get(arch, G.DEFAULT_ARCH)) + D.DIMS
    np.testing.assert_allclose(got, expected(x[:5]), rtol=1e-4, atol=1e-5)
    flipped = np.ascontiguousarray(x[:5, :, :, ::-1])
    m = mirror.run(None, {"params": p, "gradient_pca": pca, "images": x[:5]})[0]
    np.testing.assert_allclose(m, unit(expected(x[:5])) + unit(expected(flipped)), rtol=1e-4, atol=1e-5)
    # an image embeds to the same bits alone or in a batch (convert stores what embed_image returns)
    for session in (grad, mirror):
        alone = session.run(None, {"params": p, "gradient_pca": pca, "images": x[2:3]})[0][0]
        assert np.array_equal(alone, session.run(None, {"params": p, "gradient_pca": pca, "images": x[:5]})[0][2])


# ---------------------------------------------------------------- the projection readout
@pytest.mark.parametrize("arch", ["simclr_cnn", "simclr_cnn_ms"])
@pytest.mark.parametrize("c", [1, 3])
def test_projection_encoders_read_out_the_projection_head(arch, c):
    """projection_* encoders take all parameters (the train step's layout) and put the
    projection head's output z = W1 relu(W0 h + b0) + b1 where the other encoders put h:
    alone, mirror-averaged, and beside the descriptor; an image embeds to the same bits
    alone as in a batch."""
    d = os.path.join(HERE, arch)
    a = G.EXTRA_ARCHS.get(arch, G.DEFAULT_ARCH)
    layout = G.param_layout(c, a)
    P, Pe = G.counts(layout)
    rng = np.random.RandomState(10 + c)
    p = np.fromfile(os.path.join(d, f"init_params_c{c}.bin"), np.float32) + rng.randn(P).astype(np.float32) * 0.01
    W = {l["name"]: p[l["offset"]:l["offset"] + l["size"]].reshape(l["shape"]) for l in layout}
    enc = sess(os.path.join(d, f"encoder_c{c}.onnx"))
    desc = sess(os.path.join(HERE, "gradient_descriptor", f"descriptor_c{c}.onnx"))
    x = rng.rand(40, c, 32, 32).astype(np.float32)
    flipped = np.ascontiguousarray(x[:, :, :, ::-1])
    pca = D.fit_pca(desc.run(None, {"images": x})[0])

    def unit(e):
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    def z(images):
        h = enc.run(None, {"params": p[:Pe], "images": images})[0]
        return np.maximum(h @ W["head0.weight"] + W["head0.bias"], 0) @ W["head1.weight"] + W["head1.bias"]

    def with_descriptor(images, learnt):
        f = (desc.run(None, {"images": images})[0] - pca[:D.FEATURES]) @ pca[D.FEATURES:].reshape(D.FEATURES, D.DIMS)
        return np.concatenate([unit(learnt), D.WEIGHT * unit(f)], 1)

    expected = {
        "projection_encoder": z(x),
        "projection_mirror_encoder": unit(z(x)) + unit(z(flipped)),
        "projection_gradient_encoder": with_descriptor(x, z(x)),
        "projection_gradient_mirror_encoder": unit(with_descriptor(x, z(x))) + unit(with_descriptor(flipped, z(flipped))),
    }
    for kind, want in expected.items():
        s = sess(os.path.join(d, f"{kind}_c{c}.onnx"))
        assert s.get_inputs()[0].shape == [P], kind
        feed = {"params": p, "images": x}
        if "gradient" in kind:
            feed["gradient_pca"] = pca
        got = s.run(None, feed)[0]
        assert got.shape == (len(x), a["head"][-1] + (D.DIMS if "gradient" in kind else 0)), kind
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=kind)
        one = s.run(None, dict(feed, images=x[3:4]))[0]
        assert (one[0] == got[3]).all(), f"{kind}: an image alone embeds to other bits than in a batch"


def test_the_descriptor_fitted_within_labels_weighs_down_what_a_label_varies_in():
    """fit_pca_within_labels (the numpy reference of a labelled build's fit): features that
    vary 20 times more than the labels' distance, and say nothing about the label, no longer
    decide the nearest neighbour."""
    rng = np.random.RandomState(7)
    n = 200
    labels = np.arange(n) % 2
    f = np.full((n, D.FEATURES), 0.25) + rng.uniform(-0.01, 0.01, (n, D.FEATURES))
    f[:, 5:13] += rng.uniform(-10, 10, (n, 8))
    f[:, 4] += np.where(labels == 1, 0.5, -0.5) + rng.uniform(-0.1, 0.1, n)

    def nearest_has_the_label(pca):
        z = (f - pca[:D.FEATURES]) @ pca[D.FEATURES:].reshape(D.FEATURES, D.DIMS)
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
        s = z @ z.T
        np.fill_diagonal(s, -np.inf)
        return (labels[s.argmax(1)] == labels).mean()
    within = D.fit_pca_within_labels(f, labels)
    assert within.shape == (D.FEATURES * (D.DIMS + 1),)
    assert nearest_has_the_label(D.fit_pca(f)) < 0.7
    assert nearest_has_the_label(within) > 0.85  # 0.915 against 0.615


# ---------------------------------------------------------------- label votes
import label_votes as V  # noqa: E402


def test_label_votes_fragment_regeneration_is_byte_identical(tmp_path):
    V.main(["--out", str(tmp_path)])
    with open(os.path.join(HERE, "label_votes", "fragment.pb"), "rb") as a, open(tmp_path / "fragment.pb", "rb") as b:
        assert a.read() == b.read(), "fragment.pb differs from a fresh regeneration"
    graph = onnx.GraphProto.FromString(open(tmp_path / "fragment.pb", "rb").read())
    assert all(node.domain in ("", "ai.onnx") for node in graph.node)
    assert not graph.name and not graph.input, "a merged singular field or input would change the encoder's graph"
    inner = {x for node in graph.node for x in list(node.input) + list(node.output)} | {i.name for i in graph.initializer}
    assert all(x.startswith(V.PREFIX) or x in V.OUTSIDE for x in inner), "a name could clash with the encoder's"


@pytest.mark.parametrize("c", [1, 3])
def test_label_votes_appended_to_an_encoder_match_the_numpy_reference(c):
    """The encoder file with the fragment merged in as build_model writes it (bytes appended
    to the encoder's) is a valid model whose labelled_embedding is concat(unit(e), WEIGHT *
    unit(label shares among the VOTERS most similar references)); with fewer references than
    VOTERS, all of them vote."""
    encoder = onnx.load(os.path.join(OUT, f"projection_encoder_c{c}.onnx"))
    p = load_params(c)
    rng = np.random.RandomState(c)
    refs, queries = rng.rand(45, c, 28, 28).astype(np.float32), rng.rand(6, c, 28, 28).astype(np.float32)
    plain = sess(encoder)
    e_refs, e_queries = (plain.run(["embedding"], {"params": p, "images": x})[0] for x in (refs, queries))
    labels = np.array(["bag", "coat", "shoe"])[rng.randint(0, 3, len(refs))]
    classes = np.unique(labels)
    for n in (45, 7):
        unit = e_refs[:n] / np.linalg.norm(e_refs[:n], axis=1, keepdims=True)
        model = V.with_votes(encoder, unit.T.copy(), (labels[:n, None] == classes[None]).astype(np.float32))
        onnx.checker.check_model(model, full_check=True)
        got = sess(model).run(["labelled_embedding"], {"params": p, "images": queries})[0]
        want = V.reference_votes(e_queries, e_refs[:n], labels[:n], classes)
        assert got.shape == (len(queries), e_queries.shape[1] + len(classes))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        distinct_votes = len({tuple(np.round(v, 4)) for v in got[:, -len(classes):]})
        assert distinct_votes > 1 if n > V.VOTERS else distinct_votes == 1, (n, distinct_votes)


# ---------------------------------------------------------------- the split step
def split_step(arch_dir, c, feeds, slices):
    """One step through the four split graphs, the 2N views cut at `slices` (view counts)."""
    path = lambda f: os.path.join(HERE, arch_dir, f)
    forward, backward = sess(path(f"forward_step_c{c}.onnx")), sess(path(f"backward_step_c{c}.onnx"))
    views = np.concatenate([feeds["view1"], feeds["view2"]])
    assert sum(slices) == len(views)
    names = [o.name for o in forward.get_outputs()]
    starts = np.cumsum([0] + slices)
    outs = [dict(zip(names, forward.run(None, {"params": feeds["params"], "images": views[a:b]})))
            for a, b in zip(starts, starts[1:])]
    z = np.concatenate([o["z"] for o in outs])
    loss, dz = sess(path("loss_step.onnx")).run(None, {"z": z, "temperature": feeds["temperature"],
                                                        "targets": feeds["targets"]})
    grad = 0
    for o, a, b in zip(outs, starts, starts[1:]):
        saved = {i.name: o[i.name] for i in backward.get_inputs() if i.name not in ("params", "dz")}
        grad = grad + backward.run(None, {"params": feeds["params"], "dz": dz[a:b], **saved})[0]
    update = sess(path(f"update_step_c{c}.onnx"))
    keep = ("params", "adam_m", "adam_v", "step", "learning_rate", "weight_decay")
    return [loss, *update.run(None, {**{k: feeds[k] for k in keep}, "grad": grad.astype(np.float32)})]


@pytest.mark.parametrize("arch_dir", [G.ARCH_NAME, "simclr_cnn_ms"])
@pytest.mark.parametrize("c,slices,targets", [(1, [5, 5], "simclr"), (3, [4, 3, 3], "supcon"), (1, [10], "simclr")])
def test_split_step_is_the_fused_step(arch_dir, c, slices, targets):
    """The four split graphs, on any cut of the batch (here two halves, three slices across
    the view1/view2 boundary, and one slice), give the fused train step's loss and update."""
    size = 28 if arch_dir == G.ARCH_NAME else 32
    p = np.fromfile(os.path.join(HERE, arch_dir, f"init_params_c{c}.bin"), dtype="<f4")
    rng = np.random.RandomState(4)
    m0 = (rng.randn(p.size) * 1e-3).astype(np.float32)
    v0 = (rng.rand(p.size) * 1e-5).astype(np.float32)
    v1, v2 = batch(c, 5, size, size, seed=8)
    t = supcon_targets(SUPCON_LABELS) if targets == "supcon" else None
    feeds = feed(p, v1, v2, m0, v0, step=3.0, lr=0.01, temp=0.2, wd=1e-3, targets=t)
    fused = sess(os.path.join(HERE, arch_dir, f"train_step_c{c}.onnx")).run(None, feeds)
    split = split_step(arch_dir, c, feeds, slices)
    assert abs(float(split[0]) - float(fused[0])) < 1e-5
    for got, want, name in zip(split[1:], fused[1:], ("params", "adam_m", "adam_v")):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7, err_msg=name)
    assert np.abs(split[1] - p).max() > 1e-4  # the step moved the parameters


def test_split_graphs_carry_no_batch_statistics():
    """A head with batch statistics would make a slice depend on the others: refused."""
    with pytest.raises(AssertionError, match="batch statistics"):
        G.build_pass_graphs(1, dict(G.DEFAULT_ARCH, head_norm="batch"))
