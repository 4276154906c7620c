"""The flagged count of --method ensemble: the uniform-noise mixture estimate, its fallback to the criteria."""

import numpy as np
import pytest

from labelclean.evaluation.noise import asymmetric_noise, symmetric_noise
from labelclean.selection import SelectionOptions, select_samples
from labelclean.selection.flagcount import STRUCTURED_RATIO, criteria_decide, mixture_noise_rate

K = 5
TRUTH = np.repeat(np.arange(K), 200)


def _confident(truth, sure=0.96, seed=0):
    """(N, K) probabilities that put ``sure`` on the true class and spread the rest at random."""
    rng = np.random.default_rng(seed)
    rest = rng.dirichlet(np.ones(K - 1), size=truth.size) * (1 - sure)
    p = np.empty((truth.size, K), dtype=np.float32)
    for i, t in enumerate(truth):
        p[i, t] = sure
        p[i, np.arange(K) != t] = rest[i]
    return p


def test_a_perfect_estimator_gives_the_true_noise_rate():
    y = symmetric_noise(TRUTH, n_classes=K, rate=0.2, seed=0).labels
    p = np.zeros((TRUTH.size, K), dtype=np.float32)
    p[np.arange(TRUTH.size), TRUTH] = 1.0
    # the mixture's optimum is w_0 = rate * K / (K - 1): the uniform component also draws right labels
    assert mixture_noise_rate(y, p) == pytest.approx(0.2, abs=1e-4)
    assert mixture_noise_rate(TRUTH, p) == pytest.approx(0.0, abs=1e-4)
    assert mixture_noise_rate(np.zeros(0, dtype=int), np.zeros((0, K))) == 0.0


def test_an_estimator_that_learnt_the_noise_sees_little_of_it_and_the_criteria_decide():
    y = asymmetric_noise(TRUTH, n_classes=K, rate=0.4, mapping={0: 1, 1: 0}, seed=0).labels
    learnt = _confident(TRUTH, sure=0.99)
    for c in (0, 1):  # the calibrated posterior of the noisy labels: 60 % keep their class, 40 % flip
        learnt[TRUTH == c] = 0.0
        learnt[TRUTH == c, c], learnt[TRUTH == c, 1 - c] = 0.6, 0.4
    res = select_samples(y, {"logreg": learnt}, n_classes=K, options=SelectionOptions(flag_count="mixture"))
    # the true rate is 0.16; the confident joint still counts flips, the mixture hardly any
    assert res.estimated_noise_rate > 0.1 and res.mixture_noise_rate < STRUCTURED_RATIO * res.estimated_noise_rate
    assert res.flag_rule == "criteria" and any("criteria" in n and "flag count" in n for n in res.notes)
    crit = select_samples(y, {"logreg": learnt}, n_classes=K, options=SelectionOptions(flag_count="criteria"))
    np.testing.assert_array_equal(res.clean, crit.clean)
    assert criteria_decide(0.01, 0.1) and not criteria_decide(0.1, 0.15) and not criteria_decide(0.0, 0.0)


def test_uniform_noise_flags_the_estimated_count_lowest_score_first():
    y = symmetric_noise(TRUTH, n_classes=K, rate=0.2, seed=1).labels
    wrong = y != TRUTH
    probs = {"logreg": _confident(TRUTH, sure=0.99, seed=2)}
    res = select_samples(y, probs, n_classes=K, options=SelectionOptions(flag_count="mixture", fallback=False))
    assert res.flag_rule == "mixture" and res.mixture_noise_rate >= STRUCTURED_RATIO * res.estimated_noise_rate
    n_flag = int((~res.clean).sum())
    assert n_flag == round(res.mixture_noise_rate * y.size)
    assert res.clean_score[~res.clean].max() <= res.clean_score[res.clean].min()
    assert set(res.failed[~res.clean]) == {"ensemble:mixture_count"} and set(res.failed[res.clean]) == {""}

    def f1(clean):
        tp = int((~clean & wrong).sum())
        return 2 * tp / (int((~clean).sum()) + int(wrong.sum()))

    assert abs(res.mixture_noise_rate - 0.2) < 0.01  # the ranking is perfect here: the count decides F1
    assert f1(res.clean) > 0.97


def test_flag_rule_is_the_configured_one_outside_mixture_and_empty_for_other_methods():
    y = symmetric_noise(TRUTH, n_classes=K, rate=0.2, seed=1).labels
    probs = {"logreg": _confident(TRUTH, sure=0.99, seed=2)}
    assert select_samples(y, probs, n_classes=K, options=SelectionOptions(flag_count="noise-rate")).flag_rule == "noise-rate"
    assert select_samples(y, probs, n_classes=K).flag_rule == "criteria"  # the default keeps the kept set clean
    other = select_samples(y, probs, n_classes=K, options=SelectionOptions(method="criteria"))
    assert other.flag_rule == "" and other.mixture_noise_rate == 0.0
