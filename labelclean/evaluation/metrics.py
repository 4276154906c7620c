"""Quality of a selection against known true labels (pure numpy).

"Noisy" means given label != true label. The flagged set (not clean) is scored as a
detector of noisy labels; the kept set as in the DeFT paper (precision = share of kept
samples whose label is right, recall = share of correctly labelled samples that are kept).
"""

from __future__ import annotations

import numpy as np


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve of ``score`` for ``positive`` (ties count half); None if undefined."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(np.asarray(score, dtype=np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Average precision (area under the step precision-recall curve, as scikit-learn); None if no positive."""
    positive = np.asarray(positive, dtype=bool)
    if not positive.any():
        return None
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="stable")
    s, p = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # end of each block of tied scores
    tp = np.cumsum(p)[last]
    precision = tp / (last + 1)
    recall = tp / p.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    sx = x[order]
    ranks = np.empty(x.size, dtype=np.float64)
    starts = np.r_[0, np.flatnonzero(np.diff(sx) != 0) + 1]
    ends = np.r_[starts[1:], sx.size]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _ratio(num: int, den: int) -> float | None:
    return float(num / den) if den else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return float(2 * p * r / (p + r)) if p + r > 0 else 0.0


def detection_metrics(
    given: np.ndarray,
    truth: np.ndarray,
    clean: np.ndarray,
    clean_score: np.ndarray,
    *,
    suggested: np.ndarray | None = None,
) -> dict:
    """Precision/recall of the kept and flagged sets, ROC-AUC / AP of ``clean_score``, relabel accuracy.

    Parameters
    ----------
    given, truth : (N,) given and true class ids (a true id of -1 means "none of the
        classes": always noisy).
    clean : (N,) bool selection; flagged = ~clean.
    clean_score : (N,) higher = more likely correctly labelled.
    suggested : (N,) suggested class id, -1 when none.

    Returns
    -------
    dict with n, n_noisy, noise_rate, n_flagged, flagged_precision/recall/f1,
    kept_precision/recall, auroc (clean_score vs correct labels), average_precision
    (1 - clean_score for detecting noisy labels), average_precision_clean, n_suggested,
    relabel_accuracy. Undefined ratios are None.
    """
    noisy = np.asarray(given) != np.asarray(truth)
    clean = np.asarray(clean, dtype=bool)
    flagged = ~clean
    tp = int((flagged & noisy).sum())
    f_prec, f_rec = _ratio(tp, int(flagged.sum())), _ratio(tp, int(noisy.sum()))
    out = {
        "n": int(noisy.size),
        "n_noisy": int(noisy.sum()),
        "noise_rate": _ratio(int(noisy.sum()), noisy.size),
        "n_flagged": int(flagged.sum()),
        "n_kept": int(clean.sum()),
        "flagged_precision": f_prec,
        "flagged_recall": f_rec,
        "flagged_f1": _f1(f_prec, f_rec),
        "kept_precision": _ratio(int((clean & ~noisy).sum()), int(clean.sum())),
        "kept_recall": _ratio(int((clean & ~noisy).sum()), int((~noisy).sum())),
        "auroc": roc_auc(~noisy, clean_score),
        "average_precision": average_precision(noisy, 1.0 - np.asarray(clean_score, dtype=np.float64)),
        "average_precision_clean": average_precision(~noisy, clean_score),
    }
    out.update(_relabel(truth, suggested))
    return out


def _relabel(truth: np.ndarray, suggested: np.ndarray | None) -> dict:
    if suggested is None:
        return {"n_suggested": 0, "relabel_accuracy": None}
    has = np.asarray(suggested) >= 0
    right = int((np.asarray(suggested)[has] == np.asarray(truth)[has]).sum())
    return {"n_suggested": int(has.sum()), "relabel_accuracy": _ratio(right, int(has.sum()))}


def per_class_metrics(given: np.ndarray, truth: np.ndarray, clean: np.ndarray, class_names: list[str]) -> list[dict]:
    """Per given class: samples, truly noisy, flagged, and the flagged set's precision/recall."""
    noisy = np.asarray(given) != np.asarray(truth)
    flagged = ~np.asarray(clean, dtype=bool)
    rows = []
    for c, name in enumerate(class_names):
        m = np.asarray(given) == c
        tp = int((m & flagged & noisy).sum())
        rows.append(
            {
                "class_id": c,
                "class": name,
                "n": int(m.sum()),
                "n_noisy": int((m & noisy).sum()),
                "n_flagged": int((m & flagged).sum()),
                "flagged_precision": _ratio(tp, int((m & flagged).sum())),
                "flagged_recall": _ratio(tp, int((m & noisy).sum())),
            }
        )
    return rows


def noise_rate_comparison(given: np.ndarray, truth: np.ndarray, estimated: float | None, *, prefix: str = "") -> dict:
    """The estimated share of wrong labels (from `select`) beside the true share.

    Returns {"estimated_noise_rate", "true_noise_rate", "noise_rate_error"} where the error
    is estimated - true (positive = the estimate flags too many); None where undefined.
    ``prefix`` names another estimate: "mixture_" gives mixture_noise_rate and
    mixture_noise_rate_error (the true rate keeps its name).
    """
    noisy = np.asarray(given) != np.asarray(truth)
    true = _ratio(int(noisy.sum()), noisy.size)
    est = None if estimated is None else float(estimated)
    err = None if est is None or true is None else est - true
    if prefix:
        return {f"{prefix}noise_rate": est, "true_noise_rate": true, f"{prefix}noise_rate_error": err}
    return {"estimated_noise_rate": est, "true_noise_rate": true, "noise_rate_error": err}
