"""How much to trust each estimator on *this* dataset, estimated without the true labels.

For estimator e, the other estimators' mean ranking score gives pseudo-truth: the
samples they rank most confidently clean and most confidently suspect (the top and
bottom ``tail`` share each, or fewer when the estimated noise rate is smaller). e's
reliability is the ROC-AUC of its own ranking score at separating those two groups:
1 = it agrees perfectly with the others' confident calls, 0.5 = chance. Errors that e
shares with the others inflate it, so this is a relative, not an absolute, measure.

Weights are (reliability - 0.5)_+ ** power, normalised to sum to 1; with a large power
the most reliable estimator dominates, so a useless member (reliability ~0.5) gets
weight ~0 and cannot drag the ensemble below the best member. One estimator alone
weighs 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.evaluation.metrics import roc_auc

POWER = 4.0  # chosen on Fashion-MNIST images 10,000-19,999 (the tuning split), see benchmarks/detect_quality.py
TAIL = 0.2  # at most this share of samples on each side of the pseudo-truth
MIN_WEIGHT = 1e-3  # floor before normalising, so every estimator keeps some say


@dataclass
class Reliability:
    reliability: dict[str, float]  # estimator -> pseudo-AUROC in [0, 1]
    weights: dict[str, float]  # estimator -> weight, summing to 1


def estimator_scores(labels: np.ndarray, probs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per estimator the ranking score sqrt(p(given) * consistency), higher = more likely clean."""
    rows = np.arange(labels.shape[0])
    out = {}
    for e, p in probs.items():
        pg = np.clip(p[rows, labels].astype(np.float64), 0.0, 1.0)
        out[e] = pg / np.sqrt(np.maximum(p.max(axis=1), 1e-12))
    return out


def estimate_reliability(
    labels: np.ndarray,
    probs: dict[str, np.ndarray],
    *,
    noise_rate: float | None = None,
    power: float = POWER,
    tail: float = TAIL,
) -> Reliability:
    """Reliability and ensemble weight of every estimator (see the module docstring).

    Parameters
    ----------
    labels : (N,) given class ids.
    probs : estimator name -> (N, K) probabilities.
    noise_rate : estimated share of wrong labels; the suspect side of the pseudo-truth
        takes min(tail, noise_rate) of the samples (default: tail).
    """
    names = list(probs)
    if len(names) == 1:
        return Reliability({names[0]: 1.0}, {names[0]: 1.0})
    scores = {e: _ranks(s) for e, s in estimator_scores(labels, probs).items()}
    n = labels.shape[0]
    low_share = tail if noise_rate is None else float(np.clip(noise_rate, 1.0 / max(n, 1), tail))
    rel = {}
    for e in names:
        others = np.mean([scores[o] for o in names if o != e], axis=0)
        order = np.argsort(others, kind="stable")
        n_low, n_high = max(1, int(round(low_share * n))), max(1, int(round(tail * n)))
        low, high = order[:n_low], order[n - n_high :]
        idx = np.r_[low, high]
        positive = np.r_[np.zeros(low.size, bool), np.ones(high.size, bool)]
        auc = roc_auc(positive, scores[e][idx])
        rel[e] = 0.5 if auc is None else float(auc)
    raw = {e: max(rel[e] - 0.5, 0.0) ** power + MIN_WEIGHT for e in names}
    total = sum(raw.values())
    return Reliability(rel, {e: raw[e] / total for e in names})


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties share their mean rank), so estimators mix on one scale."""
    order = np.argsort(x, kind="stable")
    sx = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sx) != 0) + 1]
    ends = np.r_[starts[1:], sx.size]
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((starts + ends - 1) / 2.0, ends - starts)
    return ranks / max(x.size - 1, 1)
