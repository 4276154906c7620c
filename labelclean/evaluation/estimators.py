"""Each estimator's own detection quality against known true labels (CLIPCleaner's Figure 4).

For every estimator E in scores.parquet (every ``E_p_given`` column, the ``ensemble`` mean
included) and for select's ``clean_score``: the ROC-AUC of the score for "the given label is
right" and the accuracy of E's argmax against the true labels. Rows are joined on
``sample_id``; samples without a true label are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.evaluation.metrics import roc_auc
from labelclean.store import parquet_io
from labelclean.store.workdir import Workdir

SELECT_ROW = "clean_score"
"""Name of the row for select's combined ``clean_score`` (the default decision)."""


@dataclass(frozen=True)
class EstimatorQuality:
    name: str  # estimator name, or "clean_score" for select's combined score
    auroc: float | None  # ROC-AUC of the score for given == true; None when undefined
    accuracy: float | None  # argmax == true label; None for clean_score (no prediction)
    n: int  # samples with a known true label


def estimator_quality(given: np.ndarray, truth: np.ndarray, scores: dict[str, np.ndarray],
                      preds: dict[str, np.ndarray]) -> list[EstimatorQuality]:
    """ROC-AUC and accuracy per score (pure numpy).

    Parameters
    ----------
    given, truth : ndarray of int, shape (N,)
        Given and true class ids of the same samples.
    scores : {name: ndarray (N,)}
        Per-sample scores, **higher = more likely correctly labelled** (e.g. p(given)).
    preds : {name: ndarray (N,)}
        Argmax class ids, for the names that have them.
    """
    positive = np.asarray(given) == np.asarray(truth)
    out = []
    for name, score in scores.items():
        pred = preds.get(name)
        acc = float((np.asarray(pred) == truth).mean()) if pred is not None and truth.size else None
        out.append(EstimatorQuality(name, roc_auc(positive, score), acc, int(truth.size)))
    return out


def workdir_estimator_quality(wd: Workdir, truth_by_sample: dict[str, int]) -> list[EstimatorQuality]:
    """:func:`estimator_quality` for a scored and selected workdir, with true class ids by sample_id.

    Estimators come in scores.parquet's column order (ensemble last), then ``clean_score``.
    """
    wd.require(wd.scores, "score")
    scores, _ = parquet_io.read_table(wd.scores, "scores")
    ids = scores["sample_id"].to_pylist()
    keep = np.asarray([s in truth_by_sample for s in ids], dtype=bool)
    truth = np.asarray([truth_by_sample[s] for s, k in zip(ids, keep) if k], dtype=np.int64)
    given = scores["label_id"].to_numpy(zero_copy_only=False).astype(np.int64)[keep]
    names = [c[: -len("_p_given")] for c in scores.column_names if c.endswith("_p_given")]
    names = [n for n in names if n != "ensemble"] + [n for n in names if n == "ensemble"]
    score_cols, pred_cols = {}, {}
    for n in names:
        score_cols[n] = _column(scores, f"{n}_p_given")[keep]
        if f"{n}_pred" in scores.column_names:
            pred_cols[n] = _column(scores, f"{n}_pred")[keep]
    if wd.selection.exists():
        sel, _ = parquet_io.read_table(wd.selection, "selection", columns=["sample_id", "clean_score"])
        by_id = dict(zip(sel["sample_id"].to_pylist(), sel["clean_score"].to_pylist()))
        score_cols[SELECT_ROW] = np.asarray(
            [by_id.get(s) if by_id.get(s) is not None else 0.0 for s, k in zip(ids, keep) if k], dtype=np.float64)
    return estimator_quality(given, truth, score_cols, pred_cols)


def _column(table, name: str) -> np.ndarray:
    col = table[name]
    return col.fill_null(0).to_numpy(zero_copy_only=False)
