"""Top-3 classes per sample, as select saw them, for relabels.csv and the report.

When select recorded estimator weights (its ``ensemble`` view, in selection.parquet's metadata) and the probability matrices
in ``probs/`` (read through ``store.probs.load_probs``) are small enough (N*K <= MAX_CELLS), the top-3 of the weighted mean of the
estimators' probabilities is shown, the same probabilities select's suggestions come from.
Otherwise one estimator's top-3 from scores.parquet (the first select used, else zeroshot).
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from labelclean.scoring import ESTIMATORS
from labelclean.store.parquet_io import read_meta, read_table
from labelclean.store.probs import load_probs, probs_shape
from labelclean.store.workdir import Workdir

MAX_CELLS = 50_000_000  # 200 MB of float32 per estimator

Top3 = dict[str, list[tuple[int, float]]]


def estimators_with_top3(columns: list[str]) -> list[str]:
    return [c.removesuffix("_top3_ids") for c in columns if c.endswith("_top3_ids")]


def pick_estimator(available: list[str], configured: list[str] | None = None) -> str | None:
    """The estimator whose scores.parquet top-3 to show: the first select used, else a
    preferred name, else the first in scores.parquet."""
    for name in list(configured or []) + list(ESTIMATORS):
        if name in available:
            return name
    return available[0] if available else None


def load_top3(wd: Workdir) -> Top3:
    """sample_id -> [(class id, probability)] * 3, best first; empty without scores."""
    meta = read_meta(wd.selection) if wd.selection.exists() else {}
    weights = {e: float(w) for e, w in (meta.get("weights") or {}).items() if w}
    ensemble = _ensemble_top3(wd, weights) if weights else None
    if ensemble is not None:
        return ensemble
    return _scores_top3(wd, meta.get("estimators"))


def _ensemble_top3(wd: Workdir, weights: dict[str, float]) -> Top3 | None:
    shapes = {e: probs_shape(wd, e) for e in weights}
    if any(s is None for s in shapes.values()):
        return None
    rows, k = next(iter(shapes.values()))
    if rows * k > MAX_CELLS:
        return None
    ids, total = None, None
    for est in weights:
        these, P = load_probs(wd, est)
        if ids is None:
            ids, total = these, P.astype(np.float64) * weights[est]
        elif not np.array_equal(these, ids):
            return None
        else:
            total += P.astype(np.float64) * weights[est]
    total /= sum(weights.values())
    k = min(3, total.shape[1])
    top = np.argsort(-total, axis=1, kind="stable")[:, :k]
    probs = np.take_along_axis(total, top, axis=1)
    return {s: [(int(c), float(p)) for c, p in zip(top[i], probs[i])] for i, s in enumerate(ids.tolist())}


def _scores_top3(wd: Workdir, configured: list[str] | None) -> Top3:
    if not wd.scores.exists():
        return {}
    est = pick_estimator(estimators_with_top3(pq.read_schema(wd.scores).names), configured)
    if est is None:
        return {}
    table, _ = read_table(wd.scores, "scores", columns=["sample_id", f"{est}_top3_ids", f"{est}_top3_probs"])
    ids, ps = table[f"{est}_top3_ids"].to_pylist(), table[f"{est}_top3_probs"].to_pylist()
    return {s: list(zip(i, p)) for s, i, p in zip(table["sample_id"].to_pylist(), ids, ps)
            if i is not None and p is not None}
