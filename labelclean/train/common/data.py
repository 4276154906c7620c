"""The training pool: every usable sample with its given label, the initial clean set and labels.

Two sources:

- the workdir: manifest rows with status ok and a label, joined on sample_id with the
  effective selection (`labelclean.review.decisions.effective_selection`: selection + reviewer
  decisions). S0 = ``keep``, labelled ``final_label_id``; reviewer decisions are final
  (``locked``); samples a reviewer dropped are marked ``dropped`` and never trained on.
- an exported manifest (``--manifest``): every row whose file exists is in S0.

True labels (when known) come from a manifest column (``--truth``, default ``clean_label``)
and are used only to report the accuracy of absorbed/relabelled/selected samples.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pyarrow.compute as pc

from labelclean.core.errors import InputError, WorkdirError
from labelclean.ingest.types import ClassInfo
from labelclean.store.tables import load_classes, load_manifest
from labelclean.store.workdir import Workdir

DEFAULT_TRUTH = "clean_label"


@dataclass
class TrainSet:
    sample_ids: np.ndarray  # (N,) object
    paths: list[str]  # absolute file paths
    given: np.ndarray  # (N,) int64 given label ids
    clean0: np.ndarray  # (N,) bool: the initial clean set S0
    labels0: np.ndarray  # (N,) int64: label of each sample in S0 (after review); given elsewhere
    locked: np.ndarray  # (N,) bool: a reviewer kept it; training never overrides its label
    dropped: np.ndarray  # (N,) bool: a reviewer dropped it; never trained on (DeFT still scores it)
    truth: Optional[np.ndarray]  # (N,) int64 true ids, -1 unknown; None when no truth column
    classes: list[ClassInfo]
    source: str  # "workdir" | "manifest"
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> samples left out

    def __len__(self) -> int:
        return len(self.sample_ids)


@dataclass
class EvalSet:
    paths: list[str]
    labels: np.ndarray  # (M,) int64, -1 when the label is not one of the training classes
    skipped: dict[str, int] = field(default_factory=dict)


def load_train_set(
    wd: Workdir, *, manifest: Optional[Path] = None, truth: Optional[str] = None, need_selection: bool = True
) -> TrainSet:
    """Build the training pool from the workdir (or from ``manifest``); see the module docstring."""
    if manifest is not None:
        return _from_manifest_file(wd, Path(manifest), truth)
    return _from_workdir(wd, truth, need_selection)


def _from_workdir(wd: Workdir, truth_col: Optional[str], need_selection: bool) -> TrainSet:
    table, _ = load_manifest(wd)
    classes = load_classes(wd)
    skipped = Counter(str(s) for s in table["status"].to_pylist() if s != "ok")
    table = table.filter(pc.and_(pc.equal(table["status"], "ok"), pc.greater_equal(table["label_id"], 0)))
    ids = np.asarray(table["sample_id"].to_pylist(), dtype=object)
    given = table["label_id"].to_numpy().astype(np.int64)
    n = len(ids)
    clean0, labels0, locked, dropped = np.ones(n, bool), given.copy(), np.zeros(n, bool), np.zeros(n, bool)
    if need_selection or wd.selection.exists():
        clean0, labels0, locked, dropped = _apply_selection(wd, ids, given)
    truth = _truth_from_table(table, truth_col, classes)
    return TrainSet(
        ids, table["path"].to_pylist(), given, clean0, labels0, locked, dropped, truth, classes, "workdir",
        {k: v for k, v in skipped.items() if v},
    )


def _apply_selection(wd: Workdir, ids: np.ndarray, given: np.ndarray):
    from labelclean.review.decisions import effective_selection

    sel = effective_selection(wd)
    index = {s: i for i, s in enumerate(sel["sample_id"].to_pylist())}
    rows = np.asarray([index.get(s, -1) for s in ids], dtype=np.int64)
    if (rows < 0).all() and len(ids):
        raise WorkdirError(f"{wd.selection} shares no sample_id with the manifest", f"re-run `labelclean select -w {wd.root}`")
    found = rows >= 0
    col = lambda name, fill: np.where(found, sel[name].to_numpy(zero_copy_only=False)[np.maximum(rows, 0)], fill)  # noqa: E731
    keep = col("keep", False).astype(bool)
    final = col("final_label_id", -1).astype(np.int64)
    reviewed = col("reviewed", False).astype(bool)
    labels0 = np.where(keep, final, given)
    return keep, labels0, reviewed & keep, reviewed & ~keep


def _truth_from_table(table, truth_col: Optional[str], classes: list[ClassInfo]) -> Optional[np.ndarray]:
    name = _truth_column(table.column_names, truth_col)
    if name is None:
        return None
    return truth_ids(table[name].to_pylist(), classes)


def _truth_column(columns: Sequence[str], truth_col: Optional[str]) -> Optional[str]:
    if truth_col is None:
        return DEFAULT_TRUTH if DEFAULT_TRUTH in columns else None
    if truth_col not in columns:
        extras = ", ".join(c for c in columns if c not in ("sample_id", "path", "label", "label_id")) or "none"
        raise InputError(f"--truth column '{truth_col}' is not in the manifest", f"extra columns available: {extras}")
    return truth_col


def truth_ids(values: Sequence[Any], classes: list[ClassInfo]) -> np.ndarray:
    """Map true labels (class names, prompt names or integer ids) to class ids; -1 when unknown."""
    by_name = {c.name: c.id for c in classes}
    by_name.update({c.prompt_name: c.id for c in classes if c.prompt_name not in by_name})
    k = len(classes)
    out = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            out[i] = int(v) if 0 <= int(v) < k else -1
        else:
            out[i] = by_name.get(str(v).strip(), -1)
    return out


def _from_manifest_file(wd: Workdir, path: Path, truth_col: Optional[str]) -> TrainSet:
    from labelclean.ingest.discover import discover

    found = discover(path)
    classes = load_classes(wd) if wd.manifest.exists() else found.classes
    by_name = {c.name: c.id for c in classes}
    skipped: Counter = Counter()
    rows = []
    for c in found.candidates:
        if c.status is not None:
            skipped[str(c.status)] += 1
        elif c.label not in by_name:
            skipped["unknown_class"] += 1
        else:
            rows.append(c)
    if not rows:
        raise InputError(f"--manifest {path} has no usable rows (skipped: {dict(skipped)})",
                         "check its paths and that its labels are this workdir's classes")
    given = np.asarray([by_name[c.label] for c in rows], dtype=np.int64)
    truth = None
    name = _truth_column(found.extra_columns, truth_col)
    if name is not None:
        truth = truth_ids([c.extras.get(name) for c in rows], classes)
    n = len(rows)
    return TrainSet(
        np.asarray([c.sample_id for c in rows], dtype=object), [str(c.path) for c in rows], given,
        np.ones(n, bool), given.copy(), np.zeros(n, bool), np.zeros(n, bool), truth, classes, "manifest",
        dict(skipped),
    )


def load_eval_set(data: Path, classes: list[ClassInfo]) -> EvalSet:
    """A labelled held-out folder or manifest; labels are matched to ``classes`` by name."""
    from labelclean.ingest.discover import discover

    found = discover(Path(data))
    by_name = {c.name: c.id for c in classes}
    skipped: Counter = Counter()
    paths, labels = [], []
    for c in found.candidates:
        if c.status is not None:
            skipped[str(c.status)] += 1
            continue
        paths.append(str(c.path))
        labels.append(by_name.get(c.label, -1) if c.label is not None else -1)
    labels_arr = np.asarray(labels, dtype=np.int64)
    if not (labels_arr >= 0).any():
        names = ", ".join(c.name for c in classes[:10])
        raise InputError(f"--val {data} has no sample labelled with a training class", f"training classes: {names}")
    skipped["unknown_class"] = int((labels_arr < 0).sum())
    return EvalSet(paths, labels_arr, {k: v for k, v in skipped.items() if v})
