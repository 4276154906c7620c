"""The "induced" classifier: class-balanced multinomial logistic regression on embeddings.

Probabilities are out-of-fold by default: a model never scores a sample whose (possibly
wrong) label it was fitted on. The L2 strength is chosen automatically by default: on the
first fold, a path of penalties (strongest first, warm-started) is scored by the held-out
class-balanced log-loss of the given labels, and the best one is used for every fold.
Noisier labels favour stronger penalties, so this adapts to the noise level.

Above ``MINIBATCH_ABOVE`` fitting rows (measured in benchmarks/score_scale.py: at 100k x 512 x
100 one L-BFGS fit costs 10-20 full passes, the warm-started minibatch fit 1), the penalty path runs by
L-BFGS on a stratified subsample of ``path_samples`` rows of fold 0, and every fold is then
fitted on all its rows by ``linear.fit_minibatch`` (streaming float16 rows; numpy on the
CPU, torch on CUDA), warm-started from the path's model; X is never copied per fold.

The other folds start from the first fold's weights. The objective is strictly convex
(L2 penalty), so each fold's optimum does not depend on where L-BFGS starts; the warm
start only saves iterations (about half at 100k x 512 x 100).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.scoring.linear import LinearModel, fit, fit_minibatch
from labelclean.scoring.quality import validate_embeddings
from labelclean.scoring.rowprobs import DenseProbs, FoldProbs, RowProbs

L2_GRID = (3e-3, 1e-3, 3e-4, 1e-4)
# Fits on more rows than this use minibatch Adam over all rows, fewer use exact full-batch L-BFGS.
MINIBATCH_ABOVE = 60_000


@dataclass(frozen=True)
class LogRegOptions:
    l2: float | None = None  # mean-form penalty l2/2 ||W||^2; None = choose from l2_grid
    l2_grid: tuple[float, ...] = L2_GRID
    max_iter: int = 60
    tol: float = 1e-5  # L-BFGS stops when the relative loss change falls below this
    max_fit_samples: int = 200_000  # L-BFGS fits: stratified subsample per fit above this (0: never)
    minibatch_above: int = MINIBATCH_ABOVE  # fits on more rows are minibatch (0: always, huge: never)
    epochs: int = 1  # minibatch fits (warm-started): passes over the fitting rows
    path_samples: int = 20_000  # minibatch mode: rows of fold 0 the l2 path is chosen on (L-BFGS)


@dataclass
class LogRegResult:
    rows: RowProbs  # the (N, K) probabilities, computed block by block from the per-fold models
    l2: float  # penalty used
    held_out_loss: dict[float, float]  # l2 -> class-balanced log-loss on the selection fold
    model: LinearModel | None = None  # the first fold's model (a warm start for refits)
    minibatch: bool = False  # whether the fold fits were minibatch (above options.minibatch_above)

    @property
    def probs(self) -> np.ndarray:
        """(N, K) float32, higher = more likely that class (materialised from ``rows`` on each access)."""
        return self.rows.dense()


def out_of_fold_probs(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int | None = None,
    folds: int = 5,
    in_sample: bool = False,
    seed: int = 0,
    device: str = "auto",
    options: LogRegOptions = LogRegOptions(),
) -> LogRegResult:
    """p(k | x) from a class-balanced logistic regression fitted on the given labels.

    Parameters
    ----------
    X : (N, D) float16 or float32 embeddings (not copied; fits read the rows they use).
    labels : (N,) given (possibly noisy) class ids in [0, K).
    n_classes : K, default ``labels.max() + 1``.
    folds : number of stratified folds (>= 2); each sample is scored by the model fitted
        on the other folds. Ignored when ``in_sample``.
    in_sample : fit on everything and score the same samples (the official CLIPCleaner
        behaviour; memorises noisy labels). An automatic l2 is then chosen on a 20 % split.
    seed : seeds the fold assignment and subsampling (results are deterministic).
    device : "auto" (CUDA when available), "cpu", "cuda", "cuda:N".

    Returns
    -------
    LogRegResult with the l2 used and ``rows``, the (N, K) probabilities (higher = more likely
    that class) as per-fold models that compute them block by block (``probs``: the matrix).
    """
    X = as_embeddings(X)
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    _validate(X, labels, n_classes, folds, in_sample)
    if n_classes == 1 or np.unique(labels).size == 1:
        probs = np.zeros((X.shape[0], n_classes), dtype=np.float32)
        probs[:, labels[0]] = 1.0
        return LogRegResult(DenseProbs(probs), 0.0, {})
    rng = np.random.default_rng(seed)
    assignment = stratified_folds(labels, 5 if in_sample else folds, rng)
    first = _fold_split(assignment, 0)
    minibatch = uses_minibatch(first.train.size, options)
    cap = min(options.path_samples, options.max_fit_samples or options.path_samples) if minibatch \
        else options.max_fit_samples
    fit_idx = _subsample(labels, first.train, cap, rng)
    model, l2, losses = _first_fold(X, labels, fit_idx, first.held, n_classes, device, options)
    path_model = model

    def refit(train: np.ndarray, init: LinearModel, f: int) -> LinearModel:
        if minibatch:
            return fit_minibatch(X, labels, train, n_classes=n_classes, device=device, l2=l2, init=init,
                                 epochs=options.epochs, seed=seed + f)
        idx = _subsample(labels, train, options.max_fit_samples, rng)
        return fit(X[idx], labels[idx], n_classes=n_classes, device=device, l2=l2, max_iter=options.max_iter,
                   tol=options.tol, init=init)

    if in_sample:
        model = refit(np.arange(labels.size), model, 0)
        return LogRegResult(FoldProbs(X, np.zeros(labels.size, np.int64), [model], n_classes), l2, losses, model,
                            minibatch)
    if minibatch:
        model = refit(first.train, path_model, 0)
    models: list[LinearModel | None] = [model]
    for f in range(1, folds):
        split = _fold_split(assignment, f)
        models.append(refit(split.train, path_model, f) if split.held.size else None)
    return LogRegResult(FoldProbs(X, assignment, models, n_classes), l2, losses, model, minibatch)


def uses_minibatch(n_fit: int, options: LogRegOptions) -> bool:
    """Whether a fit on ``n_fit`` rows is minibatch (above the switch) rather than full-batch L-BFGS."""
    return n_fit > options.minibatch_above


def as_embeddings(X: np.ndarray) -> np.ndarray:
    """``X`` as stored when float16/float32 (fits read rows and convert blocks), else float32."""
    X = np.asarray(X)
    return X if X.dtype in (np.float16, np.float32) else X.astype(np.float32)


def _validate(X: np.ndarray, labels: np.ndarray, n_classes: int, folds: int, in_sample: bool) -> None:
    validate_embeddings(X, labels, n_classes)
    if not in_sample and folds < 2:
        raise ValueError(f"folds must be >= 2 (or use in_sample), got {folds}")


@dataclass
class _Split:
    train: np.ndarray
    held: np.ndarray


def _fold_split(assignment: np.ndarray, f: int) -> _Split:
    return _Split(np.flatnonzero(assignment != f), np.flatnonzero(assignment == f))


def _first_fold(X, labels, fit_idx, held, n_classes, device, options) -> tuple[LinearModel, float, dict]:
    """Fit fold 0; with ``options.l2`` None, walk the l2 path and keep the best held-out loss."""
    kw = {"n_classes": n_classes, "device": device, "max_iter": options.max_iter, "tol": options.tol}
    Xf, yf = X[fit_idx], labels[fit_idx]
    if options.l2 is not None:
        return fit(Xf, yf, l2=options.l2, **kw), float(options.l2), {}
    best, best_l2, losses, prev = None, None, {}, None
    for l2 in sorted(options.l2_grid, reverse=True):
        prev = fit(Xf, yf, l2=l2, init=prev, **kw)
        losses[float(l2)] = balanced_log_loss_given(labels[held], prev.given_proba(X, held, labels[held]), n_classes)
        if best is None or losses[float(l2)] < losses[best_l2]:
            best, best_l2 = prev, float(l2)
    return best, best_l2, losses


def balanced_log_loss(labels: np.ndarray, probs: np.ndarray, n_classes: int) -> float:
    """Mean -log p(label), each class weighted equally (lower = better fit of the labels)."""
    return balanced_log_loss_given(labels, probs[np.arange(labels.size), labels], n_classes)


def balanced_log_loss_given(labels: np.ndarray, given: np.ndarray, n_classes: int) -> float:
    """``balanced_log_loss`` from (N,) p(label) alone."""
    if labels.size == 0:
        return 0.0
    nll = -np.log(np.maximum(given, 1e-12))
    per_class = np.bincount(labels, weights=nll, minlength=n_classes)
    counts = np.bincount(labels, minlength=n_classes)
    present = counts > 0
    return float(np.mean(per_class[present] / counts[present]))


def stratified_folds(labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold id per sample: each class is shuffled and dealt round-robin, from a random fold."""
    assignment = np.empty(labels.shape[0], dtype=np.int64)
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        idx = idx[rng.permutation(idx.size)]
        assignment[idx] = (np.arange(idx.size) + rng.integers(folds)) % folds
    return assignment


def _subsample(labels: np.ndarray, idx: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """At most about ``cap`` indices, each class keeping its share (at least one sample)."""
    if cap <= 0 or idx.size <= cap:
        return idx
    keep = []
    frac = cap / idx.size
    for k in np.unique(labels[idx]):
        members = idx[labels[idx] == k]
        n = max(1, int(round(members.size * frac)))
        keep.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(keep))
