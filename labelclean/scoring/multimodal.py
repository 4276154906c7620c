"""Multimodal-neighbour label-error scores after LEMoN (Zhang et al., ICML 2025).

For a sample with image embedding x and label y, with t_c the class text embedding
(the normalised mean of class c's prompt embeddings) and d(a, b) = 1 - cos(a, b):

- d1 = d(x, t_y): how far the image is from its label's text;
- d_n = mean over the k nearest other *images* j of
  exp(-tau1 * d(x, x_j)) * exp(-tau2 * d_own(j)) * d(t_y, t_{y_j}),
  where d_own(j) = d(x_j, t_{y_j}) (a neighbour that looks mislabelled counts less) and
  d(t_y, t_{y_j}) is 0 for the same label;
- d_m = mean over the k nearest samples in *text* space (samples whose label text is
  closest to y's: with one prompt set per class these are samples labelled y, ties
  broken by image similarity) of exp(-tau1 * d(t_y, t_{y_j})) * exp(-tau2 * d_own(j)) * d(x, x_j);
- score = d1 + beta * d_n + gamma * d_m, **higher = more likely mislabelled**.

Without text embeddings (imported features) only the image-neighbour term applies,
with d(t_y, t_{y_j}) replaced by the 0/1 label disagreement and no d_own weighting.

``multimodal_probs`` evaluates the same score for every candidate class c in place of
y and returns softmax(-score_c / temperature) over classes, so the estimator has an
(N, K) probability matrix like the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.scoring.neighbors import self_search


@dataclass(frozen=True)
class MultimodalOptions:
    """Fixed defaults (no validation set needed); see README's method section."""

    k: int = 10
    tau1: float = 5.0  # neighbour weight exp(-tau1 * distance to the neighbour)
    tau2: float = 5.0  # neighbour weight exp(-tau2 * the neighbour's own image-text distance)
    beta: float = 1.0  # weight of the image-neighbour term d_n
    gamma: float = 1.0  # weight of the text-neighbour term d_m
    temperature: float = 0.05  # softmax(-score / temperature) over classes
    backend: str = "auto"  # neighbour search backend (scoring.neighbors)
    block_size: int = 4096


@dataclass
class MultimodalResult:
    probs: np.ndarray  # (N, K) float32, higher = more likely that class
    score: np.ndarray  # (N,) float32 LEMoN score of the given label, higher = more likely mislabelled
    d1: np.ndarray | None  # (N,) image-to-label-text distance (None without text)
    d_n: np.ndarray  # (N,) image-neighbour term
    d_m: np.ndarray | None  # (N,) text-neighbour term (None without text)
    search: str  # neighbour search method used


def multimodal_probs(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int | None = None,
    class_text: np.ndarray | None = None,
    seed: int = 0,
    options: MultimodalOptions = MultimodalOptions(),
) -> MultimodalResult:
    """LEMoN scores of the given labels and a probability matrix over classes.

    Parameters
    ----------
    X : (N, D) float32 image embeddings, L2-normalised.
    labels : (N,) given class ids in [0, K).
    class_text : (K, D) L2-normalised class text embeddings, or None (image-only form).

    Returns
    -------
    MultimodalResult: ``score`` higher = more likely mislabelled; ``probs`` (N, K),
    higher = more likely that class.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    _validate(X, labels, n_classes, class_text, options)
    n = X.shape[0]
    if n < 2:
        return _trivial(n, n_classes)
    nb = self_search(X, k=min(options.k + 1, n), backend=options.backend, seed=seed)
    idx, sims = _drop_self(nb.idx, nb.sims)
    w = np.exp(-options.tau1 * (1.0 - sims)) * (idx >= 0)
    idx = np.maximum(idx, 0)
    if class_text is None:
        text_dist = 1.0 - np.eye(n_classes)
        own = np.zeros(n)
        d1_all = np.zeros((n, n_classes))
    else:
        T = np.asarray(class_text, dtype=np.float32)
        text_dist = 1.0 - (T @ T.T).astype(np.float64)
        d1_all = 1.0 - (X @ T.T).astype(np.float64)
        own = d1_all[np.arange(n), labels]
        w = w * np.exp(-options.tau2 * own[idx])
    # d_n for every candidate class c: mean_j w_j * d(t_c, t_{y_j})
    votes = np.zeros((n, n_classes))
    np.add.at(votes, (np.repeat(np.arange(n), idx.shape[1]), labels[idx].reshape(-1)), w.reshape(-1))
    dn_all = votes @ text_dist / options.k
    total = d1_all + options.beta * dn_all
    dm_all = None
    if class_text is not None and options.gamma:
        dm_all = _text_neighbour_terms(X, labels, n_classes, own, options)
        total = total + options.gamma * dm_all
    rows = np.arange(n)
    probs = _softmax(-total / options.temperature)
    return MultimodalResult(
        probs=probs,
        score=total[rows, labels].astype(np.float32),
        d1=None if class_text is None else d1_all[rows, labels].astype(np.float32),
        d_n=dn_all[rows, labels].astype(np.float32),
        d_m=None if dm_all is None else dm_all[rows, labels].astype(np.float32),
        search=nb.method,
    )


def _text_neighbour_terms(X, labels, n_classes, own, options) -> np.ndarray:
    """(N, K): for each class c, the weighted mean image distance to the k closest samples labelled c.

    Samples labelled c are at text distance 0 from c, so exp(-tau1 * 0) = 1 and only the
    d_own weighting remains. A sample is never its own neighbour.
    """
    n = X.shape[0]
    out = np.zeros((n, n_classes), dtype=np.float64)
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        if members.size == 0:
            out[:, c] = 2.0  # no sample carries this label: as far as cosine distance goes
            continue
        weight = np.exp(-options.tau2 * own[members])
        for start in range(0, n, options.block_size):
            rows = np.arange(start, min(start + options.block_size, n))
            dist = 1.0 - (X[rows] @ X[members].T).astype(np.float64)
            dist[rows[:, None] == members[None, :]] = np.inf  # exclude the sample itself
            kk = min(options.k, members.size)
            part = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
            d = np.take_along_axis(dist, part, axis=1)
            finite = np.isfinite(d)
            out[rows, c] = np.where(finite, weight[part] * np.where(finite, d, 0.0), 0.0).sum(axis=1) / options.k
    return out


def _drop_self(idx: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own entry (or its last one when the search did not return itself)."""
    n, kk = idx.shape
    is_self = idx == np.arange(n)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), kk - 1)
    keep = np.ones_like(is_self)
    keep[np.arange(n), drop] = False
    return idx[keep].reshape(n, kk - 1), sims[keep].reshape(n, kk - 1).astype(np.float64)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _trivial(n: int, n_classes: int) -> MultimodalResult:
    zeros = np.zeros(n, dtype=np.float32)
    return MultimodalResult(np.full((n, n_classes), 1.0 / n_classes, dtype=np.float32), zeros, None, zeros, None, "none")


def _validate(X, labels, n_classes, class_text, options) -> None:
    if X.ndim != 2 or X.shape[0] != labels.shape[0]:
        raise ValueError(f"X must be (N, D) with N = len(labels) = {labels.shape[0]}, got {X.shape}")
    if labels.size == 0:
        raise ValueError("no samples")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes - 1}]")
    if class_text is not None and np.shape(class_text) != (n_classes, X.shape[1]):
        raise ValueError(f"class_text must be ({n_classes}, {X.shape[1]}), got {np.shape(class_text)}")
    if options.k < 1 or not options.temperature > 0:
        raise ValueError("k must be >= 1 and temperature > 0")
    if min(options.tau1, options.tau2, options.beta, options.gamma) < 0:
        raise ValueError("tau1, tau2, beta and gamma must be >= 0")
