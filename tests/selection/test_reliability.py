"""Truth-free estimator reliability, weights, noise-rate estimate and the noise-rate threshold."""

import numpy as np
from workdirgen import make_clustered

from labelclean.evaluation.metrics import roc_auc
from labelclean.evaluation.noise import symmetric_noise
from labelclean.scoring import knn_probs, out_of_fold_probs
from labelclean.selection import SelectionOptions, select_samples
from labelclean.selection.confident import estimated_noise_rate, lowest_share_pass
from labelclean.selection.reliability import estimate_reliability, estimator_scores


def _noisy(rate=0.3, seed=4):
    d = make_clustered(1500, dim=32, n_classes=6, spread=1.2, seed=seed)
    y = symmetric_noise(d.labels, n_classes=6, rate=rate, seed=1).labels
    return d, y


def test_ensemble_with_one_useless_member_is_not_worse_than_the_best_member():
    d, y = _noisy()
    rng = np.random.default_rng(0)
    useless = rng.dirichlet(np.ones(6), size=y.size).astype(np.float32)
    probs = {"logreg": out_of_fold_probs(d.X, y, n_classes=6, device="cpu").probs,
             "knn": knn_probs(d.X, y, n_classes=6).probs, "useless": useless}
    correct = y == d.labels
    single = {e: roc_auc(correct, s) for e, s in estimator_scores(y, probs).items()}
    res = select_samples(y, probs, n_classes=6, options=SelectionOptions(weighting="reliability"))
    assert res.weights["useless"] < 0.02
    assert abs(res.reliability["useless"] - 0.5) < 0.05 and res.reliability["logreg"] > 0.9
    assert roc_auc(correct, res.clean_score) >= max(single.values()) - 0.002
    fixed = select_samples(y, probs, n_classes=6, options=SelectionOptions(weighting="fixed"))
    assert roc_auc(correct, res.clean_score) > roc_auc(correct, fixed.clean_score) + 0.01


def test_weights_sum_to_one_and_one_estimator_weighs_one():
    labels = np.repeat([0, 1], 50)
    p = np.tile([0.9, 0.1], (100, 1)).astype(np.float32)
    p[50:] = [0.1, 0.9]
    assert estimate_reliability(labels, {"a": p}).weights == {"a": 1.0}
    rel = estimate_reliability(labels, {"a": p, "b": p[::-1].copy()})
    assert abs(sum(rel.weights.values()) - 1.0) < 1e-9


def test_estimated_noise_rate_tracks_the_true_rate():
    for rate in (0.1, 0.3):
        d, y = _noisy(rate)
        p = out_of_fold_probs(d.X, y, n_classes=6, device="cpu").probs
        assert abs(estimated_noise_rate(y, p) - rate) < 0.05
    assert estimated_noise_rate(np.zeros(0, dtype=int), np.zeros((0, 3))) == 0.0


def test_lowest_share_pass_flags_exactly_the_lowest():
    keep = lowest_share_pass(np.array([0.9, 0.1, 0.5, 0.2, 0.8]), 0.4)
    np.testing.assert_array_equal(keep, [True, False, True, False, True])
    assert lowest_share_pass(np.ones(3), 0.0).all()


def test_noise_rate_threshold_flags_the_estimated_share():
    d, y = _noisy(0.2)
    probs = {"logreg": out_of_fold_probs(d.X, y, n_classes=6, device="cpu").probs}
    res = select_samples(y, probs, n_classes=6, options=SelectionOptions(threshold="noise-rate"))
    assert int((~res.clean).sum()) == round(res.estimated_noise_rate * y.size)
    assert "ensemble:noise_rate" in set(res.failed[~res.clean])
