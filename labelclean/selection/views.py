"""The per-sample numbers `select` needs of each estimator, gathered in one pass over row blocks.

Everything select decides from a single estimator uses only: p(given) (self-confidence,
higher = more likely clean), the largest class probability, the argmax, and — for relabel
suggestions — the probability the estimator gives the *first* estimator's argmax. So one
pass over a ``selection.source`` keeps those (about 20 bytes a sample and estimator) and the
matrices themselves are never held; ``others_pred`` is the argmax of the mean of the
estimators other than knn, which sets knn's fixed weight (``combine.estimator_weights``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.selection.source import ProbSource


@dataclass
class EstimatorView:
    p_given: np.ndarray  # (N,) float32 p(given | x); higher = more likely correct
    p_max: np.ndarray  # (N,) float32 max_k p(k | x)
    pred: np.ndarray  # (N,) int64 argmax_k p(k | x)
    p_lead: np.ndarray  # (N,) float32 p(lead's argmax | x), lead = the source's first estimator

    @property
    def consistency(self) -> np.ndarray:
        """p(given) / max_k p(k) in [0, 1] (CLIPCleaner eq. 5); higher = more likely correct."""
        from labelclean.scoring.quality import EPS

        return self.p_given / np.maximum(self.p_max, EPS)


@dataclass
class Views:
    est: dict[str, EstimatorView]
    others_pred: np.ndarray | None  # (N,) argmax of the non-knn estimators' mean; None without knn + others

    def given(self) -> dict[str, np.ndarray]:
        return {e: v.p_given for e, v in self.est.items()}


def summarize(labels: np.ndarray, source: ProbSource) -> Views:
    """One pass over ``source``: every estimator's EstimatorView (rows = ``labels``' order)."""
    n = source.n
    names = source.names
    out = {e: EstimatorView(np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.int64),
                            np.empty(n, np.float32)) for e in names}
    others = [e for e in names if e != "knn"]
    others_pred = np.empty(n, np.int64) if "knn" in names and others else None
    for start, block in source.blocks():
        b = next(iter(block.values())).shape[0]
        rows, sl = np.arange(b), slice(start, start + b)
        lb = labels[sl]
        lead = block[names[0]].argmax(axis=1)
        for e in names:
            p = block[e]
            v = out[e]
            v.p_given[sl] = p[rows, lb]
            v.p_max[sl] = p.max(axis=1)
            v.pred[sl] = lead if e == names[0] else p.argmax(axis=1)
            v.p_lead[sl] = p[rows, lead]
        if others_pred is not None:
            others_pred[sl] = np.mean([block[e] for e in others], axis=0).argmax(axis=1)
    return Views(out, others_pred)


def from_arrays(labels: np.ndarray, probs: dict[str, np.ndarray]) -> Views:
    """``summarize`` of matrices in memory (one block)."""
    from labelclean.selection.source import ArraySource

    return summarize(np.asarray(labels, dtype=np.int64), ArraySource(probs))
