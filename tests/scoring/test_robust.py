"""Robust (refitted) induced classifier: out-of-fold, trusted set, and a known answer."""

import numpy as np
import pytest
from workdirgen import make_clustered

from labelclean.evaluation.metrics import roc_auc
from labelclean.evaluation.noise import pairflip_noise
from labelclean.scoring.logreg import LogRegOptions, out_of_fold_probs
from labelclean.scoring.robust import robust_probs, trusted_samples
from labelclean.scoring.rowprobs import DenseProbs


def _unit(a):
    a = np.asarray(a, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_planted_mislabel_among_tight_clusters_is_ranked_first():
    rng = np.random.default_rng(0)
    centres = np.eye(4, 8)
    X = _unit(np.repeat(centres, 25, axis=0) + 0.05 * rng.standard_normal((100, 8)))
    labels = np.repeat(np.arange(4), 25)
    labels[7] = 2  # sits in cluster 0
    res = robust_probs(X, labels, n_classes=4, device="cpu")
    p_given = res.probs[np.arange(100), labels]
    assert int(np.argmin(p_given)) == 7
    assert res.probs[7].argmax() == 0
    assert not res.trusted[7] and res.trusted.sum() >= 95
    np.testing.assert_allclose(res.probs.sum(axis=1), 1.0, rtol=1e-5)


def test_refit_beats_one_pass_at_heavy_pair_noise():
    d = make_clustered(2000, dim=32, n_classes=6, spread=1.0, seed=3)
    y = pairflip_noise(d.labels, n_classes=6, rate=0.4, seed=0).labels
    correct = y == d.labels
    one = out_of_fold_probs(d.X, y, n_classes=6, device="cpu").probs
    res = robust_probs(d.X, y, n_classes=6, device="cpu")
    np.testing.assert_array_equal(res.first_pass, one)  # pass 1 is the one-pass estimator, unchanged
    rows = np.arange(y.size)
    auc_one, auc_robust = roc_auc(correct, one[rows, y]), roc_auc(correct, res.probs[rows, y])
    assert auc_robust > auc_one + 0.01, (auc_one, auc_robust)


def test_zero_rounds_is_the_one_pass_estimator_and_rounds_must_be_non_negative():
    d = make_clustered(300, dim=16, n_classes=3, seed=1)
    res = robust_probs(d.X, d.labels, n_classes=3, rounds=0, device="cpu", options=LogRegOptions(l2=1e-3))
    np.testing.assert_array_equal(res.probs, res.first_pass)
    with pytest.raises(ValueError, match="rounds must be >= 0"):
        robust_probs(d.X, d.labels, rounds=-1)


def test_a_class_with_no_trusted_sample_keeps_its_samples_in_the_refit():
    rng = np.random.default_rng(2)
    X = _unit(np.repeat(np.eye(3, 6), 20, axis=0) + 0.05 * rng.standard_normal((60, 6)))
    labels = np.repeat([0, 1, 2], 20)
    labels[:3] = 2  # a few wrong labels so that the other classes are fine
    res = robust_probs(X, labels, n_classes=3, device="cpu")
    assert res.probs.shape == (60, 3) and np.isfinite(res.probs).all()
    probs = np.tile([0.0, 1.0, 0.0], (60, 1))  # nothing labelled 0 or 2 is trusted
    assert not trusted_samples(labels, probs)[labels != 1].any()


def test_single_class_passes_through():
    X = _unit(np.random.default_rng(0).standard_normal((10, 4)))
    res = robust_probs(X, np.zeros(10, dtype=int), n_classes=2, device="cpu")
    assert (res.probs[:, 0] == 1.0).all() and res.rounds == 0


def test_a_given_first_pass_is_reused_not_refitted():
    d = make_clustered(300, dim=16, n_classes=3, seed=1)
    first = out_of_fold_probs(d.X, d.labels, n_classes=3, device="cpu")
    first.rows = DenseProbs(np.full((300, 3), 1.0 / 3, np.float32))  # a marker: pass 1 must come from here
    res = robust_probs(d.X, d.labels, n_classes=3, device="cpu", first_pass=first)
    assert res.first_rows is first.rows and res.l2 == first.l2
