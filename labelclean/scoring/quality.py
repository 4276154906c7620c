"""Per-sample label-quality scores from a probability matrix and the given labels.

Every function takes ``labels`` (N,) and ``probs`` (N, K) positionally and returns one
value per sample. Unless said otherwise, **higher means the given label is more likely
correct**.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-12


def validate_probs(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and ranges once at a public boundary; return (int64 labels, float32 probs)."""
    labels = np.asarray(labels)
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"probs must be 2-D (N, K), got shape {probs.shape}")
    if labels.ndim != 1 or labels.shape[0] != probs.shape[0]:
        raise ValueError(f"labels must be (N,) with N = {probs.shape[0]} (rows of probs), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"labels must lie in [0, {probs.shape[1] - 1}], got [{labels.min()}, {labels.max()}]")
    if not np.all(np.isfinite(probs)):
        raise ValueError("probs contains NaN or infinite values")
    return labels.astype(np.int64, copy=False), probs.astype(np.float32, copy=False)


def validate_embeddings(X: np.ndarray, labels: np.ndarray, n_classes: int) -> None:
    """Check (N, D) embeddings against N labels in [0, n_classes) (for the label-fitting estimators)."""
    if X.ndim != 2 or X.shape[0] != labels.shape[0]:
        raise ValueError(f"X must be (N, D) with N = len(labels) = {labels.shape[0]}, got {X.shape}")
    if labels.size == 0:
        raise ValueError("no samples")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes - 1}]")


def given_prob(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """p(given label | x), shape (N,), in [0, 1]; higher = more likely correct (self-confidence)."""
    return probs[np.arange(labels.shape[0]), labels]


def consistency(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """p(given) / max_k p(k), shape (N,), in [0, 1]; 1 when the given label is the argmax.

    Higher = more likely correct. This is CLIPCleaner's consistency score (eq. 5).
    """
    return given_prob(labels, probs) / np.maximum(probs.max(axis=1), EPS)


def margin(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """p(given) - max_{k != given} p(k), shape (N,), in [-1, 1]; higher = more likely correct."""
    n = labels.shape[0]
    if probs.shape[1] == 1:
        return np.ones(n, dtype=np.float32)
    others = probs.copy()
    others[np.arange(n), labels] = -np.inf
    return given_prob(labels, probs) - others.max(axis=1)


def normalized_log_prob(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """log p(given), min-max normalised within each given class, shape (N,), in [0, 1].

    Higher = more likely correct (CLIPCleaner's per-class "loss" score). A class whose
    scores are all equal (or that has one sample) gets 1.0 for every sample: nothing
    in it stands out as suspect.
    """
    return per_class_log_minmax(labels, given_prob(labels, probs))


def per_class_log_minmax(labels: np.ndarray, p_given: np.ndarray) -> np.ndarray:
    """``normalized_log_prob`` from the (N,) p(given) alone; higher = more likely correct."""
    logp = np.log(np.maximum(p_given.astype(np.float64), EPS))
    out = np.ones(labels.shape[0], dtype=np.float64)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for idx in np.split(order, bounds):
        if idx.size == 0:
            continue
        lo, hi = logp[idx].min(), logp[idx].max()
        if hi - lo > 1e-9:
            out[idx] = (logp[idx] - lo) / (hi - lo)
    return out.astype(np.float32)


def top_k(probs: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The k most probable classes per sample, best first: (ids (N, k) int32, probs (N, k) float32).

    When K < k the missing slots are filled with id -1 and probability 0.
    """
    n, n_classes = probs.shape
    kk = min(k, n_classes)
    part = np.argpartition(-probs, kk - 1, axis=1)[:, :kk] if kk < n_classes else np.tile(np.arange(n_classes), (n, 1))
    vals = np.take_along_axis(probs, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    ids = np.full((n, k), -1, dtype=np.int32)
    top = np.zeros((n, k), dtype=np.float32)
    ids[:, :kk] = np.take_along_axis(part, order, axis=1)
    top[:, :kk] = np.take_along_axis(vals, order, axis=1)
    return ids, top


@dataclass
class ScoreColumns:
    """Everything `scores.parquet` stores per estimator (see schemas.SCORE_FIELDS)."""

    p_given: np.ndarray
    consistency: np.ndarray
    norm_logp: np.ndarray
    pred: np.ndarray
    top3_ids: np.ndarray
    top3_probs: np.ndarray
    margin: np.ndarray


def score_columns(labels: np.ndarray, probs: np.ndarray, rows: int = 1 << 16) -> ScoreColumns:
    """All per-sample scores of one estimator. Higher = more likely correct for every score.

    Computed ``rows`` rows at a time, so the temporaries stay small even at 10,000 classes.
    """
    labels = np.asarray(labels)
    return score_columns_blocks(labels, ((s, probs[s : s + rows]) for s in range(0, probs.shape[0], rows)),
                                n_classes=probs.shape[1])


def score_columns_blocks(labels: np.ndarray, blocks, *, n_classes: int) -> ScoreColumns:
    """``score_columns`` from consecutive (first row, (b, K) probabilities) blocks covering every row."""
    n = labels.shape[0]
    out = ScoreColumns(np.empty(n, np.float32), np.empty(n, np.float32), np.empty(0, np.float32),
                       np.empty(n, np.int32), np.empty((n, 3), np.int32), np.empty((n, 3), np.float32),
                       np.empty(n, np.float32))
    if n == 0:
        validate_probs(labels, np.zeros((0, n_classes), np.float32))
    for start, block in blocks:
        sl = slice(start, start + block.shape[0])
        lb, p = validate_probs(labels[sl], block)
        out.p_given[sl] = given_prob(lb, p)
        out.consistency[sl] = consistency(lb, p)
        out.pred[sl] = p.argmax(axis=1)
        out.top3_ids[sl], out.top3_probs[sl] = top_k(p, 3)
        out.margin[sl] = margin(lb, p)
    out.norm_logp = per_class_log_minmax(labels.astype(np.int64, copy=False), out.p_given)
    return out


def zero_shot_gap(agreement: dict[str, float], *, tolerance: float = 0.2) -> tuple[str, float] | None:
    """The image-only estimator that beats zero-shot by more than ``tolerance``, or None.

    ``agreement`` maps each estimator to the share of samples whose argmax is the given label.
    Label noise lowers every estimator's agreement alike (they all predict the true class), so a
    zero-shot agreement far below an image-only estimator's means the model's text side does not
    know these classes or images (a domain gap), not that the labels are wrong. Returns
    (estimator, its agreement) for the best image-only estimator when the gap exceeds ``tolerance``.
    """
    if "zeroshot" not in agreement:
        return None
    others = {k: v for k, v in agreement.items() if k != "zeroshot"}
    if not others:
        return None
    best = max(others, key=others.__getitem__)
    return (best, others[best]) if others[best] - agreement["zeroshot"] > tolerance else None
