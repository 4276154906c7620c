"""An estimator's (N, K) probabilities as row blocks computed on demand.

`score` streams every estimator's rows to disk and into its score columns block by block,
so the fitted estimators (zeroshot's prompts, logreg's and robust's per-fold linear models)
never materialise an (N, K) matrix: at 10M x 100 classes that is 4 GB of float32 per
estimator, while the models that produce it are a few MB. Every block is (b, K) float32,
higher = more likely that class, rows summing to 1; each row's numbers depend on that row
alone (how rows are blocked changes at most the rounding of a block's matrix product).

``dense()`` materialises the matrix for small data, tests and library callers.
"""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence

import numpy as np

from labelclean.core.vectors import block_rows


class RowProbs:
    """Base: ``n`` rows, ``k`` classes, ``block(start, stop)`` -> (stop - start, k) float32."""

    n: int
    k: int

    def block(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def blocks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, (b, K) float32 block) over all rows in order, about 64 MB a block by default."""
        step = max(1, rows or block_rows(self.k))
        for start in range(0, self.n, step):
            yield start, self.block(start, min(self.n, start + step))

    def dense(self) -> np.ndarray:
        """The whole (N, K) float32 matrix."""
        out = np.empty((self.n, self.k), dtype=np.float32)
        for start, b in self.blocks():
            out[start : start + b.shape[0]] = b
        return out

    def given_and_pred(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,) float32 p(given label) and (N,) int64 argmax, in one pass over the blocks."""
        given = np.empty(self.n, dtype=np.float32)
        pred = np.empty(self.n, dtype=np.int64)
        for start, b in self.blocks():
            sl = slice(start, start + b.shape[0])
            given[sl] = b[np.arange(b.shape[0]), labels[sl]]
            pred[sl] = b.argmax(axis=1)
        return given, pred


class DenseProbs(RowProbs):
    """A matrix already in memory (kNN estimators, degenerate fits)."""

    def __init__(self, P: np.ndarray):
        self.P = P
        self.n, self.k = int(P.shape[0]), int(P.shape[1])

    def block(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.P[start:stop], dtype=np.float32)

    def dense(self) -> np.ndarray:
        return np.asarray(self.P, dtype=np.float32)


class Predicts(Protocol):
    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


class FoldProbs(RowProbs):
    """Out-of-fold probabilities: row i is ``models[fold[i]].predict_proba(X[i])``.

    ``fold`` (N,) int holds each row's fold, ``models`` one fitted model per fold (None for a
    fold without rows). One fold for every row (``fold`` all 0) is an in-sample model.
    """

    def __init__(self, X: np.ndarray, fold: np.ndarray, models: Sequence[Predicts | None], n_classes: int):
        self.X, self.fold, self.models = X, np.asarray(fold, dtype=np.int64), list(models)
        self.n, self.k = int(X.shape[0]), int(n_classes)

    def block(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.k), dtype=np.float32)
        folds = self.fold[start:stop]
        for f in np.unique(folds):
            rows = np.flatnonzero(folds == f)
            whole = rows.size == stop - start
            out[rows] = self.models[f].predict_proba(self.X[start:stop] if whole else self.X[start + rows])
        return out
