"""Synthetic label noise: exact counts, always a different class, each mode's structure."""

import numpy as np
import pytest
from workdirgen import make_clustered

from labelclean.evaluation.noise import (
    asymmetric_noise,
    instance_noise,
    mapping_from_names,
    pairflip_noise,
    symmetric_noise,
)

LABELS = np.repeat(np.arange(5), 40)


def test_symmetric_flips_exactly_rate_times_n_to_other_classes():
    r = symmetric_noise(LABELS, n_classes=5, rate=0.3, seed=0)
    assert r.flipped.sum() == 60 and r.realised_rate == pytest.approx(0.3)
    assert (r.labels[r.flipped] != LABELS[r.flipped]).all()
    assert (r.labels[~r.flipped] == LABELS[~r.flipped]).all()
    assert sum(c["flipped"] for c in r.per_class) == 60
    again = symmetric_noise(LABELS, n_classes=5, rate=0.3, seed=0)
    np.testing.assert_array_equal(r.labels, again.labels)
    assert not np.array_equal(r.labels, symmetric_noise(LABELS, n_classes=5, rate=0.3, seed=1).labels)


def test_pairflip_goes_to_the_next_class():
    r = pairflip_noise(LABELS, n_classes=5, rate=0.25, seed=0)
    assert [c["flipped"] for c in r.per_class] == [10] * 5
    assert ((LABELS[r.flipped] + 1) % 5 == r.labels[r.flipped]).all()
    assert r.pairs(2) == [(0, 1, 10), (1, 2, 10)]


def test_asymmetric_only_touches_mapped_classes():
    r = asymmetric_noise(LABELS, {4: 1, 2: 0, 3: 3}, n_classes=5, rate=0.5, seed=0)
    assert [c["flipped"] for c in r.per_class] == [0, 0, 20, 0, 20]
    assert set(zip(LABELS[r.flipped], r.labels[r.flipped])) == {(4, 1), (2, 0)}
    assert r.realised_rate == pytest.approx(40 / 200)


def test_instance_noise_flips_near_boundary_samples_towards_the_nearest_class():
    d = make_clustered(600, dim=16, n_classes=4, seed=0)
    r = instance_noise(d.labels, d.X, n_classes=4, rate=0.2, seed=0, sharpness=3.0)
    assert r.flipped.sum() == 120
    cent = np.stack([d.X[d.labels == c].mean(0) for c in range(4)])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    sim = d.X @ cent.T
    own = sim[np.arange(600), d.labels]
    sim[np.arange(600), d.labels] = -np.inf
    assert (sim.argmax(1)[r.flipped] == r.labels[r.flipped]).all()  # towards the most similar other class
    boundary = sim.max(1) - own
    assert boundary[r.flipped].mean() > boundary[~r.flipped].mean()


def test_mapping_from_names():
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    got = mapping_from_names({"truck": "automobile", "Bird": "airplane", "cat": "dog", "dog": "cat"}, names)
    assert got == {9: 1, 2: 0, 3: 5, 5: 3}
    with pytest.raises(ValueError, match="'zebra' in the noise mapping is not one of"):
        mapping_from_names({"zebra": "horse"}, names)


@pytest.mark.parametrize("kwargs, message", [({"rate": 1.5}, "rate"), ({"rate": 0.1, "n_classes": 1}, "2 classes")])
def test_rejects_bad_arguments(kwargs, message):
    args = {"n_classes": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        symmetric_noise(np.zeros(5, dtype=int), **args)
