"""Label votes: the end of a labelled model's embedding says which labels its nearest
training images have (models/STUDY.md, session 13).

Why: a build with label_col knows the labels of its training images. A search asks "which
images are like this one?", and for a labelled collection the best single hint is what the
training images most like the query are labelled. The embedding of a labelled model is
therefore concat(unit(e), WEIGHT * unit(votes)), where e is the encoder's embedding and
votes[c] is the share of label c among the VOTERS reference images whose unit(e) is most
similar to the image's. Measured from Postgres on held-out clothes (Fashion-MNIST training
split, six builds on three draws): +0.006 to +0.019 precision@4, mean +0.015; digits level
(BENCHMARKS.md, "Label votes").

This module writes the votes as a graph *fragment*: a serialized GraphProto with only nodes
and the output "labelled_embedding". build_model appends it to the trained encoder's file
(src/engine/onnx/encoder_file.rs): protobuf merges a repeated occurrence of ModelProto.graph,
so the nodes and the output are added to the encoder's graph, after its own. It reads the
encoder's output "embedding" and two initializers build_model appends with it (1-D, as every
appended initializer is):
  label_reference  D * R floats: the R reference images' unit(e), as a [D, R] matrix
                   (column r is reference image r), so the similarities are one MatMul;
  label_onehot     R * C floats: row r is reference image r's label as a one-hot over C labels.
The fragment's tensor names all start with "votes/", so they cannot clash with the encoder's.
"""
import numpy as np
from onnx import TensorProto, helper

import generate as G

VOTERS = 20
WEIGHT = 0.5
PREFIX = "votes/"
# Names shared with the encoder graph and with build_model.
OUTSIDE = ("embedding", "label_reference", "label_onehot", "labelled_embedding")


def build_fragment():
    """-> GraphProto: the nodes from "embedding" to "labelled_embedding" (see the module doc)."""
    g = G.Builder()
    e = G.unit_rows(g, "embedding")  # [N, D]
    d = g.shape_slice("embedding", 1, 2)
    reference = g.op("Reshape", ["label_reference", g.op("Concat", [d, g.i64([-1])], axis=0)])  # [D, R]
    similarity = g.op("MatMul", [e, reference])  # [N, R]
    r = g.shape_slice(similarity, 1, 2)
    k = g.op("Min", [r, g.i64([VOTERS])])
    _, nearest = g.op("TopK", [similarity, k], n_out=2, axis=1)  # [N, k]: largest first, ties by index
    onehot = g.op("Reshape", ["label_onehot", g.op("Concat", [r, g.i64([-1])], axis=0)])  # [R, C]
    votes = g.reduce("ReduceMean", g.op("Gather", [onehot, nearest], axis=0), [1], keepdims=0)  # [N, C]
    g.named("Concat", [e, g.op("Mul", [G.unit_rows(g, votes), g.f32(WEIGHT)])], "labelled_embedding", axis=1)
    graph = helper.make_graph(g.nodes, "", [], [helper.make_tensor_value_info("labelled_embedding",
                                                                                TensorProto.FLOAT, ["N", "D_plus_labels"])],
                              initializer=g.inits)
    rename = lambda name: name if name in OUTSIDE or name == "" else PREFIX + name  # noqa: E731
    for node in graph.node:
        node.name = PREFIX + node.name
        node.input[:] = [rename(x) for x in node.input]
        node.output[:] = [rename(x) for x in node.output]
    for init in graph.initializer:
        init.name = rename(init.name)
    graph.ClearField("name")  # a merged singular field would rename the encoder's graph
    return graph


def with_votes(encoder, reference, onehot):
    """numpy/onnx reference of build_model's append: the encoder ModelProto with the fragment
    and the two initializers merged in, as Rust does it on the wire."""
    import onnx
    data = encoder.SerializeToString() + _graph_field(build_fragment().SerializeToString())
    for name, values in (("label_reference", reference), ("label_onehot", onehot)):
        extra = helper.make_graph([], "", [], [], initializer=[
            helper.make_tensor(name, TensorProto.FLOAT, [values.size], np.asarray(values, np.float32).ravel())])
        extra.ClearField("name")
        data += _graph_field(extra.SerializeToString())
    return onnx.load_from_string(data)


def _graph_field(payload):
    """ModelProto field 7 (graph), length-delimited."""
    out = bytearray([(7 << 3) | 2])
    n = len(payload)
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + payload


def reference_votes(embeddings, reference_embeddings, reference_labels, labels):
    """numpy reference: concat(unit(e), WEIGHT * unit(share of each of `labels` among the VOTERS
    references most similar by cosine))."""
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # noqa: E731
    e, ref = unit(np.asarray(embeddings, np.float64)), unit(np.asarray(reference_embeddings, np.float64))
    onehot = (np.asarray(reference_labels)[:, None] == np.asarray(labels)[None]).astype(np.float64)
    nearest = np.argsort(-(e @ ref.T), 1, kind="stable")[:, :min(VOTERS, len(ref))]
    return np.hstack([e, WEIGHT * unit(onehot[nearest].mean(1))])


def main(argv=None):
    """Writes models/label_votes/fragment.pb (the serialized GraphProto fragment)."""
    import argparse
    import os
    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "label_votes"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "fragment.pb")
    with open(path, "wb") as fh:
        fh.write(build_fragment().SerializeToString(deterministic=True))
    print(path)


if __name__ == "__main__":
    main()
