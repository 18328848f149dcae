"""The `targets` input of the train-step graph: each view's target distribution over the 2N views.

Views are numbered as the graph concatenates them: rows 0..N-1 are view1 (one per batch
image), rows N..2N-1 view2 (view1 row k's partner is row k+N).  Each row is non-negative,
sums to 1 and has a zero diagonal; the loss is the mean over views of the cross-entropy
of the view's softmax (over the other views) against its row (models/generate.py,
ntxent_forward_backward).  src/engine/train.rs builds the same matrices.
"""
import numpy as np


def simclr_targets(n):
    """SimCLR (and label pairs without SupCon): one-hot on the partner view."""
    t = np.zeros((2 * n, 2 * n), np.float32)
    t[np.arange(n), np.arange(n) + n] = 1
    t[np.arange(n) + n, np.arange(n)] = 1
    return t


def supcon_targets(labels):
    """Supervised contrastive targets (Khosla et al. 2020, L_out) for a batch of N images
    whose view2 shows an image of the same label as view1 (label pairs).  labels: N
    integers, negative = unlabelled.  A view's positives are every other view whose image
    has its label (so always its partner), each weighted 1/|positives|; an unlabelled
    image's views keep the one-hot row of SimCLR."""
    labels = np.asarray(labels)
    n = len(labels)
    both = np.concatenate([labels, labels])
    t = ((both[:, None] == both[None, :]) & (both[:, None] >= 0)).astype(np.float32)
    np.fill_diagonal(t, 0)
    t = np.maximum(t, simclr_targets(n))
    return t / t.sum(1, keepdims=True)
