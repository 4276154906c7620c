"""Class probabilities from a distance-weighted vote of each sample's nearest neighbours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.scoring.neighbors import EXACT_MAX, self_search
from labelclean.scoring.quality import validate_embeddings


@dataclass(frozen=True)
class KnnOptions:
    k: int = 10
    backend: str = "auto"  # auto | faiss | torch | numpy
    exact_max: int = EXACT_MAX  # exact search up to this many unique vectors, IVF above
    nprobe: int | None = None
    approx: str | None = None  # approximate index above exact_max (neighbors.APPROX_KINDS); None: neighbors.APPROX
    weight_temperature: float = 0.1  # neighbour weight exp((sim - best_sim) / t)
    prior: float = 1.0  # pseudo-count spread uniformly over classes (no probability is 0)


@dataclass
class KnnResult:
    probs: np.ndarray  # (N, K) float32
    method: str  # search backend actually used


def knn_probs(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int | None = None,
    groups: np.ndarray | None = None,
    seed: int = 0,
    options: KnnOptions = KnnOptions(),
) -> KnnResult:
    """p(k | x) from the labels of the ``k`` most similar other samples (cosine).

    Identical files vote once: samples sharing a ``groups`` value (e.g. the sample_id of
    the canonical file) are searched as one vector, a group never votes for its own
    members, and a group's vote is split over its members' labels. The vote of neighbour
    j is weighted by exp((s_j - s_1) / t), s_1 being the closest neighbour's similarity;
    ``prior`` pseudo-votes are spread uniformly so that no class gets probability 0:
    p(k|x) = (Σ_j w_j [y_j = k] + prior / K) / (Σ_j w_j + prior).

    Parameters
    ----------
    X : (N, D) float16 or float32, L2-normalised.
    labels : (N,) given class ids in [0, K).
    groups : (N,) group key per sample (duplicates share one); default: every sample alone.

    Returns
    -------
    KnnResult: probs (N, K) float32, higher = more neighbours of that class; method used.
    """
    X = X if X.dtype in (np.float16, np.float32) else np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    _validate(X, labels, n_classes, groups, options)
    keys = np.arange(len(labels)) if groups is None else np.asarray(groups)
    _, rep, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    group_labels = _group_label_matrix(inverse, labels, len(rep), n_classes)
    n_groups = len(rep)
    if n_groups < 2:
        return KnnResult(np.full((len(labels), n_classes), 1.0 / n_classes, dtype=np.float32), "none")
    kk = min(options.k + 1, n_groups)
    reps = X if rep.size == X.shape[0] and (rep == np.arange(rep.size)).all() else X[rep]  # no copy when no duplicates
    nb = self_search(
        reps, k=kk, backend=options.backend, exact_max=options.exact_max, nprobe=options.nprobe, seed=seed,
        approx=options.approx,
    )
    idx, w = _drop_self(nb.idx, nb.sims, options.weight_temperature)
    votes = _vote(idx, w, group_labels, n_classes)
    votes += options.prior / n_classes
    probs = votes / votes.sum(axis=1, keepdims=True)
    return KnnResult(probs[inverse].astype(np.float32), nb.method)


def _validate(X, labels, n_classes, groups, options) -> None:
    validate_embeddings(X, labels, n_classes)
    if groups is not None and len(groups) != len(labels):
        raise ValueError(f"groups must have one entry per sample ({len(labels)}), got {len(groups)}")
    if options.k < 1:
        raise ValueError(f"k must be >= 1, got {options.k}")
    if not options.weight_temperature > 0 or not options.prior > 0:
        raise ValueError("weight_temperature and prior must be > 0")


def _group_label_matrix(inverse: np.ndarray, labels: np.ndarray, n_groups: int, n_classes: int):
    """(groups, K) sparse matrix: the share of each label among a group's members."""
    from scipy.sparse import csr_matrix

    counts = csr_matrix((np.ones(len(labels)), (inverse, labels)), shape=(n_groups, n_classes))
    sizes = np.asarray(counts.sum(axis=1)).reshape(-1)
    return csr_matrix(counts.multiply(1.0 / sizes[:, None]))


def _drop_self(idx: np.ndarray, sims: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero the weight of each row's own entry (or of its last one when absent, keeping k)."""
    n, kk = idx.shape
    is_self = idx == np.arange(n)[:, None]
    is_self |= idx < 0  # faiss pads with -1 when it finds fewer than k
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), kk - 1)
    keep = np.ones_like(is_self)
    keep[np.arange(n), drop] = False
    keep &= idx >= 0
    idx = np.where(keep, idx, 0)
    s = np.where(keep, sims, -np.inf)
    best = s.max(axis=1, keepdims=True)
    w = np.where(keep, np.exp((s - np.where(np.isfinite(best), best, 0.0)) / temperature), 0.0)
    return idx, w


def _vote(idx: np.ndarray, w: np.ndarray, group_labels, n_classes: int) -> np.ndarray:
    from scipy.sparse import csr_matrix

    n, kk = idx.shape
    rows = np.repeat(np.arange(n), kk)
    weights = csr_matrix((w.reshape(-1), (rows, idx.reshape(-1))), shape=(n, group_labels.shape[0]))
    return np.asarray((weights @ group_labels).todense(), dtype=np.float64)
