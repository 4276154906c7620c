"""Class-balanced logistic regression: out-of-fold vs in-sample, l2 choice, both fit paths."""

import numpy as np
import pytest
from workdirgen import make_clustered

from labelclean.evaluation.noise import symmetric_noise
from labelclean.scoring.linear import _fit_torch, fit
from labelclean.scoring.logreg import LogRegOptions, balanced_log_loss, out_of_fold_probs, stratified_folds


@pytest.fixture(scope="module")
def noisy():
    d = make_clustered(600, dim=16, n_classes=4, seed=1)
    r = symmetric_noise(d.labels, n_classes=4, rate=0.25, seed=0)
    return d, r


def test_out_of_fold_does_not_memorise_noisy_labels(noisy):
    d, r = noisy
    oof = out_of_fold_probs(d.X, r.labels, n_classes=4, options=LogRegOptions(l2=1e-5))
    ins = out_of_fold_probs(d.X, r.labels, n_classes=4, in_sample=True, options=LogRegOptions(l2=1e-5))
    rows = np.arange(600)
    flipped = r.flipped
    assert oof.probs[rows, r.labels][flipped].mean() < ins.probs[rows, r.labels][flipped].mean()
    assert (oof.probs.argmax(axis=1) == d.labels).mean() > 0.85  # recovers the true classes
    np.testing.assert_allclose(oof.probs.sum(axis=1), 1.0, rtol=1e-5)


def test_deterministic_for_a_seed(noisy):
    d, r = noisy
    a = out_of_fold_probs(d.X, r.labels, n_classes=4, seed=3)
    b = out_of_fold_probs(d.X, r.labels, n_classes=4, seed=3)
    np.testing.assert_array_equal(a.probs, b.probs)
    assert a.l2 == b.l2


def test_auto_l2_picks_the_best_held_out_loss(noisy):
    d, r = noisy
    res = out_of_fold_probs(d.X, r.labels, n_classes=4)
    assert set(res.held_out_loss) == {3e-3, 1e-3, 3e-4, 1e-4}
    assert res.l2 == min(res.held_out_loss, key=res.held_out_loss.get)
    fixed = out_of_fold_probs(d.X, r.labels, n_classes=4, options=LogRegOptions(l2=0.01))
    assert fixed.l2 == 0.01 and fixed.held_out_loss == {}


def test_degenerate_classes_never_nan():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 5)).astype(np.float32)
    labels = np.array([0] * 20 + [1] * 9 + [2])  # class 2 has one sample, class 3 none
    res = out_of_fold_probs(X, labels, n_classes=4)
    assert res.probs.shape == (30, 4) and np.isfinite(res.probs).all()
    single = out_of_fold_probs(X, np.zeros(30, dtype=int), n_classes=1)
    assert np.array_equal(single.probs, np.ones((30, 1), dtype=np.float32))
    one_used = out_of_fold_probs(X, np.full(30, 2), n_classes=3)
    assert (one_used.probs[:, 2] == 1).all()


def test_stratified_folds_balance_classes():
    labels = np.repeat(np.arange(3), 10)
    folds = stratified_folds(labels, 5, np.random.default_rng(0))
    for k in range(3):
        assert np.bincount(folds[labels == k], minlength=5).tolist() == [2] * 5


def test_numpy_and_torch_fits_agree(noisy):
    d, r = noisy
    a = fit(d.X, r.labels, n_classes=4, l2=1e-3, device="cpu", max_iter=200, tol=1e-10)
    W0 = np.zeros((16, 4), np.float32)
    b = _fit_torch(d.X, r.labels, 4, W0, np.zeros(4, np.float32), 1e-3, 200, 1e-10, "cpu")
    np.testing.assert_allclose(a.predict_proba(d.X), b.predict_proba(d.X), atol=2e-3)


def test_balanced_log_loss_weighs_classes_equally():
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.9, 0.1]])
    loss = balanced_log_loss(np.array([0, 0, 0, 1]), probs, 2)
    assert loss == pytest.approx((np.log(2) + np.log(10)) / 2)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="folds"):
        out_of_fold_probs(np.zeros((4, 2)), np.array([0, 1, 0, 1]), folds=1)
    with pytest.raises(ValueError, match="labels must lie"):
        out_of_fold_probs(np.zeros((2, 2)), np.array([0, 3]), n_classes=2)
