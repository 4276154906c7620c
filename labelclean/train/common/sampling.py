"""Which sample indices each epoch visits, drawn from a per-epoch numpy Generator (pure numpy)."""

from __future__ import annotations

import numpy as np


def class_balanced_indices(indices: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Oversample every class to the size of the largest one, then shuffle.

    Parameters
    ----------
    indices : (M,) int array
        Positions (into the full training table) of the current training set.
    labels : (M,) int array
        Current label of each position in ``indices``.
    rng : numpy Generator
        Source of randomness (seeded per epoch by the caller).

    Returns
    -------
    (K_present * max_count,) int array of positions, shuffled. The official sampler fills the
    last partial repetition with the first r members of a class; here those r are drawn at random.
    """
    indices = np.asarray(indices, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if indices.shape != labels.shape:
        raise ValueError(f"indices and labels differ in shape: {indices.shape} vs {labels.shape}")
    if indices.size == 0:
        return indices
    classes, counts = np.unique(labels, return_counts=True)
    target = int(counts.max())
    parts = []
    for c, n in zip(classes, counts):
        members = indices[labels == c]
        reps, rest = divmod(target, int(n))
        parts.append(np.tile(members, reps))
        if rest:
            parts.append(rng.choice(members, size=rest, replace=False))
    out = np.concatenate(parts)
    rng.shuffle(out)
    return out


def fill_epoch(order: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Cycle ``order`` (reshuffled on every further pass) until it holds ``length`` indices.

    MixFix runs ``len(full training pool) // batch_size`` iterations per epoch whatever the
    size of the current training set, restarting the sampler when it runs out.
    """
    if order.size == 0 or length <= 0:
        return np.zeros(0, dtype=np.int64)
    chunks, total = [order], order.size
    while total < length:
        nxt = order.copy()
        rng.shuffle(nxt)
        chunks.append(nxt)
        total += nxt.size
    return np.concatenate(chunks)[:length]


def shuffled(indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``indices`` (plain, not class-balanced)."""
    out = np.asarray(indices, dtype=np.int64).copy()
    rng.shuffle(out)
    return out
