"""kNN vote: self and identical files excluded, every search backend, the IVF path."""

import numpy as np
import pytest
from workdirgen import make_clustered

from labelclean.scoring.knn import KnnOptions, knn_probs
from labelclean.scoring.neighbors import ivf_params, self_search


def _unit(a):
    a = np.asarray(a, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_mislabelled_point_in_a_clean_cluster_gets_only_the_prior():
    rng = np.random.default_rng(0)
    X = _unit(np.r_[[1, 0, 0] + 0.01 * rng.standard_normal((6, 3)), [0, 1, 0] + 0.01 * rng.standard_normal((6, 3))])
    labels = np.array([0] * 6 + [1] * 6)
    labels[0] = 1  # wrong label inside cluster 0
    res = knn_probs(X, labels, n_classes=2, options=KnnOptions(k=3, backend="numpy"))
    # its 3 neighbours are all labelled 0 and its own vote does not count: p(1) = (prior/K) / (sum w + prior)
    assert res.probs[0, 1] == pytest.approx(0.5 / (_weights_sum(X, 0, 3) + 1.0), rel=1e-4)
    assert res.probs[0, 0] > 0.7
    np.testing.assert_allclose(res.probs.sum(axis=1), 1.0, rtol=1e-6)


def _weights_sum(X, i, k):
    s = np.sort(X @ X[i])[::-1][1 : k + 1]
    return np.exp((s - s[0]) / 0.1).sum()


def test_identical_files_do_not_vote_for_each_other():
    X = _unit([[1, 0], [1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    labels = np.array([1, 1, 0, 1, 1])
    groups = np.array(["a", "a", "c", "d", "e"], dtype=object)
    with_groups = knn_probs(X, labels, n_classes=2, groups=groups, options=KnnOptions(k=1, backend="numpy"))
    without = knn_probs(X, labels, n_classes=2, options=KnnOptions(k=1, backend="numpy"))
    assert with_groups.probs[0].argmax() == 0  # its neighbour is sample 2 (label 0), not its duplicate
    assert without.probs[0].argmax() == 1  # the duplicate (label 1) is its nearest neighbour
    np.testing.assert_array_equal(with_groups.probs[0], with_groups.probs[1])


@pytest.mark.parametrize("backend", ["faiss", "torch"])
def test_backends_agree_with_numpy(backend):
    d = make_clustered(300, dim=16, n_classes=5, seed=2)
    ref = knn_probs(d.X, d.labels, n_classes=5, options=KnnOptions(backend="numpy"))
    got = knn_probs(d.X, d.labels, n_classes=5, options=KnnOptions(backend=backend))
    np.testing.assert_allclose(got.probs, ref.probs, atol=1e-4)
    assert got.method.startswith(backend)


def test_ivf_index_above_exact_max_has_high_recall():
    d = make_clustered(3000, dim=16, n_classes=5, seed=3)
    exact = self_search(d.X, k=11, backend="numpy")
    approx = self_search(d.X, k=11, backend="faiss", exact_max=0, nprobe=24)
    assert approx.method.startswith("faiss-ivf")
    recall = np.mean([len(set(a) & set(b)) / 11 for a, b in zip(exact.idx, approx.idx)])
    assert recall > 0.9
    assert ivf_params(100_000) == (632, 19)


def test_single_group_and_small_inputs_give_uniform_or_valid_probs():
    X = _unit([[1, 0], [1, 0]])
    res = knn_probs(X, np.array([0, 1]), n_classes=2, groups=np.array(["a", "a"], dtype=object))
    assert res.method == "none" and np.allclose(res.probs, 0.5)
    two = knn_probs(_unit([[1, 0], [0, 1]]), np.array([0, 1]), n_classes=3, options=KnnOptions(k=10))
    assert np.isfinite(two.probs).all() and two.probs[0].argmax() == 1


def test_rejects_bad_options():
    with pytest.raises(ValueError, match="k must be"):
        knn_probs(np.eye(2, dtype=np.float32), np.array([0, 1]), options=KnnOptions(k=0))
    with pytest.raises(ValueError, match="backend"):
        self_search(np.eye(2, dtype=np.float32), k=1, backend="annoy")


@pytest.mark.parametrize("approx", ["ivf", "ivfsq", "hnsw"])
def test_every_approximate_index_has_high_recall_on_float16(approx):
    d = make_clustered(3000, dim=16, n_classes=5, seed=3)
    exact = self_search(d.X, k=11, backend="numpy")
    got = self_search(d.X.astype(np.float16), k=11, backend="faiss", exact_max=0, nprobe=24, approx=approx)
    assert got.method.startswith({"ivf": "faiss-ivf(", "ivfsq": "faiss-ivfsq8", "hnsw": "faiss-hnsw"}[approx])
    recall = np.mean([len(set(a) & set(b)) / 11 for a, b in zip(exact.idx, got.idx)])
    assert recall > 0.9
