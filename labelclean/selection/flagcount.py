"""How many samples ``--method ensemble`` flags under ``--flag-count mixture`` (pure numpy).

The given label of every sample is modelled as drawn from the ensemble's probabilities or,
with probability w_0, uniformly at random (a wrong-label component):
p(given_i) = (1 - w_0) p_ens(given_i) + w_0 / K, w_0 fitted by EM on the given labels
(``reliability.reliability_weights`` with the ensemble as the one estimator; every
estimator is out-of-sample for the label it scores). A sample's posterior of a wrong label
is then

    q_i = (K - 1) / K * (w_0 / K) / (w_0 / K + (1 - w_0) p_ens(given_i))

(the uniform component draws the right label once in K), and the estimated noise rate is
mean(q) = w_0 (K - 1) / K (``mixture_noise_rate``). ``mixture`` flags that many samples, lowest ``clean_score``
first. The model assumes wrong labels that look random to the ensemble; when they are
structured (a look-alike class, noise that depends on the image) the ensemble learns to
predict them and w_0 collapses (Fashion-MNIST tuning split: 0.06 for a true 0.24 under
asym 40 %, 0.00 for 0.40 under instance 40 %, while the confident joint still counts 0.29
and 0.16). So when the mixture's estimate is under ``STRUCTURED_RATIO`` times the
confident joint's, the count is left to the criteria (``criteria_decide``).

q is higher = more likely wrong; the flagged set is a prefix of the ``clean_score`` ranking
(``scoring.confident.lowest_share_pass``).
"""

from __future__ import annotations

import numpy as np

from labelclean.selection.reliability import reliability_from_given

STRUCTURED_RATIO = 0.5  # chosen on the tuning split (README, Benchmarks): structured 0.0-0.21, uniform-like 0.70-0.94


def mixture_noise_rate(labels: np.ndarray, probs: np.ndarray) -> float:
    """The uniform-noise mixture's estimate of the share of wrong labels, w_0 (K - 1) / K, in [0, 1).

    Parameters
    ----------
    labels : (N,) given class ids.
    probs : (N, K) ensemble probabilities, out-of-sample for the labels they score.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n, k = probs.shape
    return mixture_rate_from_given(probs[np.arange(n), labels], k)


def mixture_rate_from_given(p_given: np.ndarray, n_classes: int) -> float:
    """``mixture_noise_rate`` from the ensemble's (N,) p(given) alone (all the fit uses)."""
    k = int(n_classes)
    if p_given.shape[0] == 0 or k < 2:
        return 0.0
    share = reliability_from_given({"ensemble": p_given}, k).reliability["ensemble"]
    return float(np.clip(1.0 - share, 0.0, 1.0)) * (k - 1) / k


def criteria_decide(mixture_rate: float, confident_rate: float) -> bool:
    """True when the wrong labels look structured: the mixture estimate < STRUCTURED_RATIO x the confident joint's."""
    return mixture_rate < STRUCTURED_RATIO * confident_rate
