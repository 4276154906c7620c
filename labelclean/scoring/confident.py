"""Confident-learning noise-rate pruning (Northcutt et al., JAIR 2021), re-implemented in numpy.

The confident joint C[i, j] counts samples labelled i whose probability of class j
reaches class j's threshold t_j (the mean p(j) over samples labelled j), calibrated so
that row i sums to the number of samples labelled i. Off-diagonal C[i, j] estimates how
many samples labelled i really belong to j; that many of them, those with the largest
margin p(j) - p(i), are flagged.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


Blocks = Iterable[tuple[int, np.ndarray]]  # (first row, (b, K) probabilities of rows first .. first + b - 1)


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(K, K) calibrated confident joint; row i sums to the count of label i."""
    labels = np.asarray(labels, dtype=np.int64)
    return confident_joint_blocks(labels, probs[np.arange(labels.shape[0]), labels], [(0, probs)], probs.shape[1])


def confident_joint_blocks(labels: np.ndarray, given: np.ndarray, blocks: Blocks, n_classes: int) -> np.ndarray:
    """``confident_joint`` over row blocks of the probabilities; ``given`` = (N,) p(given), the thresholds' input."""
    k = int(n_classes)
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=given, minlength=k)
    thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    joint = np.zeros((k, k), dtype=np.float64)
    for start, probs in blocks:
        lb = labels[start : start + probs.shape[0]]
        above = probs >= thresholds[None, :]
        confident = above.any(axis=1)
        guess = np.where(above, probs, -1.0).argmax(axis=1)
        np.add.at(joint, (lb[confident], guess[confident]), 1.0)
        del above
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
    if k < 2 or n == 0:
        return np.ones(n, dtype=bool)
    return prune_blocks(labels, confident_joint(labels, probs), [(0, probs)])


def prune_blocks(labels: np.ndarray, joint: np.ndarray, blocks: Blocks) -> np.ndarray:
    """``noise_rate_pass`` given the joint, over row blocks of the probabilities (one pass).

    For every pair (i, j != i) with round(C[i, j]) = m > 0, the m samples labelled i with
    the largest margin p(j) - p(i) are pruned (ties: the earlier row first). Across blocks
    only each pair's best m candidates so far are kept, so memory is about the number pruned.
    """
    n, k = labels.shape[0], joint.shape[0]
    counts = np.bincount(labels, minlength=k)
    pairs: dict[int, list[tuple[int, int]]] = {}
    for i in range(k):
        for j in np.flatnonzero(np.round(joint[i]) > 0):
            if j != i:
                pairs.setdefault(i, []).append((int(j), min(int(round(joint[i, j])), int(counts[i]))))
    best: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for start, probs in blocks:
        lb = labels[start : start + probs.shape[0]]
        order = np.argsort(lb, kind="stable")
        cuts = np.flatnonzero(np.diff(lb[order])) + 1
        for rows in np.split(order, cuts) if order.size else []:
            i = int(lb[rows[0]])
            if i not in pairs:
                continue
            sub = probs[rows]
            for j, m in pairs[i]:
                margin = sub[:, j] - sub[:, i]
                idx = rows + start
                if (i, j) in best:
                    idx, margin = np.concatenate([best[i, j][0], idx]), np.concatenate([best[i, j][1], margin])
                best[i, j] = _largest(idx, margin, m)
    keep = np.ones(n, dtype=bool)
    for idx, _ in best.values():
        keep[idx] = False
    return keep


def _largest(idx: np.ndarray, margin: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The m entries of largest margin (ties: smaller idx first), as (idx, margin)."""
    if margin.size > m:
        cut = np.partition(-margin, m - 1)[m - 1]  # the m-th largest margin, negated
        near = np.flatnonzero(-margin <= cut)  # every entry that can be among the m (ties included)
        idx, margin = idx[near], margin[near]
    take = np.lexsort((idx, -margin))[:m]
    return idx[take], margin[take]


def estimated_noise_rate(labels: np.ndarray, probs: np.ndarray) -> float:
    """Share of wrong labels estimated from the confident joint: 1 - trace(C) / N, in [0, 1]."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0 or probs.shape[1] < 2:
        return 0.0
    return noise_rate_of(confident_joint(labels, probs), labels.size)


def noise_rate_of(joint: np.ndarray, n: int) -> float:
    """1 - trace(C) / N, in [0, 1] (0 for no samples)."""
    return float(np.clip(1.0 - np.trace(joint) / n, 0.0, 1.0)) if n else 0.0


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
