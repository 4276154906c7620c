"""A noise-robust induced classifier: out-of-fold logistic regression refitted on the samples it trusts.

Pass 1 is the ordinary out-of-fold estimator (``logreg.out_of_fold_probs``). Its
probabilities select a trusted subset: samples that survive confident-learning
noise-rate pruning (``scoring.confident.noise_rate_pass``) and whose given label is
the pass-1 argmax. Pass 2 reuses pass 1's penalty and refits one model per fold on the
trusted samples *of the other folds*, then scores every sample of the held-out fold,
so a sample's own (possibly wrong) label never enters the model that scores it. At
heavy noise the pass-1 model has learnt part of the noise; the refit forgets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labelclean.scoring.linear import fit, fit_minibatch
from labelclean.scoring.logreg import (LogRegOptions, LogRegResult, as_embeddings, out_of_fold_probs,
                                       stratified_folds, uses_minibatch)
from labelclean.scoring.rowprobs import DenseProbs, FoldProbs, RowProbs

MIN_TRUSTED_PER_CLASS = 2  # a class with fewer trusted samples in a fit keeps all its samples there


@dataclass
class RobustResult:
    rows: RowProbs  # (N, K) probabilities block by block (the last refit's per-fold models)
    first_rows: RowProbs  # pass 1's
    l2: float  # penalty used in both passes
    trusted: np.ndarray  # (N,) bool: samples the refit was allowed to learn from
    rounds: int  # refits done
    notes: list[str] = field(default_factory=list)

    @property
    def probs(self) -> np.ndarray:
        """(N, K) float32, higher = more likely that class (materialised on each access)."""
        return self.rows.dense()

    @property
    def first_pass(self) -> np.ndarray:
        """(N, K) float32 pass-1 probabilities (materialised on each access)."""
        return self.first_rows.dense()


def robust_probs(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int | None = None,
    folds: int = 5,
    rounds: int = 1,
    seed: int = 0,
    device: str = "auto",
    options: LogRegOptions = LogRegOptions(),
    first_pass: LogRegResult | None = None,
) -> RobustResult:
    """p(k | x) from an out-of-fold logistic regression refitted on trusted samples.

    Parameters
    ----------
    X : (N, D) float16 or float32 embeddings.
    labels : (N,) given (possibly noisy) class ids in [0, K).
    folds : stratified folds (>= 2) of both passes.
    rounds : refits after pass 1 (each one selects the trusted set from the previous
        round's probabilities); 0 returns pass 1 unchanged.
    seed, device, options : as ``logreg.out_of_fold_probs``.
    first_pass : the result of ``out_of_fold_probs`` with the same arguments, when already
        computed (the logreg estimator): pass 1 is then not fitted again.

    Returns
    -------
    RobustResult: ``rows`` (``probs`` as a matrix), higher = more likely that class; every row
    is out-of-fold for its own sample. No (N, K) matrix is held: both passes keep per-fold models.
    """
    X = as_embeddings(X)
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    first = first_pass or out_of_fold_probs(X, labels, n_classes=n_classes, folds=folds, seed=seed, device=device,
                                            options=options)
    rows, trusted, notes = first.rows, np.ones(labels.size, dtype=bool), []
    if np.unique(labels).size < 2:
        return RobustResult(rows, first.rows, first.l2, trusted, 0, notes)
    assignment = stratified_folds(labels, folds, np.random.default_rng(seed + 1))
    for _ in range(rounds):
        trusted = trusted_rows(labels, rows)
        rows = _refit(X, labels, trusted, assignment, folds, n_classes, first.l2, device, options, notes,
                      first.model, seed)
    return RobustResult(rows, first.rows, first.l2, trusted, rounds, notes)


def trusted_samples(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(N,) bool: not pruned by confident learning and labelled with the argmax class."""
    return trusted_rows(np.asarray(labels, dtype=np.int64), DenseProbs(probs))


def trusted_rows(labels: np.ndarray, rows: RowProbs) -> np.ndarray:
    """``trusted_samples`` over row blocks: three passes (p(given) and argmax, confident joint, pruning)."""
    from labelclean.scoring.confident import confident_joint_blocks, prune_blocks

    given, pred = rows.given_and_pred(labels)
    if rows.k < 2 or rows.n == 0:
        return pred == labels
    joint = confident_joint_blocks(labels, given, rows.blocks(), rows.k)
    return prune_blocks(labels, joint, rows.blocks()) & (pred == labels)


def _refit(X, labels, trusted, assignment, folds, n_classes, l2, device, options, notes, warm=None,
           seed=0) -> FoldProbs:
    """Out-of-fold probabilities of models fitted on the trusted rows of the other folds.

    Above options.minibatch_above rows a fit is minibatch (warm-started from ``warm``, pass 1's
    model), else full-batch L-BFGS from the previous fold's model.
    """
    models: list = []
    init = None
    for f in range(folds):
        held = np.flatnonzero(assignment == f)
        if held.size == 0:
            models.append(None)
            continue
        train = _with_thin_classes(labels, trusted, assignment != f, n_classes, notes)
        if uses_minibatch(train.size, options):
            model = fit_minibatch(X, labels, train, n_classes=n_classes, device=device, l2=l2,
                                  init=warm if warm is not None else init, epochs=options.epochs, seed=seed + 100 + f)
        else:
            model = fit(X[train], labels[train], n_classes=n_classes, device=device, l2=l2,
                        max_iter=options.max_iter, tol=options.tol, init=init)
        init = model
        models.append(model)
    return FoldProbs(X, assignment, models, n_classes)


def _with_thin_classes(labels, trusted, in_fold, n_classes, notes) -> np.ndarray:
    """Trusted samples of the fitting folds, plus every sample of a class left with too few."""
    keep = trusted & in_fold
    counts = np.bincount(labels[keep], minlength=n_classes)
    present = np.bincount(labels[in_fold], minlength=n_classes) > 0
    thin = np.flatnonzero(present & (counts < MIN_TRUSTED_PER_CLASS))
    if thin.size:
        keep |= in_fold & np.isin(labels, thin)
        note = f"robust refit: classes {thin[:10].tolist()} had < {MIN_TRUSTED_PER_CLASS} trusted samples; kept all of theirs"
        if note not in notes:
            notes.append(note)
    return np.flatnonzero(keep)
