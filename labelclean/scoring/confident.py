"""Confident-learning noise-rate pruning (Northcutt et al., JAIR 2021), re-implemented in numpy.

The confident joint C[i, j] counts samples labelled i whose probability of class j
reaches class j's threshold t_j (the mean p(j) over samples labelled j), calibrated so
that row i sums to the number of samples labelled i. Off-diagonal C[i, j] estimates how
many samples labelled i really belong to j; that many of them, those with the largest
margin p(j) - p(i), are flagged.
"""

from __future__ import annotations

import numpy as np


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(K, K) calibrated confident joint; row i sums to the count of label i."""
    n, k = probs.shape
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=probs[np.arange(n), labels], minlength=k)
    thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    above = probs >= thresholds[None, :]
    confident = above.any(axis=1)
    guess = np.where(above, probs, -1.0).argmax(axis=1)
    joint = np.zeros((k, k), dtype=np.float64)
    np.add.at(joint, (labels[confident], guess[confident]), 1.0)
    rows = joint.sum(axis=1, keepdims=True)
    return np.where(rows > 0, joint / np.maximum(rows, 1) * counts[:, None], 0.0)


def noise_rate_pass(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(N,) bool, True = not pruned. Pruning follows the module docstring.

    Parameters
    ----------
    labels : (N,) given class ids.
    probs : (N, K) class probabilities (out-of-sample for label-trained estimators).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n, k = probs.shape
    keep = np.ones(n, dtype=bool)
    if k < 2 or n == 0:
        return keep
    joint = confident_joint(labels, probs)
    for i in range(k):
        idx = np.flatnonzero(labels == i)
        for j in np.flatnonzero(np.round(joint[i]) > 0):
            if j == i:
                continue
            m = min(int(round(joint[i, j])), idx.size)
            margin = probs[idx, j] - probs[idx, i]
            keep[idx[np.argsort(-margin, kind="stable")[:m]]] = False
    return keep


def estimated_noise_rate(labels: np.ndarray, probs: np.ndarray) -> float:
    """Share of wrong labels estimated from the confident joint: 1 - trace(C) / N, in [0, 1]."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0 or probs.shape[1] < 2:
        return 0.0
    joint = confident_joint(labels, probs)
    return float(np.clip(1.0 - np.trace(joint) / labels.size, 0.0, 1.0))


def lowest_share_pass(score: np.ndarray, share: float) -> np.ndarray:
    """(N,) bool, True = kept: all but the round(share * N) lowest-scored samples (ties: earliest kept).

    ``score`` is higher = more likely clean, so the flagged set tracks an estimated noise rate.
    """
    score = np.asarray(score)
    n = score.shape[0]
    m = int(round(float(np.clip(share, 0.0, 1.0)) * n))
    keep = np.ones(n, dtype=bool)
    if m:
        keep[np.argsort(score, kind="stable")[:m]] = False
    return keep
