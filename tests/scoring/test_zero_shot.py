"""Zero-shot probabilities: the paper's sum, the per-class mean and the embedding ensemble."""

import numpy as np
import pytest

from labelclean.scoring.zero_shot import class_probs


def _unit(a):
    a = np.asarray(a, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


X = _unit([[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0]])
T = _unit([[1, 0, 0], [1, 0.1, 0], [0, 1, 0]])  # class 0 has two prompts, class 1 one
PCID = np.array([0, 0, 1])


def _manual(x, tau, agg):
    cos = T @ x
    e = np.exp(cos / tau)
    s = np.array([e[:2].sum(), e[2]])
    if agg == "mean":
        s = s / np.array([2, 1])
    return s / s.sum()


@pytest.mark.parametrize("agg", ["sum", "mean"])
def test_matches_manual_formula(agg):
    out = class_probs(X, T, PCID, temperature=0.5, aggregation=agg)
    for i in range(3):
        np.testing.assert_allclose(out[i], _manual(X[i], 0.5, agg), rtol=1e-5)


def test_mean_embedding_is_softmax_over_class_means():
    out = class_probs(X, T, PCID, temperature=0.5, aggregation="mean-embedding")
    means = _unit([T[0] + T[1], T[2]])
    logits = X @ means.T / 0.5
    ref = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, ref, rtol=1e-5)


def test_sum_gives_classes_with_more_prompts_a_bonus_mean_does_not():
    t = _unit([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, -1, 0]])  # class 0: 3 copies of one prompt
    x = _unit([[1, 0, 0]])  # equally similar to both classes
    summed = class_probs(x, t, np.array([0, 0, 0, 1]), aggregation="sum")
    mean = class_probs(x, t, np.array([0, 0, 0, 1]), aggregation="mean")
    assert summed[0, 0] == pytest.approx(0.75)  # log(3) bonus -> 3:1
    assert mean[0, 0] == pytest.approx(0.5)


def test_rows_sum_to_one_and_blocks_do_not_change_result():
    rng = np.random.default_rng(0)
    x = _unit(rng.standard_normal((50, 8)))
    t = _unit(rng.standard_normal((12, 8)))
    pcid = np.arange(12) % 4
    a = class_probs(x, t, pcid, temperature=0.07)
    b = class_probs(x, t, pcid, temperature=0.07, block_size=7)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)  # BLAS may round per block
    assert np.isfinite(class_probs(x, t, pcid, temperature=1e-4)).all()  # no overflow at tiny tau


def test_errors():
    with pytest.raises(ValueError, match="no prompt"):
        class_probs(X, T, PCID, n_classes=3)
    with pytest.raises(ValueError, match="aggregation"):
        class_probs(X, T, PCID, aggregation="max")
    with pytest.raises(ValueError, match="temperature"):
        class_probs(X, T, PCID, temperature=0)


def test_temperature_comes_from_the_option_then_the_model_then_clipcleaner():
    from labelclean.scoring.zero_shot import resolve_temperature

    assert resolve_temperature(0.05, 100.0) == (0.05, "option")
    assert resolve_temperature(None, 100.0) == (pytest.approx(0.01), "model")
    assert resolve_temperature(None, None) == (0.07, "default")
    assert resolve_temperature(None, float("nan")) == (0.07, "default")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        resolve_temperature(0.0, None)


def test_a_lower_temperature_sharpens_but_keeps_the_ranking():
    sharp = class_probs(X, T, PCID, temperature=0.01)
    soft = class_probs(X, T, PCID, temperature=0.07)
    np.testing.assert_array_equal(sharp.argmax(axis=1), soft.argmax(axis=1))
    assert sharp.max(axis=1).min() > soft.max(axis=1).min()
