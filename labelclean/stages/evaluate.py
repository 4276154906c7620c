"""`evaluate`: score selection.parquet against true labels (a manifest column or a file).

Truth values are class names (or class ids); a true label that is not one of the classes
counts as noisy ("none of these classes"). Samples without a truth value are left out and
counted. The metrics are described in labelclean.evaluation.metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.store import parquet_io, schemas
from labelclean.core.errors import InputError
from labelclean.evaluation.metrics import detection_metrics, noise_rate_comparison, per_class_metrics
from labelclean.stages.configs import EvaluateConfig
from labelclean.core.report import StageReport, Timer, summary_field
from labelclean.store.tables import load_classes, load_manifest
from labelclean.store.workdir import Workdir

TRUTH_FILE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq")


@dataclass(kw_only=True)
class EvaluateReport(StageReport):
    """The summary is the metrics dict (keys in labelclean.evaluation.metrics, plus per_class,
    without_truth, truth_not_a_class and truth)."""

    stage: str = "evaluate"
    metrics: dict[str, Any] = summary_field(flatten=True)


def run_evaluate(wd: Workdir, cfg: EvaluateConfig) -> EvaluateReport:
    """Compare the selection with true labels."""
    with Timer() as t:
        wd.require(wd.selection, "select")
        sel, sel_meta = parquet_io.read_table(wd.selection, "selection")
        ids = sel["sample_id"].to_pylist()
        classes = load_classes(wd)
        truth_values = _truth(wd, cfg.truth, ids)
        known = np.asarray([v is not None for v in truth_values])
        truth = _to_ids([v for v in truth_values if v is not None], classes)
        keep = np.flatnonzero(known)
        given = sel["label_id"].to_numpy(zero_copy_only=False).astype(np.int64)[keep]
        clean = sel["clean"].to_numpy(zero_copy_only=False).astype(bool)[keep]
        score = sel["clean_score"].fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float64)[keep]
        sugg = sel["suggested_label_id"].fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)[keep]
        metrics = detection_metrics(given, truth, clean, score, suggested=sugg)
        metrics.update(noise_rate_comparison(given, truth, sel_meta.get("estimated_noise_rate")))
        metrics.update(noise_rate_comparison(given, truth, sel_meta.get("mixture_noise_rate"), prefix="mixture_"))
        metrics["flag_rule"] = sel_meta.get("flag_rule")
        metrics["per_class"] = per_class_metrics(given, truth, clean, [c.name for c in classes])
        metrics["without_truth"] = int((~known).sum())
        metrics["truth_not_a_class"] = int((truth < 0).sum())
        metrics["truth"] = cfg.truth
    counts = {"evaluated": int(keep.size), "without_truth": int((~known).sum())}
    report = EvaluateReport(counts=counts, seconds=t.seconds, metrics=metrics)
    wd.update_run("evaluate", report.run_record(cfg))
    return report


def _truth(wd: Workdir, truth: str, ids: list[str]) -> list:
    path = Path(truth).expanduser()
    if path.suffix.lower() in TRUTH_FILE_SUFFIXES:
        if not path.is_file():
            raise InputError(f"truth file {path} does not exist", "pass a manifest column name or an existing file")
        return _truth_from_file(wd, path, ids)
    manifest, _ = load_manifest(wd)
    if truth not in manifest.column_names:
        extra = [c for c in manifest.column_names if c not in schemas.MANIFEST.names]
        raise InputError(
            f"the manifest has no column {truth!r} (extra columns: {', '.join(extra) or 'none'})",
            "pass --truth COLUMN from the dataset's manifest, or a .csv/.jsonl/.parquet file with path,label",
        )
    values = dict(zip(manifest["sample_id"].to_pylist(), manifest[truth].to_pylist()))
    return [_clean_value(values.get(s)) for s in ids]


def _truth_from_file(wd: Workdir, path: Path, ids: list[str]) -> list:
    """Match the file's rows to samples by sample_id, absolute path, or path relative to the file."""
    from labelclean.ingest.manifest import LABEL_COLUMNS, PATH_COLUMNS, _read_rows

    rows, columns = _read_rows(path.resolve(), _kind(path))
    pcol = next((c for c in PATH_COLUMNS if c in columns), None)
    lcol = next((c for c in LABEL_COLUMNS if c in columns), None)
    if pcol is None or lcol is None:
        raise InputError(f"{path} needs a path column and a label column (has: {', '.join(columns)})",
                         f"name them e.g. path,label ({', '.join(PATH_COLUMNS[:3])} / {', '.join(LABEL_COLUMNS[:3])})")
    manifest, _ = load_manifest(wd, ["sample_id", "path"])
    by_key = {}
    for sid, p in zip(manifest["sample_id"].to_pylist(), manifest["path"].to_pylist()):
        by_key[sid] = sid
        if p:
            by_key[str(Path(p).resolve())] = sid
    values = {}
    for _, row in rows:
        raw = str(row.get(pcol) or "")
        for key in (raw, str((path.parent / raw).resolve()), str(Path(raw).expanduser().resolve())):
            if key in by_key:
                values[by_key[key]] = _clean_value(row.get(lcol))
                break
    return [values.get(s) for s in ids]


def _kind(path: Path) -> str:
    from labelclean.ingest.manifest import KINDS

    return KINDS[path.suffix.lower()]


def _clean_value(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = str(v).strip()
    return text or None


def _to_ids(values: list, classes) -> np.ndarray:
    """Class name (or prompt name, or integer id) -> class id; anything else -> -1."""
    index = {c.name: c.id for c in classes}
    index.update({c.prompt_name: c.id for c in classes if c.prompt_name not in index})
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if v in index:
            out[i] = index[v]
        elif v.lstrip("-").isdigit() and 0 <= int(v) < len(classes):
            out[i] = int(v)
        else:
            out[i] = -1
    return out


def summary_rows(metrics: dict) -> list[tuple[str, object]]:
    """(name, value) pairs for the human table."""
    keys = ("n", "n_noisy", "noise_rate", "estimated_noise_rate", "mixture_noise_rate", "flag_rule", "n_flagged", "flagged_precision", "flagged_recall", "flagged_f1",
            "kept_precision", "kept_recall", "auroc", "average_precision", "n_suggested", "relabel_accuracy")
    return [(k, "n/a" if metrics.get(k) is None else metrics[k]) for k in keys]
