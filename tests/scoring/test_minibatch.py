"""Minibatch logistic regression: numpy and torch engines, near the L-BFGS optimum, the switch in logreg."""

import numpy as np
import pytest
from workdirgen import make_clustered

from labelclean.evaluation.metrics import roc_auc
from labelclean.evaluation.noise import symmetric_noise
from labelclean.scoring.linear import fit, fit_minibatch
from labelclean.scoring.logreg import LogRegOptions, balanced_log_loss, out_of_fold_probs
from labelclean.scoring.robust import robust_probs


@pytest.fixture(scope="module")
def data():
    d = make_clustered(3000, dim=16, n_classes=4, seed=1)
    r = symmetric_noise(d.labels, n_classes=4, rate=0.25, seed=0)
    return d, r


def test_numpy_and_torch_engines_agree_and_reach_the_lbfgs_loss(data):
    d, r = data
    rows = np.arange(3000)
    exact = fit(d.X, r.labels, n_classes=4, l2=1e-3, device="cpu", max_iter=200, tol=1e-10)
    kw = dict(n_classes=4, device="cpu", l2=1e-3, epochs=8, batch_size=256, lr=0.02, seed=0)
    a = fit_minibatch(d.X.astype(np.float16), r.labels, rows, engine="numpy", **kw)
    b = fit_minibatch(d.X.astype(np.float16), r.labels, rows, engine="torch", **kw)
    np.testing.assert_allclose(a.predict_proba(d.X), b.predict_proba(d.X), atol=1e-3)
    objective = {m: balanced_log_loss(r.labels, m.predict_proba(d.X), 4) + 0.5e-3 * float((m.W**2).sum())
                 for m in (exact, a)}  # what both minimise: balanced cross-entropy + l2/2 ||W||^2
    assert objective[exact] <= objective[a] < objective[exact] * 1.01  # within 1 %


def test_minibatch_reads_only_the_given_rows(data):
    d, r = data
    X = d.X.copy()
    X[1500:] = np.nan  # rows it must never touch
    m = fit_minibatch(X, r.labels, np.arange(1500), n_classes=4, device="cpu", l2=1e-3, epochs=2, seed=0)
    assert np.isfinite(m.W).all() and np.isfinite(m.b).all()


def test_logreg_above_the_switch_detects_noise_as_well_as_lbfgs(data):
    d, r = data
    X16 = d.X.astype(np.float16)
    clean = r.labels == d.labels
    lbfgs = out_of_fold_probs(d.X, r.labels, n_classes=4, options=LogRegOptions(minibatch_above=10**9), device="cpu")
    mini = out_of_fold_probs(X16, r.labels, n_classes=4, device="cpu",
                             options=LogRegOptions(minibatch_above=0, path_samples=500, epochs=3))
    assert mini.minibatch and not lbfgs.minibatch
    rows = np.arange(3000)
    auroc = {k: roc_auc(clean, res.probs[rows, r.labels]) for k, res in (("l", lbfgs), ("m", mini))}
    assert auroc["m"] > auroc["l"] - 0.01
    rob = robust_probs(X16, r.labels, n_classes=4, device="cpu", first_pass=mini,
                       options=LogRegOptions(minibatch_above=0, path_samples=500, epochs=3))
    assert roc_auc(clean, rob.probs[rows, r.labels]) > auroc["l"] - 0.01
