"""LEMoN-style multimodal-neighbour scores: known answers with and without text."""

import numpy as np
import pytest

from labelclean.evaluation.metrics import roc_auc
from labelclean.scoring.multimodal import MultimodalOptions, multimodal_probs


def _unit(a):
    a = np.asarray(a, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _clusters(seed=0, per=20, k=4, dim=8, spread=0.05):
    rng = np.random.default_rng(seed)
    X = _unit(np.repeat(np.eye(k, dim), per, axis=0) + spread * rng.standard_normal((k * per, dim)))
    labels = np.repeat(np.arange(k), per)
    return X, labels, _unit(np.eye(k, dim) + 0.05 * rng.standard_normal((k, dim)))


@pytest.mark.parametrize("with_text", [True, False])
def test_planted_mislabel_among_tight_clusters_is_ranked_first(with_text):
    X, labels, T = _clusters()
    labels[5] = 3  # an image of cluster 0 labelled 3
    res = multimodal_probs(X, labels, n_classes=4, class_text=T if with_text else None,
                           options=MultimodalOptions(k=5, backend="numpy"))
    assert int(np.argmax(res.score)) == 5  # higher score = more likely mislabelled
    assert res.probs[5].argmax() == 0
    assert int(np.argmin(res.probs[np.arange(80), labels])) == 5
    np.testing.assert_allclose(res.probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (res.d1 is not None) == with_text and (res.d_m is not None) == with_text


def test_terms_match_the_definition_on_a_hand_made_case():
    # two classes on two axes; sample 0 is labelled 1 but sits on axis 0
    X = _unit([[1, 0], [1, 0.1], [1, -0.1], [0, 1], [0.1, 1], [-0.1, 1]])
    labels = np.array([1, 0, 0, 1, 1, 1])
    T = _unit([[1, 0], [0, 1]])
    o = MultimodalOptions(k=2, tau1=1.0, tau2=2.0, beta=1.0, gamma=1.0, backend="numpy")
    res = multimodal_probs(X, labels, n_classes=2, class_text=T, options=o)
    d = lambda a, b: 1.0 - float(np.dot(a, b))  # noqa: E731
    assert res.d1[0] == pytest.approx(d(X[0], T[1]), abs=1e-6)
    own = [d(X[j], T[labels[j]]) for j in range(6)]
    # image neighbours of 0 are 1 and 2 (label 0): d_text(t_1, t_0) = 1 - cos = 1
    dn = np.mean([np.exp(-1.0 * d(X[0], X[j])) * np.exp(-2.0 * own[j]) * d(T[1], T[0]) for j in (1, 2)])
    assert res.d_n[0] == pytest.approx(dn, rel=1e-5)
    # text neighbours of 0: the two samples labelled 1 closest in image space (4 then 3 or 5)
    near = sorted((3, 4, 5), key=lambda j: d(X[0], X[j]))[:2]
    dm = np.mean([np.exp(-2.0 * own[j]) * d(X[0], X[j]) for j in near])
    assert res.d_m[0] == pytest.approx(dm, rel=1e-5)
    assert res.score[0] == pytest.approx(res.d1[0] + dn + dm, rel=1e-5)


def test_neighbours_that_look_mislabelled_count_less():
    X, labels, T = _clusters(seed=1, per=10, k=2)
    labels[0] = 1  # wrong label in cluster 0
    weak = multimodal_probs(X, labels, n_classes=2, class_text=T, options=MultimodalOptions(k=3, tau2=0.0, backend="numpy"))
    strong = multimodal_probs(X, labels, n_classes=2, class_text=T, options=MultimodalOptions(k=3, tau2=10.0, backend="numpy"))
    # in cluster 0, sample 0 is the only neighbour with another label, so it alone makes its mates' d_n;
    # it sits far from its label's text, so with a large tau2 its vote nearly vanishes
    mates = np.arange(1, 10)
    assert weak.d_n[mates].max() > 0.1
    assert strong.d_n[mates].max() < 1e-3 * weak.d_n[mates].max()


def test_detects_symmetric_noise_well_on_separable_data():
    X, truth, T = _clusters(seed=3, per=50, k=5, dim=10, spread=0.2)
    rng = np.random.default_rng(0)
    y = truth.copy()
    flip = rng.choice(y.size, 50, replace=False)
    y[flip] = (y[flip] + rng.integers(1, 5, 50)) % 5
    for text in (T, None):
        res = multimodal_probs(X, y, n_classes=5, class_text=text)
        assert roc_auc(y == truth, -res.score) > 0.97


def test_rejects_bad_inputs():
    X, labels, T = _clusters()
    with pytest.raises(ValueError, match=r"class_text must be \(4, 8\)"):
        multimodal_probs(X, labels, n_classes=4, class_text=T[:3])
    with pytest.raises(ValueError, match="temperature > 0"):
        multimodal_probs(X, labels, options=MultimodalOptions(temperature=0))
