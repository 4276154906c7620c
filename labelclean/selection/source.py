"""Row blocks of every estimator's (N, K) probabilities, so `select` never holds them all at once.

A probability source yields, for consecutive row ranges, one float32 block per estimator
(the same rows for all of them). `select` makes a few passes over it: one to summarise each
estimator per sample (``selection.views``), then, once the ensemble's weights are known,
passes over the weighted ensemble for the confident joint and its pruning. Held at once: a
block per estimator (``block_rows`` bounds it to about 64 MB each) and a few numbers per
sample, instead of E full matrices (10M x 100 classes: 4 GB each; 1M x 1,000: 4 GB each).

``ArraySource`` serves matrices already in memory (tests, the trained estimators' files,
library callers); ``store.probs.ProbFiles`` reads probs/<estimator>.parquet block by block.
Both give the same numbers, block size only changes how many rows are in flight.
"""

from __future__ import annotations

from typing import Iterator, Protocol

import numpy as np

from labelclean.core.vectors import BLOCK_CELLS, block_rows  # noqa: F401  (re-exported: the block size rule)


class ProbSource(Protocol):
    names: list[str]  # estimators, in the order every block lists them
    n: int  # rows
    k: int  # classes

    def blocks(self) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """(first row, estimator -> (b, K) float32 probabilities of rows first .. first + b - 1), in row order."""
        ...


class ArraySource:
    """A ProbSource over (N, K) matrices in memory; ``rows`` per block (None: one block of everything)."""

    def __init__(self, arrays: dict[str, np.ndarray], rows: int | None = None):
        if not arrays:
            raise ValueError("at least one estimator's probabilities are needed")
        self.arrays = arrays
        self.names = list(arrays)
        first = next(iter(arrays.values()))
        self.n, self.k = (int(first.shape[0]), int(first.shape[1])) if first.ndim == 2 else (int(first.shape[0]), 0)
        self.rows = rows

    def blocks(self) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        step = self.rows or max(self.n, 1)
        for start in range(0, self.n, step):
            yield start, {e: np.asarray(a[start : start + step], dtype=np.float32) for e, a in self.arrays.items()}


def as_source(probs: "dict[str, np.ndarray] | ProbSource") -> ProbSource:
    """A dict of matrices becomes one ArraySource block; a ProbSource passes through."""
    return ArraySource(probs) if isinstance(probs, dict) else probs


def weighted_blocks(source: ProbSource, weights: dict[str, float]) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, (b, K) float32 weighted mean of the estimators' blocks), the ensemble block by block.

    float64 sum in estimator order, then float32: the same arithmetic as
    ``combine.ensemble_given``, so the given label's entry of a block equals that vector exactly.
    """
    total = sum(weights[e] for e in source.names)
    for start, block in source.blocks():
        yield start, (sum(weights[e] * block[e].astype(np.float64) for e in source.names) / total).astype(np.float32)
