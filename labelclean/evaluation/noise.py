"""Synthetic label noise for evaluating a cleaner on data whose labels are known (pure numpy).

Every mode flips an exact number of samples (round(rate * eligible)), always to a
*different* class, so the realised rate is known exactly and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labelclean.core.vectors import unit_rows

MODES = ("sym", "asym", "pairflip", "instance")


@dataclass
class NoiseResult:
    clean: np.ndarray  # (N,) the labels given as input
    labels: np.ndarray  # (N,) noisy labels
    flipped: np.ndarray  # (N,) bool
    per_class: list[dict] = field(default_factory=list)  # class_id, n, flipped, rate

    @property
    def realised_rate(self) -> float:
        return float(self.flipped.mean()) if self.flipped.size else 0.0

    def pairs(self, top: int = 20) -> list[tuple[int, int, int]]:
        """The most frequent flips as (true class, noisy class, count), most frequent first."""
        f = self.flipped
        keys, counts = np.unique(np.stack([self.clean[f], self.labels[f]]), axis=1, return_counts=True)
        order = np.lexsort((keys[1], keys[0], -counts))[:top]
        return [(int(keys[0, i]), int(keys[1, i]), int(counts[i])) for i in order]


def _check(labels: np.ndarray, n_classes: int, rate: float) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if n_classes < 2:
        raise ValueError(f"label noise needs at least 2 classes, got {n_classes}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}]")
    return labels


def noise_result(clean: np.ndarray, noisy: np.ndarray, n_classes: int) -> NoiseResult:
    flipped = noisy != clean
    per_class = []
    for c in range(n_classes):
        m = clean == c
        n = int(m.sum())
        f = int((m & flipped).sum())
        per_class.append({"class_id": c, "n": n, "flipped": f, "rate": f / n if n else 0.0})
    return NoiseResult(clean, noisy, flipped, per_class)


def symmetric_noise(labels: np.ndarray, *, n_classes: int, rate: float, seed: int = 0) -> NoiseResult:
    """Flip round(rate * N) random samples, each to a uniformly drawn *other* class."""
    labels = _check(labels, n_classes, rate)
    rng = np.random.default_rng(seed)
    idx = rng.choice(labels.size, size=int(round(rate * labels.size)), replace=False)
    noisy = labels.copy()
    noisy[idx] = (labels[idx] + rng.integers(1, n_classes, size=idx.size)) % n_classes
    return noise_result(labels, noisy, n_classes)


def pairflip_noise(labels: np.ndarray, *, n_classes: int, rate: float, seed: int = 0) -> NoiseResult:
    """In every class c, flip round(rate * n_c) random samples to class (c + 1) mod K."""
    labels = _check(labels, n_classes, rate)
    mapping = {c: (c + 1) % n_classes for c in range(n_classes)}
    return asymmetric_noise(labels, mapping, n_classes=n_classes, rate=rate, seed=seed)


def asymmetric_noise(
    labels: np.ndarray, mapping: dict[int, int], *, n_classes: int, rate: float, seed: int = 0
) -> NoiseResult:
    """For every source class in ``mapping``, flip round(rate * n_src) random samples to its target.

    Classes absent from the mapping (or mapped to themselves) keep their labels, so the
    overall realised rate is about rate * (share of samples in mapped classes).
    """
    labels = _check(labels, n_classes, rate)
    for src, dst in mapping.items():
        if not (0 <= src < n_classes and 0 <= dst < n_classes):
            raise ValueError(f"mapping {src} -> {dst} is outside [0, {n_classes - 1}]")
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    for src in sorted(mapping):
        dst = mapping[src]
        if dst == src:
            continue
        members = np.flatnonzero(labels == src)
        idx = rng.choice(members, size=int(round(rate * members.size)), replace=False)
        noisy[idx] = dst
    return noise_result(labels, noisy, n_classes)


def instance_noise(
    labels: np.ndarray, X: np.ndarray, *, n_classes: int, rate: float, seed: int = 0, sharpness: float = 2.0
) -> NoiseResult:
    """Instance-dependent noise: samples near a class boundary are flipped more often.

    Each sample's candidate is the most similar *other* class (cosine to the class
    centroids of the clean labels). Its boundary score b = cos(x, other) - cos(x, own) is
    standardised, and round(rate * N) samples are drawn without replacement with
    probability ∝ exp(sharpness * b): the larger ``sharpness``, the more the flips
    concentrate on the most ambiguous samples (0 = uniform).
    """
    labels = _check(labels, n_classes, rate)
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] != labels.size:
        raise ValueError(f"X must be (N, D) with N = {labels.size}, got {X.shape}")
    sums = np.zeros((n_classes, X.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, X)
    cent = unit_rows(sums)
    sim = X @ cent.T.astype(np.float32)
    present = np.bincount(labels, minlength=n_classes) > 0
    if present.sum() < 2:
        raise ValueError("instance noise needs samples of at least 2 classes")
    sim[:, ~present] = -np.inf
    own = sim[np.arange(labels.size), labels].copy()
    sim[np.arange(labels.size), labels] = -np.inf
    target = sim.argmax(axis=1)
    b = sim[np.arange(labels.size), target] - own
    z = (b - b.mean()) / (b.std() + 1e-12)
    w = np.exp(sharpness * (z - z.max()))
    rng = np.random.default_rng(seed)
    m = int(round(rate * labels.size))
    idx = rng.choice(labels.size, size=m, replace=False, p=w / w.sum()) if m else np.array([], dtype=np.int64)
    noisy = labels.copy()
    noisy[idx] = target[idx]
    return noise_result(labels, noisy, n_classes)


def mapping_from_names(names: dict[str, str], class_names: list[str]) -> dict[int, int]:
    """{"truck": "automobile", ...} -> {9: 1, ...}; unknown names raise ValueError listing the classes."""
    index = {c: i for i, c in enumerate(class_names)}
    lowered = {c.lower(): i for i, c in enumerate(class_names)}
    out = {}
    for src, dst in names.items():
        ids = [index.get(str(x), lowered.get(str(x).lower())) for x in (src, dst)]
        if None in ids:
            bad = src if ids[0] is None else dst
            raise ValueError(f"class {bad!r} in the noise mapping is not one of: {', '.join(class_names)}")
        out[ids[0]] = ids[1]
    return out
