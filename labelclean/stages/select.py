"""`select`: stored probabilities -> selection.parquet (clean / flag / relabel per sample).

Reads only what `score` stored (probs/<estimator>.parquet, scores.parquet) plus the
manifest's duplicate groups and, when present, deft.parquet and css.parquet (the trained
estimators `deft` and `css`: their probabilities plus a p_clean criterion), so it can be re-run with
other thresholds in seconds. See labelclean.selection for the methods.
"""

from __future__ import annotations


import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labelclean.store import parquet_io, schemas
from labelclean.core.errors import UsageError, WorkdirError
from labelclean.selection import CRITERIA, FLAG_COUNTS, METHODS, WEIGHTINGS, SelectionOptions, SelectionResult, select_samples
from labelclean.selection.combine import parse_combine
from labelclean.selection.suggest import confused_pairs, per_class_flag_rate
from labelclean.stages.configs import SelectConfig, comma_list
from labelclean.core.report import StageReport, Timer
from labelclean.store.probs import ProbFiles, align_rows
from labelclean.store.tables import load_classes, load_manifest
from labelclean.store.workdir import Workdir


@dataclass(kw_only=True)
class SelectReport(StageReport):
    stage: str = "select"
    method: str
    estimators: list[str]
    weighting: str  # fixed | reliability
    weights: dict[str, float]  # estimator weights in the ensemble (also in selection.parquet's metadata)
    reliability: dict[str, float]  # weighting reliability: each estimator's mixture share (metadata too)
    samples: int
    kept: int
    flagged: int
    relabel: int
    outliers: int
    theta_outlier: float
    estimated_noise_rate: float  # confident-joint estimate on the ensemble probabilities (metadata too)
    mixture_noise_rate: float  # uniform-noise mixture estimate on the ensemble probabilities (metadata too)
    flag_count: str  # the configured rule: mixture | criteria | noise-rate
    flag_rule: str  # what set the flagged count (mixture falls back to criteria); "" for methods criteria/css
    flagged_share: float  # flagged / samples
    per_class: list[dict[str, Any]]  # class, samples, flagged, rate
    confused_pairs: list[dict[str, Any]]  # given, suggested, count
    failed_criteria: dict[str, int]
    fallback: list[dict[str, Any]]  # classes that kept their best-scored samples
    notes: list[str]


def run_select(wd: Workdir, cfg: SelectConfig) -> SelectReport:
    """Decide keep / flag / relabel for every scored sample and write selection.parquet."""
    options = _options(cfg)
    wd.require(wd.scores, "score")
    with Timer() as t, wd.lock():
        scores, meta = parquet_io.read_table(wd.scores, "scores", columns=["sample_id", "label_id"])
        ids = scores["sample_id"]
        labels = scores["label_id"].to_numpy().astype(np.int64)
        classes = [c.name for c in load_classes(wd)]
        names = _estimators(wd, cfg.estimators, meta.get("estimators") or [])
        trained, extra, eps = {}, {}, {}
        for name in (n for n in TRAINED if n in names):
            trained[name], extra[name], eps[name] = _load_trained(wd, name, _object_ids(ids), len(classes),
                                                                  meta.get("model_id"))
        probs = ProbFiles(wd, names, ids, n_classes=len(classes), model_id=meta.get("model_id"), arrays=trained)
        try:
            res = select_samples(labels, probs, n_classes=len(classes), groups=_groups(wd, ids), extra_clean=extra,
                                 extra_eps={n: e for n, e in eps.items() if e is not None}, options=options)
        except ValueError as e:
            raise UsageError(str(e), "see `labelclean select --help` for the methods and what they need") from e
        report = _report(labels, res, classes, names, cfg)
        _write(wd, ids, labels, res, meta.get("model_id"), report)
    report.outputs, report.seconds = [wd.selection], t.seconds
    wd.update_run("select", report.run_record(cfg))
    return report


def _options(cfg: SelectConfig) -> SelectionOptions:
    if cfg.method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}, got {cfg.method!r}")
    criteria = tuple(comma_list(cfg.criteria))
    bad = [c for c in criteria if c not in CRITERIA]
    if bad or not criteria:
        raise UsageError(f"--criteria must list some of {', '.join(CRITERIA)}, got {cfg.criteria!r}")
    try:
        parse_combine(cfg.combine)
    except ValueError as e:
        raise UsageError(f"--combine: {e}") from e
    if cfg.weighting not in WEIGHTINGS:
        raise UsageError(f"--weighting must be one of {', '.join(WEIGHTINGS)}, got {cfg.weighting!r}")
    if cfg.flag_count not in FLAG_COUNTS:
        raise UsageError(f"--flag-count must be one of {', '.join(FLAG_COUNTS)}, got {cfg.flag_count!r}")
    for name in ("theta_cons", "theta_gmm", "theta_relabel", "css_eps"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(cfg, name)}")
    # every SelectionOptions field is the config field of the same name (a new option passes through)
    same = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(SelectionOptions) if f.name != "criteria"}
    return SelectionOptions(**same, criteria=criteria)


TRAINED = ("deft", "css")  # estimators written by `train --method <name>` to W/<name>.parquet


def _trained_path(wd: Workdir, name: str):
    return {"deft": wd.deft, "css": wd.css}[name]


def _estimators(wd: Workdir, requested: str | None, scored: list[str]) -> list[str]:
    available = list(scored) + [n for n in TRAINED if _trained_path(wd, n).exists()]
    if requested is None or not requested.strip():
        return available
    names = comma_list(requested)
    missing = [n for n in names if n not in available]
    if missing:
        hint = f"run `labelclean train --method {missing[0]}` first" if len(missing) == 1 and missing[0] in TRAINED \
            else f"run `labelclean score -w {wd.root} --estimators {','.join(names)}` first"
        raise UsageError(f"estimator(s) {', '.join(missing)} not available (scored: {', '.join(available) or 'none'})",
                         hint)
    return [n for n in available if n in names]


def _align(table: pa.Table, ids: np.ndarray, path) -> np.ndarray:
    """Row index in ``table`` of every id (WorkdirError when some are missing)."""
    return align_rows(np.asarray(table["sample_id"].to_pylist(), dtype=object), ids, path)


def _object_ids(ids: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(ids.to_pylist(), dtype=object)


def _load_trained(wd: Workdir, name: str, ids: np.ndarray, n_classes: int, model_id: str | None
                  ) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(probs, p_clean, eps) of W/<name>.parquet aligned to ``ids``; null rows (not trained on) get p_clean 0.

    ``eps`` is the clean posterior training used (css: its ``--css-eps``, so select's verdict is
    training's X), None for the p_clean > 0.5 rule (deft).
    """
    path = _trained_path(wd, name)
    table, meta = parquet_io.read_table(path, name, model_id if name == "css" else None)
    rows = _align(table, ids, path)
    P = parquet_io.to_numpy_2d(table["probs"])
    if P.shape[1] != n_classes:
        raise WorkdirError(f"{path} has {P.shape[1]} classes, the manifest {n_classes}",
                           f"re-run `labelclean train --method {name}`")
    p_clean = table["p_clean"].fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float32)
    eps = meta.get("css_eps") if name == "css" else None
    return np.ascontiguousarray(P[rows]), p_clean[rows], None if eps is None else float(eps)


def _groups(wd: Workdir, ids: pa.ChunkedArray) -> np.ndarray:
    """(N,) int64 duplicate-group code per scored sample: equal codes = one file (``duplicate_of``, else itself)."""
    manifest, _ = load_manifest(wd, ["sample_id", "duplicate_of"])
    manifest = manifest.filter(pc.is_valid(manifest["duplicate_of"]))
    if manifest.num_rows == 0:
        return np.arange(len(ids), dtype=np.int64)
    at = pc.index_in(ids, value_set=manifest["sample_id"])
    group = pc.coalesce(pc.take(manifest["duplicate_of"], at), ids)
    group = group.combine_chunks() if isinstance(group, pa.ChunkedArray) else group
    return pc.dictionary_encode(group).indices.to_numpy().astype(np.int64)


def _write(wd: Workdir, ids, labels, res: SelectionResult, model_id: str | None, report: SelectReport) -> None:
    """selection.parquet; its metadata holds what later stages need of select (method, estimators, weights)."""
    sugg = res.suggested
    table = pa.table(
        {
            "sample_id": ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids,
            "label_id": pa.array(labels.astype(np.int32), pa.int32()),
            "clean": pa.array(res.clean, pa.bool_()),
            "clean_score": pa.array(res.clean_score, pa.float32()),
            "failed": pa.array(res.failed.tolist(), pa.string()),
            "suggested_label_id": pa.array(sugg.astype(np.int32), pa.int32(), mask=sugg < 0),
            "suggested_confidence": pa.array(res.suggested_confidence, pa.float32(), mask=sugg < 0),
            "outlier": pa.array(res.outlier, pa.bool_()),
            "decision": pa.array(res.decision.tolist(), pa.string()),
            "votes_clean": pa.array(res.votes_clean, pa.int32()),
            "p_clean": pa.array(res.p_clean if res.p_clean is not None else np.zeros(len(ids), np.float32),
                                pa.float32(), mask=None if res.p_clean is not None else np.ones(len(ids), bool)),
        },
        schema=schemas.selection_schema(),
    )
    parquet_io.write_table(wd.selection, table, "selection", model_id=model_id, method=report.method,
                           estimators=report.estimators, weights=report.weights, weighting=report.weighting,
                           reliability=report.reliability, estimated_noise_rate=report.estimated_noise_rate,
                           mixture_noise_rate=report.mixture_noise_rate, flag_rule=report.flag_rule)


def _report(labels, res: SelectionResult, classes: list[str], estimators: list[str], cfg: SelectConfig) -> SelectReport:
    flagged = ~res.clean
    counts = {"samples": int(labels.size), "kept": int(res.clean.sum()), "flagged": int(flagged.sum()),
              "relabel": int((res.decision == "relabel").sum()), "outliers": int(res.outlier.sum())}
    return SelectReport(
        counts=counts, **counts,
        method=cfg.method,
        estimators=estimators,
        weighting=cfg.weighting,
        weights={e: round(w, 4) for e, w in res.weights.items()},
        reliability={e: round(r, 4) for e, r in res.reliability.items()},
        theta_outlier=round(res.theta_outlier, 6),
        estimated_noise_rate=round(float(res.estimated_noise_rate), 6),
        mixture_noise_rate=round(float(res.mixture_noise_rate), 6),
        flag_count=cfg.flag_count,
        flag_rule=res.flag_rule,
        flagged_share=float(flagged.mean()) if labels.size else 0.0,
        per_class=per_class_flag_rate(labels, res.clean, classes),
        confused_pairs=confused_pairs(labels, res.suggested, flagged, classes),
        failed_criteria=_failed_counts(res.failed),
        fallback=[{**f, "class": classes[f["class_id"]]} for f in res.fallback],
        notes=res.notes,
    )


def _failed_counts(failed: np.ndarray) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in failed:
        for name in filter(None, value.split(",")):
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))
