"""select over row blocks: every decision equals the one-block (whole-matrix) result."""

import numpy as np
import pytest

from labelclean.scoring.confident import confident_joint, noise_rate_pass, prune_blocks
from labelclean.selection import SelectionOptions, select_samples
from labelclean.selection.source import ArraySource, block_rows

N, K = 1200, 9


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, K, N)
    labels = truth.copy()
    flip = rng.random(N) < 0.3
    labels[flip] = rng.integers(0, K, flip.sum())

    def est(noise):
        z = rng.normal(size=(N, K)) * noise
        z[np.arange(N), truth] += 2.5
        p = np.exp(z)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    probs = {"zeroshot": est(1.0), "logreg": est(1.5), "knn": est(2.0)}
    probs["logreg"][:40] = np.round(probs["logreg"][:40], 1)  # ties in the pruning margins
    return labels, probs


@pytest.mark.parametrize("opts", [{}, {"weighting": "reliability"}, {"flag_count": "mixture"},
                                  {"flag_count": "noise-rate"}, {"method": "criteria", "combine": "vote:2"},
                                  {"method": "css"}])
def test_blocks_give_the_same_selection(data, opts):
    labels, probs = data
    groups = np.arange(N) % (N - 30)  # 30 duplicate pairs
    whole = select_samples(labels, probs, n_classes=K, groups=groups, options=SelectionOptions(**opts))
    for rows in (256, 500):
        part = select_samples(labels, ArraySource(probs, rows=rows), n_classes=K, groups=groups,
                              options=SelectionOptions(**opts))
        for f in ("clean", "clean_score", "failed", "suggested", "suggested_confidence", "outlier", "decision"):
            np.testing.assert_array_equal(getattr(part, f), getattr(whole, f), err_msg=f"{opts} {rows} {f}")
        assert (part.weights, part.estimated_noise_rate, part.mixture_noise_rate) == \
            (whole.weights, whole.estimated_noise_rate, whole.mixture_noise_rate)
    assert (~whole.clean).sum() > 100  # the data has something to flag


def test_pruning_across_blocks_keeps_the_largest_margins_earliest_first(data):
    labels, probs = data
    P = probs["logreg"]
    joint = confident_joint(labels, P)
    dense = noise_rate_pass(labels, P)
    blocks = [(s, P[s : s + 100]) for s in range(0, N, 100)]
    np.testing.assert_array_equal(prune_blocks(labels, joint, blocks), dense)
    # the brute-force definition: per pair (i, j), the m samples of label i with the largest p_j - p_i
    want = np.ones(N, bool)
    for i in range(K):
        idx = np.flatnonzero(labels == i)
        for j in np.flatnonzero(np.round(joint[i]) > 0):
            if j != i:
                m = min(int(round(joint[i, j])), idx.size)
                want[idx[np.argsort(-(P[idx, j] - P[idx, i]), kind="stable")[:m]]] = False
    np.testing.assert_array_equal(dense, want)
    assert (~dense).sum() > 50


def test_block_rows_bounds_a_block_to_the_cell_budget():
    assert block_rows(100) == (1 << 24) // 100
    assert block_rows(10_000_000) == 256
