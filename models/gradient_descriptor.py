"""The gradient descriptor: oriented-gradient histograms (HOG-like) that a grayscale model's
embedding carries beside what the network learnt (models/STUDY.md, session 5).

Why: on shape-only images (clothes, digits) a self-supervised encoder trained on 1,000 images
stays near raw pixels for clothes (precision@4 0.70 vs 0.70), while histograms of gradient
orientations in a 7x7 grid of cells, projected onto their 64 principal directions fitted on the
training images, reach 0.77.  Concatenated with the learnt embedding (weight WEIGHT) they lift
clothes to 0.76 and cost digits about 0.01 (0.953 -> 0.94).  Colour near-duplicates get worse
(0.84 -> 0.79), so build_model turns the descriptor on by default for 1-channel models only.
WEIGHT was 0.7 in 0.6.0; with pairs of descriptor neighbours in training (session 6) the learnt
part is stronger and 0.5 is better: digits 0.941 -> 0.950, clothes 0.762 -> 0.760 (two draws).

The descriptor of an image (any size, 1 or 3 channels; 3 are averaged to one):
  1. resize to SIDE x SIDE (bilinear, antialiased), x in [0, 1];
  2. gradients gx, gy by central differences (zero padding);
  3. for ORIENTATIONS directions theta_k = 2 pi k / K (signed), the pixel's gradient magnitude
     times a triangular weight max(0, 1 - angle(g, theta_k) / (2 pi / K)): each gradient votes
     for its two nearest directions, linearly (angle by Acos of the normalised projection);
  4. average over CELL x CELL cells (a 7x7 grid), square root (Hellinger), flattened
     direction-major: index = k * 49 + cy * 7 + cx.
build_model fits `gradient_pca` on the training images' descriptors: their mean (F values)
followed by the F x DIMS projection (row-major) onto the top DIMS principal directions, each
divided by (eigenvalue + eps)^(1/4) (partial whitening).  The encoder then outputs
concat(unit(h), WEIGHT * unit((descriptor - mean) @ projection)).
"""
import numpy as np
from onnx import TensorProto, helper

import generate as G

SIDE = 28
CELL = 4
ORIENTATIONS = 12
DIMS = 64
WEIGHT = 0.5
GRID = SIDE // CELL
FEATURES = ORIENTATIONS * GRID * GRID


def descriptor(g, images, in_ch):
    """Nodes computing the descriptor of `images` [N, C, H, W] -> [N, FEATURES]."""
    x = g.reduce("ReduceMean", images, [1]) if in_ch == 3 else images
    sizes = g.op("Concat", [g.shape_slice(x, 0, 2), g.i64([SIDE, SIDE])], axis=0)
    x = g.op("Resize", [x, "", "", sizes], mode="linear", antialias=1)
    kernel = np.zeros((2, 1, 3, 3), np.float32)
    kernel[0, 0, 1, 0], kernel[0, 0, 1, 2] = -1, 1  # gx = x[., x+1] - x[., x-1]
    kernel[1, 0, 0, 1], kernel[1, 0, 2, 1] = -1, 1  # gy = x[y+1, .] - x[y-1, .]
    grad = g.op("Conv", [x, g.f32(kernel)], pads=[1, 1, 1, 1])
    magnitude = g.op("Sqrt", [g.reduce("ReduceSumSquare", grad, [1])])  # [N, 1, S, S]
    theta = 2 * np.pi * np.arange(ORIENTATIONS) / ORIENTATIONS
    directions = np.stack([np.cos(theta), np.sin(theta)], 1).astype(np.float32)[:, :, None, None]
    projection = g.op("Conv", [grad, g.f32(directions)])  # |g| cos(angle(g, theta_k)), [N, K, S, S]
    cosine = g.op("Clip", [g.op("Div", [projection, g.op("Add", [magnitude, g.f32(1e-6)])]),
                           g.f32(-1.0), g.f32(1.0)])
    bin_width = 2 * np.pi / ORIENTATIONS
    vote = g.op("Relu", [g.op("Sub", [g.f32(1.0), g.op("Div", [g.op("Acos", [cosine]), g.f32(bin_width)])])])
    cells = g.op("AveragePool", [g.op("Mul", [vote, magnitude])], kernel_shape=[CELL, CELL], strides=[CELL, CELL])
    return g.op("Flatten", [g.op("Sqrt", [cells])], axis=1)


def build_descriptor_graph(in_ch):
    g = G.Builder()
    g.named("Identity", [descriptor(g, "images", in_ch)], "features")
    f = TensorProto.FLOAT
    return G.finish(g, [helper.make_tensor_value_info("images", f, ["N", in_ch, "H", "W"])],
                    [helper.make_tensor_value_info("features", f, ["N", FEATURES])],
                    f"gradient_descriptor_c{in_ch}")


def _embedding(g, images, t, arch, in_ch, projection=False):
    """concat(unit(h), WEIGHT * unit((descriptor - mean) @ projection)); with `projection`,
    the projection head's output in place of h."""
    h = G.readout_forward(g, images, t, arch, projection)
    mean = g.op("Slice", ["gradient_pca", g.i64([0]), g.i64([FEATURES]), g.i64([0])])
    flat = g.op("Slice", ["gradient_pca", g.i64([FEATURES]), g.i64([FEATURES * (DIMS + 1)]), g.i64([0])])
    # The projection runs as a 1x1 convolution, not MatMul: ONNX Runtime convolves image by
    # image, so an image embeds to the same bits whatever batch it is in (MatMul with one row
    # takes another kernel), and convert stores exactly what embed_image returns.
    weight = g.op("Reshape", [g.op("Transpose", [g.op("Reshape", [flat, g.i64([FEATURES, DIMS])])], perm=[1, 0]),
                              g.i64([DIMS, FEATURES, 1, 1])])
    centred = g.op("Reshape", [g.op("Sub", [descriptor(g, images, in_ch), mean]), g.i64([-1, FEATURES, 1, 1])])
    z = g.op("Flatten", [g.op("Conv", [centred, weight])], axis=1)
    return g.op("Concat", [G.unit_rows(g, h), g.op("Mul", [G.unit_rows(g, z), g.f32(WEIGHT)])], axis=1)


def build_gradient_encoder_graph(in_ch, arch=G.DEFAULT_ARCH, name=G.ARCH_NAME, mirror=False, projection=False):
    """The encoder of a model built with the gradient descriptor; with `mirror`, the embedding
    is unit(e(x)) + unit(e(mirror x)) as in generate.build_mirror_encoder_graph; with
    `projection`, read out at the projection head as generate.build_encoder_graph does."""
    g = G.Builder()
    t, params = G.encoder_params(g, in_ch, arch, projection)
    if mirror:
        G.mirror_average(g, lambda both: _embedding(g, both, t, arch, in_ch, projection))
    else:
        g.named("Identity", [_embedding(g, "images", t, arch, in_ch, projection)], "embedding")
    f = TensorProto.FLOAT
    inputs = [params,
              helper.make_tensor_value_info("gradient_pca", f, [FEATURES * (DIMS + 1)]),
              helper.make_tensor_value_info("images", f, ["N", in_ch, "H", "W"])]
    outputs = [helper.make_tensor_value_info("embedding", f, ["N", G.learnt_dim(in_ch, arch, projection) + DIMS])]
    kind = "gradient_mirror_encoder" if mirror else "gradient_encoder"
    return G.finish(g, inputs, outputs, f"{name}_{G.encoder_file_prefix(kind, projection)}_c{in_ch}")


def graphs(in_ch, arch=G.DEFAULT_ARCH, name=G.ARCH_NAME, projection=False):
    """(file name, model) of the two gradient encoders generate.py writes beside each architecture."""
    pre = G.encoder_file_prefix("", projection)
    return ((f"{pre}gradient_encoder_c{in_ch}.onnx", build_gradient_encoder_graph(in_ch, arch, name, False, projection)),
            (f"{pre}gradient_mirror_encoder_c{in_ch}.onnx",
             build_gradient_encoder_graph(in_ch, arch, name, True, projection)))


def reference(images):
    """numpy reference of `descriptor` for tests, on images already SIDE x SIDE: [N, C, S, S]."""
    x = images.mean(1) if images.shape[1] == 3 else images[:, 0]
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    gx = p[:, 1:-1, 2:] - p[:, 1:-1, :-2]
    gy = p[:, 2:, 1:-1] - p[:, :-2, 1:-1]
    mag = np.sqrt(gx * gx + gy * gy)
    out = []
    for k in range(ORIENTATIONS):
        th = 2 * np.pi * k / ORIENTATIONS
        c = np.clip((gx * np.cos(th) + gy * np.sin(th)) / (mag + 1e-6), -1, 1)
        r = np.maximum(0, 1 - np.arccos(c) / (2 * np.pi / ORIENTATIONS)) * mag
        out.append(r.reshape(len(x), GRID, CELL, GRID, CELL).mean((2, 4)))
    return np.sqrt(np.stack(out, 1)).reshape(len(x), -1)


def _principal_directions(features):
    """-> (mean, eigenvalues, directions): the top DIMS principal directions of `features` as
    columns, by decreasing variance; columns without variance (fewer images than DIMS + 1)
    are zeros: projecting new images onto them would only add noise."""
    f = features.astype(np.float64)
    mean = f.mean(0)
    ev, vecs = np.linalg.eigh((f - mean).T @ (f - mean) / max(1, len(f) - 1))
    ev, vecs = ev[::-1][:DIMS], vecs[:, ::-1][:, :DIMS]
    keep = ev > 1e-6 * max(ev[0], 1e-30)
    return mean, np.where(keep, ev, 1.0), np.where(keep, vecs, 0.0)


def fit_pca(features):
    """numpy reference of build_model's fit: -> flat gradient_pca (mean, then projection),
    each direction divided by its eigenvalue's fourth root."""
    mean, ev, vecs = _principal_directions(features)
    return np.concatenate([mean, (vecs / ev ** 0.25).ravel()]).astype(np.float32)


def fit_pca_within_labels(features, labels, shrink=0.1):
    """numpy reference of build_model's fit with label_col (src/engine/gradient_descriptor.rs
    fit_with_labels): the mean and top DIMS principal directions of fit_pca, unscaled, then
    times (S + shrink * mean eigenvalue of S * I)^(-1/2), S the covariance of the projected
    training descriptors about their label's mean (models/STUDY.md, session 12). Labels None
    are left out of S; with fewer than two labels of two images or more, or images equal
    within every label, fit_pca's result."""
    mean, _, vecs = _principal_directions(features)
    z = (features.astype(np.float64) - mean) @ vecs
    known = np.array([label is not None for label in labels])
    labels = np.array([str(label) for label in labels])
    groups = [labels == label for label in np.unique(labels[known])]
    if sum(g.sum() >= 2 for g in groups) < 2:  # no spread within labels to divide out
        return fit_pca(features)
    centred = np.concatenate([z[g] - z[g].mean(0) for g in groups])
    e, u = np.linalg.eigh(centred.T @ centred / len(centred))
    if not e.mean() > 1e-9 * (z[known] ** 2).mean():
        return fit_pca(features)
    whitening = (u / np.sqrt(np.maximum(e, 0) + shrink * e.mean())) @ u.T
    return np.concatenate([mean, (vecs @ whitening).ravel()]).astype(np.float32)


def main(argv=None):
    """Writes models/gradient_descriptor/descriptor_c{1,3}.onnx (the descriptor alone, which
    build_model runs over the training images to fit gradient_pca)."""
    import argparse
    import os
    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "gradient_descriptor"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for c in (1, 3):
        path = os.path.join(args.out, f"descriptor_c{c}.onnx")
        with open(path, "wb") as fh:
            fh.write(build_descriptor_graph(c).SerializeToString(deterministic=True))
        print(path)


if __name__ == "__main__":
    main()
