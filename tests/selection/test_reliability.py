"""Truth-free estimator reliability, weights, noise-rate estimate and the noise-rate threshold."""

import numpy as np
import pytest
from workdirgen import make_clustered

from labelclean.evaluation.metrics import roc_auc
from labelclean.evaluation.noise import symmetric_noise
from labelclean.scoring.knn import knn_probs
from labelclean.scoring.logreg import out_of_fold_probs
from labelclean.selection import SelectionOptions, select_samples
from labelclean.scoring.confident import estimated_noise_rate, lowest_share_pass
from labelclean.selection.reliability import estimator_scores, reliability_weights


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
    assert res.weights["useless"] < 0.02 and res.reliability["logreg"] > res.reliability["useless"]
    assert roc_auc(correct, res.clean_score) >= max(single.values()) - 0.002
    equal = select_samples(y, {e: probs[e] for e in ("logreg", "useless")}, n_classes=6,
                           options=SelectionOptions(weighting="fixed"))  # 1 each: the useless member hurts
    assert roc_auc(correct, res.clean_score) > roc_auc(correct, equal.clean_score) + 0.01


def test_the_uniform_component_absorbs_the_wrong_labels():
    labels = np.repeat([0, 1], 50)
    p = np.zeros((100, 2), dtype=np.float32)
    p[np.arange(100), labels] = 1.0
    p[:20] = p[:20, ::-1]  # the estimator is sure the first 20 labels are wrong
    rel = reliability_weights(labels, {"a": p}, n_classes=2)
    # mixture: p(given) = w_a * [label right] + w_0 / 2; the optimum has w_a = 0.8 - 0.2 = 0.6
    assert rel.reliability["a"] == pytest.approx(0.6, abs=1e-3) and rel.weights == {"a": 1.0}


def test_weights_sum_to_one_and_the_better_estimator_weighs_more():
    d, y = _noisy()
    good = out_of_fold_probs(d.X, y, n_classes=6, device="cpu").probs
    rng = np.random.default_rng(1)
    worse = 0.5 * good + 0.5 * rng.dirichlet(np.ones(6), size=y.size)
    rel = reliability_weights(y, {"good": good, "worse": worse.astype(np.float32)}, n_classes=6)
    assert abs(sum(rel.weights.values()) - 1.0) < 1e-9 and rel.weights["good"] > rel.weights["worse"]


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
    res = select_samples(y, probs, n_classes=6, options=SelectionOptions(flag_count="noise-rate"))
    assert int((~res.clean).sum()) == round(res.estimated_noise_rate * y.size)
    assert "ensemble:noise_rate" in set(res.failed[~res.clean])
