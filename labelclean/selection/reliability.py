"""How much to trust each estimator on *this* dataset, estimated without the true labels.

The weights maximise the held-out likelihood of the given labels under a mixture of the
estimators and a uniform "wrong label" component (``reliability_weights``). A first
attempt -- each estimator's ROC-AUC against the other estimators' most confident calls --
gave every estimator the same weight on Fashion-MNIST (those calls are easy for all of
them), so it was dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Reliability:
    reliability: dict[str, float]  # estimator -> its share of the mixture (the uniform component has the rest)
    weights: dict[str, float]  # estimator -> weight in the ensemble, summing to 1


def estimator_scores(labels: np.ndarray, probs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per estimator the ranking score sqrt(p(given) * consistency), higher = more likely clean."""
    rows = np.arange(labels.shape[0])
    out = {}
    for e, p in probs.items():
        pg = np.clip(p[rows, labels].astype(np.float64), 0.0, 1.0)
        out[e] = pg / np.sqrt(np.maximum(p.max(axis=1), 1e-12))
    return out


def reliability_weights(labels: np.ndarray, probs: dict[str, np.ndarray], *, n_classes: int | None = None,
                       iterations: int = 300, tol: float = 1e-8) -> Reliability:
    """Mixture weights maximising the likelihood of the *given* labels, with a uniform noise component.

    p(given_i) = w_0 / K + Σ_e w_e p_e(given_i | x_i). Every estimator's probabilities are
    out-of-sample for the label they score (zeroshot never sees labels, logreg/robust are
    out-of-fold, knn and multimodal exclude the sample), so this is a held-out fit of the
    noisy labels. The uniform component absorbs the wrong labels (else a flat, useless
    estimator would be rewarded for "explaining" them), so w_e measures how well e predicts
    the labels that look right. Concave in w; fitted by EM. Returns the estimators' weights
    renormalised to sum to 1 and, as reliability, each estimator's share before
    renormalising (the uniform component's share is ``1 - sum``).
    """
    k = int(n_classes or next(iter(probs.values())).shape[1])
    rows = np.arange(labels.shape[0])
    return reliability_from_given({e: p[rows, labels] for e, p in probs.items()}, k, iterations=iterations, tol=tol)


def reliability_from_given(given: dict[str, np.ndarray], n_classes: int, *, iterations: int = 300,
                           tol: float = 1e-8) -> Reliability:
    """``reliability_weights`` from each estimator's (N,) p(given) alone (all the fit uses)."""
    names = list(given)
    k = int(n_classes)
    n = next(iter(given.values())).shape[0]
    lik = np.stack([np.clip(given[e].astype(np.float64), 0.0, 1.0) for e in names]
                   + [np.full(n, 1.0 / k)])  # (E + 1, N), the last row is the noise component
    w = np.full(lik.shape[0], 1.0 / lik.shape[0])
    prev = -np.inf
    for _ in range(iterations):
        mix = np.maximum(w @ lik, 1e-300)
        ll = float(np.mean(np.log(mix)))
        w = (w[:, None] * lik / mix[None, :]).mean(axis=1)
        if ll - prev < tol:
            break
        prev = ll
    share = {e: float(w[j]) for j, e in enumerate(names)}
    total = sum(share.values())
    weights = {e: (v / total if total > 0 else 1.0 / len(names)) for e, v in share.items()}
    return Reliability(share, weights)
