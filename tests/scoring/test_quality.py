"""Per-sample scores from a probability matrix: hand-checked values and degenerate inputs."""

import numpy as np
import pytest

from labelclean.scoring.quality import (
    consistency,
    given_prob,
    margin,
    normalized_log_prob,
    score_columns,
    top_k,
    validate_probs,
)

PROBS = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]], dtype=np.float32)
LABELS = np.array([0, 2, 1, 0])


def test_hand_checked_scores():
    np.testing.assert_allclose(given_prob(LABELS, PROBS), [0.7, 0.3, 0.1, 0.6], rtol=1e-6)
    np.testing.assert_allclose(consistency(LABELS, PROBS), [1.0, 0.6, 0.125, 1.0], rtol=1e-6)
    np.testing.assert_allclose(margin(LABELS, PROBS), [0.5, -0.2, -0.7, 0.3], rtol=1e-6, atol=1e-7)


def test_normalized_log_prob_is_per_class_min_max():
    out = normalized_log_prob(LABELS, PROBS)
    assert out[0] == pytest.approx(1.0) and out[3] == pytest.approx(0.0)  # class 0: 0.7 best, 0.6 worst
    assert out[1] == 1.0 and out[2] == 1.0  # single-sample classes: nothing stands out


def test_normalized_log_prob_constant_class_gives_ones_not_nan():
    probs = np.full((4, 2), 0.5, dtype=np.float32)
    out = normalized_log_prob(np.array([0, 0, 1, 1]), probs)
    assert np.array_equal(out, np.ones(4, dtype=np.float32))


def test_top_k_orders_and_pads():
    ids, p = top_k(PROBS, 3)
    assert ids[1].tolist() == [1, 2, 0] and p[1].tolist() == pytest.approx([0.5, 0.3, 0.2])
    ids2, p2 = top_k(np.array([[0.4, 0.6]], dtype=np.float32), 3)
    assert ids2.tolist() == [[1, 0, -1]] and p2[0, 2] == 0.0


def test_single_class_margin_is_one():
    assert margin(np.array([0, 0]), np.ones((2, 1), dtype=np.float32)).tolist() == [1.0, 1.0]


def test_score_columns_types():
    sc = score_columns(LABELS, PROBS)
    assert sc.pred.dtype == np.int32 and sc.pred.tolist() == [0, 1, 2, 0]
    assert sc.top3_ids.shape == (4, 3) and sc.p_given.dtype == np.float32


@pytest.mark.parametrize(
    "labels, probs, message",
    [
        (np.array([0, 1]), np.ones(3), "2-D"),
        (np.array([0]), np.ones((2, 2)), "labels must be"),
        (np.array([0, 5]), np.ones((2, 2)), r"\[0, 1\]"),
        (np.array([0, 1]), np.array([[np.nan, 1], [1, 0]]), "NaN"),
    ],
)
def test_validate_probs_rejects(labels, probs, message):
    with pytest.raises(ValueError, match=message):
        validate_probs(labels, probs)
