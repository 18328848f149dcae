"""What a quantised first pass would give the ann index on gauss:SIGMA (a study, not the index).

    python benches/quantised_first_pass.py [ROWS] [SIGMA] [PROBES]   (defaults 1000000 1.0
    10,20,40,80,160; numpy only)

The data set of benches/ann_scan_ab.sh and pgvector_side_by_side.sh's gauss:SIGMA (1,000
centres uniform in [-1, 1]^128, row i = centre i % 1000 + N(0, SIGMA) per component; numpy's
generator, so the same distribution, not the same rows), 100 rows of the table as queries,
cosine, recall@10 against the exact top 10.

Lists: 1,000, centroid = the normalised mean of each centre's rows (what a good k-means finds
here), or (KMEANS_SAMPLE=n) spherical k-means on n sampled rows per list as ann's build runs
it; rows assigned to the nearest centroid, as ann's build does. For each probes, the rows of
the `probes` nearest lists are ranked by
  - exact:  the float vectors (what ann does today; 520 bytes read per 128-d row)
  - sq8:    8-bit scalar codes (per-dimension min/max over the table; asymmetric: float query
            against decoded codes), the best RERANK re-ranked exactly (136 bytes per row with
            its TID, + RERANK full vectors per query)
  - sq4:    the same with 4-bit codes (72 bytes per row)
  - bit1:   RaBitQ-style 1-bit codes: the sign of each component of the row's residual from
            its list centroid after one random rotation, with the residual's norm and the
            code's correction <o, sign(o)>/sqrt(d) (16 + 8 bytes per row, + TID), the
            estimator of RaBitQ; the best RERANK re-ranked exactly
and the best 10 after re-ranking are compared with the truth.
"""
import os
import sys
import time

import numpy as np

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
SIGMA = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
DIM, CENTRES, LISTS, QUERIES = 128, 1000, 1000, 100
PROBES = [int(p) for p in (sys.argv[3] if len(sys.argv) > 3 else "10,20,40,80,160").split(",")]
RERANK = [50, 100, 200]

rng = np.random.default_rng(1)
t0 = time.time()
centres = rng.uniform(-1, 1, (CENTRES, DIM)).astype(np.float32)
which = np.arange(ROWS) % CENTRES
x = centres[which] + rng.normal(0, SIGMA, (ROWS, DIM)).astype(np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)  # cosine = dot of unit vectors

# Lists: centroid = normalised mean of each centre's rows (ideal), or with KMEANS_SAMPLE=n
# spherical k-means as ann's build runs it (k-means++ seeding, 15 Lloyd iterations) on a
# random sample of n rows per list (ann samples 50); rows to the nearest centroid.
sample_per_list = int(os.environ.get("KMEANS_SAMPLE", "0"))
if sample_per_list:
    sample = x[rng.choice(ROWS, min(ROWS, sample_per_list * LISTS), replace=False)]
    cent = np.empty((LISTS, DIM), np.float32)
    cent[0] = sample[rng.integers(len(sample))]
    best = 1 - sample @ cent[0]
    for k in range(1, LISTS):  # k-means++: the next seed with probability ~ distance^2
        p = np.maximum(best, 0) ** 2
        cent[k] = sample[rng.choice(len(sample), p=p / p.sum())]
        best = np.minimum(best, 1 - sample @ cent[k])
    for _ in range(15):
        near = np.argmax(sample @ cent.T, axis=1)
        sums = np.zeros_like(cent)
        np.add.at(sums, near, sample)
        empty = np.linalg.norm(sums, axis=1) == 0
        sums[empty] = cent[empty]
        cent = sums / np.linalg.norm(sums, axis=1, keepdims=True)
else:
    cent = np.zeros((LISTS, DIM), np.float32)
    np.add.at(cent, which, x)
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
assign = np.empty(ROWS, np.int64)
for s in range(0, ROWS, 50_000):
    assign[s:s + 50_000] = np.argmax(x[s:s + 50_000] @ cent.T, axis=1)
order = np.argsort(assign, kind="stable")
starts = np.searchsorted(assign[order], np.arange(LISTS + 1))
print(f"{ROWS} rows, sigma {SIGMA}, lists {'k-means on %d rows per list' % sample_per_list if sample_per_list else 'ideal'}: data and lists in {time.time() - t0:.0f} s; "
      f"rows per list {np.diff(starts).min()}-{np.diff(starts).max()}")

# sq8: per-dimension min/max over the table.
lo, hi = x.min(axis=0), x.max(axis=0)
scale = (hi - lo) / 255
codes8 = np.round((x - lo) / scale).astype(np.uint8)
scale4 = (hi - lo) / 15  # sq4: the same with 16 levels (64 bytes per 128-d row)
codes4 = np.round((x - lo) / scale4).astype(np.uint8)
# bit1: residual from the list centroid, one random rotation, sign bits; RaBitQ's estimator
# <o, q> ~ <sign(o)/sqrt(d), q> / <sign(o)/sqrt(d), o> for unit o (both rotated).
rot, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
rot = rot.astype(np.float32)
res = x - cent[assign]
rnorm = np.linalg.norm(res, axis=1)
o = (res / np.maximum(rnorm, 1e-12)[:, None]) @ rot.T
signs = np.where(o >= 0, 1.0, -1.0).astype(np.float32) / np.sqrt(DIM)
corr = np.sum(signs * o, axis=1)  # <o_bar, o>, ~0.8 in high dimension
print(f"bit1: mean <o_bar, o> {corr.mean():.3f}")

queries = rng.choice(ROWS, QUERIES, replace=False)
truth = [set(np.argpartition(-(x @ x[q]), 10)[:10]) for q in queries]


def recall(got, t):
    return len(set(got) & t) / 10


results = {}
for p in PROBES:
    acc = {}
    for qi, q in enumerate(queries):
        qv = x[q]
        lists = np.argpartition(-(cent @ qv), p)[:p]
        cand = np.concatenate([order[starts[l]:starts[l + 1]] for l in lists])
        exact = x[cand] @ qv
        top = cand[np.argsort(-exact, kind="stable")[:10]]
        acc.setdefault(("exact", 0), []).append(recall(top, truth[qi]))
        approx8 = (codes8[cand].astype(np.float32) * scale + lo) @ qv
        approx4 = (codes4[cand].astype(np.float32) * scale4 + lo) @ qv
        qrot = rot @ qv
        approx1 = (cent[assign[cand]] @ qv) + rnorm[cand] * ((signs[cand] @ qrot) / corr[cand])
        for name, approx in (("sq8", approx8), ("sq4", approx4), ("bit1", approx1)):
            for r in RERANK:
                first = cand[np.argpartition(-approx, min(r, len(cand) - 1))[:r]]
                top = first[np.argsort(-(x[first] @ qv), kind="stable")[:10]]
                acc.setdefault((name, r), []).append(recall(top, truth[qi]))
        acc.setdefault(("rows", 0), []).append(len(cand))
    results[p] = {k: float(np.mean(v)) for k, v in acc.items()}
    rows = results[p][("rows", 0)]
    line = " ".join(f"{n}{'/' + str(r) if r else ''} {v:.3f}" for (n, r), v in results[p].items() if n != "rows")
    print(f"probes {p:3d} ({rows:.0f} rows): {line}")
print(f"({time.time() - t0:.0f} s)")
