"""Evaluation metrics: AUROC and AP against scikit-learn, hand-checked detection metrics."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from labelclean.evaluation.metrics import average_precision, detection_metrics, per_class_metrics, roc_auc


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_and_ap_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(200) < 0.3
    score = np.round(rng.random(200) + y * 0.3, 1)  # rounded: many ties
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert average_precision(y, score) == pytest.approx(average_precision_score(y, score))


def test_undefined_metrics_are_none():
    assert roc_auc(np.ones(3, bool), np.arange(3)) is None
    assert average_precision(np.zeros(3, bool), np.arange(3)) is None


def test_hand_checked_detection_metrics():
    given = np.array([0, 0, 1, 1, 2, 2])
    truth = np.array([0, 1, 1, 0, 2, -1])  # samples 1, 3, 5 are noisy (5: not a class)
    clean = np.array([True, False, True, True, False, False])  # flags 1, 4, 5
    score = np.array([0.9, 0.1, 0.8, 0.4, 0.3, 0.2])
    sugg = np.array([-1, 1, -1, -1, 0, -1])
    m = detection_metrics(given, truth, clean, score, suggested=sugg)
    assert m["n_noisy"] == 3 and m["n_flagged"] == 3
    assert m["flagged_precision"] == pytest.approx(2 / 3) and m["flagged_recall"] == pytest.approx(2 / 3)
    assert m["flagged_f1"] == pytest.approx(2 / 3)
    assert m["kept_precision"] == pytest.approx(2 / 3) and m["kept_recall"] == pytest.approx(2 / 3)
    assert m["auroc"] == pytest.approx(roc_auc_score(given == truth, score))
    assert m["average_precision"] == pytest.approx(average_precision_score(given != truth, 1 - score))
    assert m["n_suggested"] == 2 and m["relabel_accuracy"] == 0.5
    rows = per_class_metrics(given, truth, clean, ["a", "b", "c"])
    assert rows[2] == {"class_id": 2, "class": "c", "n": 2, "n_noisy": 1, "n_flagged": 2,
                       "flagged_precision": 0.5, "flagged_recall": 1.0}


def test_nothing_flagged_nothing_noisy():
    m = detection_metrics(np.array([0, 1]), np.array([0, 1]), np.array([True, True]), np.array([0.9, 0.8]))
    assert m["flagged_precision"] is None and m["flagged_recall"] is None and m["flagged_f1"] is None
    assert m["auroc"] is None and m["kept_precision"] == 1.0 and m["relabel_accuracy"] is None


def test_noise_rate_comparison_reports_estimate_truth_and_signed_error():
    from labelclean.evaluation.metrics import noise_rate_comparison

    out = noise_rate_comparison(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), 0.3)
    assert out == {"estimated_noise_rate": 0.3, "true_noise_rate": 0.25, "noise_rate_error": pytest.approx(0.05)}
    assert noise_rate_comparison(np.array([0]), np.array([0]), None)["noise_rate_error"] is None
    mixture = noise_rate_comparison(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), 0.2, prefix="mixture_")
    assert mixture == {"mixture_noise_rate": 0.2, "true_noise_rate": 0.25, "mixture_noise_rate_error": pytest.approx(-0.05)}
