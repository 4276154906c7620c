"""Relabel suggestions, "none of these classes" outliers, and class-level summaries."""

from __future__ import annotations

from collections import Counter

import numpy as np

from labelclean.selection.views import Views, from_arrays


def suggest_labels(
    labels: np.ndarray, probs: "dict[str, np.ndarray] | Views", *, theta: float
) -> tuple[np.ndarray, np.ndarray]:
    """A different class that every estimator ranks first, with mean probability >= theta.

    Parameters
    ----------
    labels : (N,) given class ids.
    probs : estimator name -> (N, K) probabilities, or their ``selection.views.Views``.
    theta : minimum mean (over estimators) probability of the suggested class.

    Returns
    -------
    (suggested (N,) int64, -1 when none; confidence (N,) float32, NaN when none). The
    confidence is the mean over estimators of p(suggested); higher = surer.
    """
    labels = np.asarray(labels, dtype=np.int64)
    views = probs if isinstance(probs, Views) else from_arrays(labels, probs) if probs else None
    n = labels.shape[0]
    if views is None or not views.est:
        return np.full(n, -1, dtype=np.int64), np.full(n, np.nan, dtype=np.float32)
    est = list(views.est.values())
    cand = est[0].pred
    agree = np.logical_and.reduce([v.pred == cand for v in est])
    conf = np.mean([v.p_lead for v in est], axis=0)
    ok = agree & (cand != labels) & (conf >= theta)
    return np.where(ok, cand, -1).astype(np.int64), np.where(ok, conf, np.nan).astype(np.float32)


def best_probability(probs: "dict[str, np.ndarray] | Views") -> np.ndarray:
    """(N,) the highest class probability any estimator gives the sample."""
    if isinstance(probs, Views):
        mats = [v.p_max for v in probs.est.values()]
    else:
        mats = [p.max(axis=1) for p in probs.values()]
    if not mats:
        raise ValueError("needs at least one estimator")
    return np.max(mats, axis=0)


def default_outlier_threshold(best: np.ndarray, n_classes: int) -> float:
    """min(2 / K, half the median of ``best``).

    2 / K is twice the uniform probability (0.2 for 10 classes). Estimators fitted on
    noisy labels are flat everywhere when the noise is heavy, so the threshold also
    stays below half of a typical sample's confidence.
    """
    typical = float(np.median(best)) if best.size else 1.0
    return min(2.0 / max(n_classes, 1), 0.5 * typical)


def outliers(probs: dict[str, np.ndarray], *, theta: float) -> np.ndarray:
    """(N,) bool: no estimator gives any class probability >= theta ("none of these classes")."""
    return best_probability(probs) < theta


def duplicate_conflicts(groups: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) bool: the sample shares its file with a sample that has another given label."""
    _, inverse = np.unique(groups, return_inverse=True)
    inverse = inverse.reshape(-1)
    lo = np.full(inverse.max() + 1 if inverse.size else 0, np.iinfo(np.int64).max)
    hi = np.full_like(lo, np.iinfo(np.int64).min)
    np.minimum.at(lo, inverse, labels)
    np.maximum.at(hi, inverse, labels)
    return (lo != hi)[inverse]


def per_class_flag_rate(labels: np.ndarray, clean: np.ndarray, class_names: list[str]) -> list[dict]:
    """Estimated noise rate per class: the fraction of its samples that are flagged."""
    out = []
    for c, name in enumerate(class_names):
        n = int((labels == c).sum())
        flagged = int(((labels == c) & ~clean).sum())
        out.append({"class_id": c, "class": name, "samples": n, "flagged": flagged, "rate": flagged / n if n else 0.0})
    return out


def confused_pairs(
    labels: np.ndarray, suggested: np.ndarray, mask: np.ndarray, class_names: list[str], top: int = 10
) -> list[dict]:
    """The most frequent (given -> suggested) pairs among ``mask`` samples that have a suggestion."""
    sel = mask & (suggested >= 0)
    pairs = Counter(zip(labels[sel].tolist(), suggested[sel].tolist()))
    return [
        {"given": class_names[g], "suggested": class_names[s], "count": n}
        for (g, s), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    ]
