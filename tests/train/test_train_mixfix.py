"""MixFix rules (absorb / relabel / drop), the sampler and the LR schedule: pure numpy, exact."""

import numpy as np
import pytest

from labelclean.train.common.loop import lr_at
from labelclean.train.mixfix.method import ABSORB, DROP, RELABEL, mixfix_rules, next_training_set, update_counts
from labelclean.train.common.sampling import class_balanced_indices, fill_epoch

# Hand-built case: 6 samples outside the clean set, 3 classes, theta_r = 0.6, theta_r2 = 0.8.
GIVEN = np.array([0, 1, 2, 0, 1, 2])
PROBS = np.array(
    [
        [0.70, 0.20, 0.10],  # agrees, 0.70 >= 0.6          -> absorb (label 0)
        [0.10, 0.55, 0.35],  # agrees, 0.55 < 0.6           -> drop
        [0.85, 0.05, 0.10],  # disagrees (0), 0.85 >= 0.8   -> relabel to 0
        [0.05, 0.75, 0.20],  # disagrees (1), 0.75 < 0.8    -> drop (though >= theta_r)
        [0.20, 0.60, 0.20],  # agrees, exactly 0.6 (>=)     -> absorb
        [0.10, 0.10, 0.80],  # agrees, 0.80                 -> absorb
    ]
)


def test_rules_on_hand_built_case():
    u = mixfix_rules(GIVEN, PROBS, theta_r=0.6, theta_r2=0.8)
    assert u.action.tolist() == [ABSORB, DROP, RELABEL, DROP, ABSORB, ABSORB]
    assert u.labels.tolist() == [0, 1, 0, 0, 1, 2]  # relabelled -> prediction; others keep the given label
    assert u.pred.tolist() == [0, 1, 0, 1, 1, 2]
    np.testing.assert_allclose(u.confidence, [0.7, 0.55, 0.85, 0.75, 0.6, 0.8], rtol=1e-6)


def test_theta_one_only_passes_saturated_outputs():
    probs = np.array([[1.0, 0.0], [0.999, 0.001], [0.0, 1.0]], dtype=np.float32)
    u = mixfix_rules(np.array([0, 0, 0]), probs, theta_r=1.0, theta_r2=1.0)
    assert u.action.tolist() == [ABSORB, DROP, RELABEL]


def test_labels_are_rebuilt_from_given_labels_each_time():
    # A sample relabelled in one epoch goes back to its given label when the model stops being sure.
    first = mixfix_rules(np.array([2]), np.array([[0.9, 0.05, 0.05]]), theta_r=0.5, theta_r2=0.8)
    second = mixfix_rules(np.array([2]), np.array([[0.5, 0.1, 0.4]]), theta_r=0.5, theta_r2=0.8)
    assert (first.action[0], first.labels[0]) == (RELABEL, 0)
    assert (second.action[0], second.labels[0]) == (DROP, 2)


def test_next_training_set_keeps_s0_and_adds_absorbed_and_relabelled():
    clean0 = np.array([True, True, False, False, False, False, False, False])
    labels0 = np.array([1, 2, 0, 1, 2, 0, 1, 2])  # S0 labels come from review, e.g. 2 for sample 1
    outside = np.arange(2, 8)
    u = mixfix_rules(GIVEN, PROBS, theta_r=0.6, theta_r2=0.8)
    mask, labels = next_training_set(clean0, labels0, outside, u)
    assert mask.tolist() == [True, True, True, False, True, False, True, True]
    assert labels.tolist() == [1, 2, 0, 1, 0, 0, 1, 2]


def test_update_counts_and_accuracy_against_truth():
    u = mixfix_rules(GIVEN, PROBS, theta_r=0.6, theta_r2=0.8)
    truth = np.array([0, 0, 0, 0, 2, -1])  # sample 4's given label is wrong; sample 5 unknown
    c = update_counts(u, GIVEN, truth)
    assert (c["absorbed"], c["relabelled"], c["dropped"]) == (3, 1, 2)
    assert c["absorbed_acc"] == pytest.approx(0.5)  # samples 0 (right) and 4 (wrong); 5 has no truth
    assert c["relabelled_acc"] == pytest.approx(1.0)
    assert np.isnan(update_counts(u, GIVEN, None)["absorbed_acc"])


@pytest.mark.parametrize("kwargs", [{"theta_r": -0.1, "theta_r2": 0.5}, {"theta_r": 0.5, "theta_r2": 1.5}])
def test_rules_reject_bad_thresholds(kwargs):
    with pytest.raises(ValueError, match="theta_r"):
        mixfix_rules(GIVEN, PROBS, **kwargs)


def test_rules_reject_shape_mismatch_and_bad_labels():
    with pytest.raises(ValueError, match="probs must be"):
        mixfix_rules(GIVEN[:3], PROBS, theta_r=0.5, theta_r2=0.5)
    with pytest.raises(ValueError, match="given labels"):
        mixfix_rules(np.array([3]), PROBS[:1], theta_r=0.5, theta_r2=0.5)


def test_class_balanced_sampler_oversamples_to_the_largest_class():
    indices = np.arange(10, 20)
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    out = class_balanced_indices(indices, labels, np.random.default_rng(0))
    assert len(out) == 18
    counts = {c: int(np.isin(out, indices[labels == c]).sum()) for c in range(3)}
    assert counts == {0: 6, 1: 6, 2: 6}
    assert set(out) == set(indices)  # every member appears
    again = class_balanced_indices(indices, labels, np.random.default_rng(0))
    assert out.tolist() == again.tolist()  # seeded


def test_fill_epoch_cycles_to_the_requested_length():
    order = np.array([3, 1, 2])
    out = fill_epoch(order, 8, np.random.default_rng(0))
    assert len(out) == 8 and out[:3].tolist() == [3, 1, 2]
    assert sorted(out[3:6].tolist()) == [1, 2, 3]
    assert fill_epoch(np.array([], dtype=np.int64), 5, np.random.default_rng(0)).size == 0


def test_lr_schedules():
    assert lr_at(0, base=0.1, epochs=10, schedule="cosine") == pytest.approx(0.1)
    assert lr_at(5, base=0.1, epochs=10, schedule="cosine") == pytest.approx(0.05)
    steps = [lr_at(e, base=0.02, epochs=300, schedule="step", milestones=[200, 250]) for e in (0, 199, 200, 250)]
    assert steps == pytest.approx([0.02, 0.02, 0.002, 0.0002])
