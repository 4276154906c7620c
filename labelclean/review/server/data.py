"""What the review app shows: suspects worst first, filters, pages, per-decision counts.

Only the needed columns are read (selection: ids, labels, scores, suggestion, failed
criteria; scores.parquet: one estimator's top-3; manifest: duplicate_of, and path and label
only when the first image is asked for), and they stay Arrow/numpy arrays, never a Python
object per sample (benchmarks/review_open.py measures a 1M-sample workdir). Decisions are
kept in memory as one state code per sample and re-read whenever W/decisions.parquet
changes on disk (another tab's server, or ``review --decisions``).

Review states: ``todo`` (no decision), ``keep`` (the given label is right: decision
``reject``, or relabel to the given class), ``accept`` (the suggestion: ``accept`` or relabel to
the suggested class), ``relabel`` (another class), ``drop``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labelclean.core.errors import UsageError
from labelclean.review.decisions import describe, load_decisions
from labelclean.review.server.index import IdIndex
from labelclean.store.parquet_io import read_table
from labelclean.store.tables import load_classes, load_manifest
from labelclean.store.workdir import Workdir

STATES = ("todo", "keep", "accept", "relabel", "drop")
VIEWS = ("suspects", "kept")
MAX_PAGE = 200
HEATMAP_CLASSES = 12


@dataclass
class Filters:
    view: str = "suspects"
    given: int | None = None
    suggested: int | None = None  # -1 = no suggestion
    state: str | None = None
    min_score: float | None = None
    max_score: float | None = None

    @classmethod
    def from_query(cls, q) -> "Filters":
        def num(name, kind):
            v = q.get(name)
            if v in (None, ""):
                return None
            try:
                return kind(v)
            except ValueError:
                raise UsageError(f"query parameter {name}={v!r} is not a number") from None

        f = cls(q.get("view") or "suspects", num("given", int), num("suggested", int), q.get("state") or None,
                num("min", float), num("max", float))
        if f.view not in VIEWS:
            raise UsageError(f"view={f.view!r} is not one of {', '.join(VIEWS)}")
        if f.state is not None and f.state not in STATES:
            raise UsageError(f"state={f.state!r} is not one of {', '.join(STATES)}")
        return f


class ReviewData:
    """The selection of one workdir, indexed for paging, filtering and decisions."""

    def __init__(self, wd: Workdir):
        self.wd = wd
        wd.require(wd.selection, "select")
        self.classes = load_classes(wd)
        self.names = [c.name for c in self.classes]
        cols = ["sample_id", "label_id", "clean", "clean_score", "failed", "suggested_label_id",
                "suggested_confidence", "outlier"]
        self._selection_stamp = _stamp(wd.selection)
        sel, sel_meta = read_table(wd.selection, "selection", columns=cols)
        self.sample_ids = sel["sample_id"].combine_chunks()
        self.index = IdIndex(self.sample_ids)
        self.given = sel["label_id"].to_numpy().astype(np.int32)
        self.clean = sel["clean"].to_numpy(zero_copy_only=False).astype(bool)
        self.score = sel["clean_score"].fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float32)
        self.sugg = sel["suggested_label_id"].fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        self.conf = sel["suggested_confidence"].fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float32)
        self.outlier = sel["outlier"].fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        self.failed = sel["failed"].combine_chunks()
        n = len(self.given)
        order_key = np.where(np.isnan(self.score), np.inf, self.score)
        self._views = {"suspects": _worst_first(order_key, ~self.clean)}
        self._order_key = order_key
        self._load_top3(n, sel_meta.get("estimators"))
        self._load_duplicates()
        self.m_index = None
        self._manifest_ready = threading.Event()
        self._manifest_started = False
        self.state = np.zeros(n, dtype=np.int8)
        self.decided: dict[int, str] = {}  # row -> stored decision text (accept, reject, drop, relabel:<class>)
        self._stamp = None
        self._lock = threading.RLock()
        self.refresh()

    # ---- loading ---------------------------------------------------------------------
    def _load_top3(self, n: int, configured: list[str] | None) -> None:
        self.top3_ids = np.full((n, 3), -1, dtype=np.int32)  # replaced by the file's arrays when aligned
        self.top3_p = np.zeros((n, 3), dtype=np.float32)
        self.top3_estimator = None
        if not self.wd.scores.exists():
            return
        est = _top3_estimator(pq.read_schema(self.wd.scores).names, configured)
        if est is None:
            return
        table, _ = read_table(self.wd.scores, "scores", columns=["sample_id", f"{est}_top3_ids", f"{est}_top3_probs"])
        ids = table["sample_id"].combine_chunks()
        aligned = ids.equals(self.sample_ids)
        rows = None if aligned else self.index.find_many(ids.to_pylist())
        for col, name, dtype in ((f"{est}_top3_ids", "top3_ids", np.int32), (f"{est}_top3_probs", "top3_p", np.float32)):
            c = table[col].combine_chunks()
            dest = getattr(self, name)
            if c.null_count:
                vals = np.asarray([v if v is not None else [dest[0, 0]] * 3 for v in c.to_pylist()], dtype=dtype)
            else:
                vals = c.values.to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(-1, 3)
            if aligned:
                setattr(self, name, vals)
            else:
                ok = rows >= 0
                dest[rows[ok]] = vals[ok]
        self.top3_estimator = est

    def _load_duplicates(self) -> None:
        """Groups of identical files (manifest ``duplicate_of``); the id column is read only if any."""
        dup, _ = load_manifest(self.wd, ["duplicate_of"])
        has = pc.is_valid(dup["duplicate_of"])
        groups: dict[str, list[str]] = {}
        if pc.any(has).as_py():
            ids, _ = load_manifest(self.wd, ["sample_id"])
            for sid, d in zip(ids["sample_id"].filter(has).to_pylist(), dup["duplicate_of"].filter(has).to_pylist()):
                groups.setdefault(d, [d]).append(sid)
        self.dup_group = {s: g for g in groups.values() for s in g}

    def _load_manifest(self) -> None:
        """Paths and labels of every manifest row (for images and labels of unscored samples)."""
        try:
            manifest, meta = load_manifest(self.wd, ["sample_id", "path", "label"])
            self.m_ids = manifest["sample_id"].combine_chunks()
            self.m_index = IdIndex(self.m_ids)
            self.m_path = manifest["path"].combine_chunks()
            self.m_label = manifest["label"].combine_chunks()
            self.data_root = meta.get("data_root")
        finally:
            self._manifest_ready.set()

    def _manifest(self) -> bool:
        """Load the manifest's paths on first need (the first image), not while the app opens."""
        with self._lock:
            if not self._manifest_started:
                self._manifest_started = True
                threading.Thread(target=self._load_manifest, daemon=True, name="manifest").start()
        self._manifest_ready.wait()
        return self.m_index is not None

    # ---- decisions -------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read W/decisions.parquet when it changed on disk since the last read."""
        stamp = _stamp(self.wd.decisions)
        with self._lock:
            if stamp == self._stamp:
                return
            self.state[:] = 0
            self.decided = {}
            table = load_decisions(self.wd) if stamp is not None else None
            if table is not None and table.num_rows:
                # hash the (few) decided ids, probe the selection's ids: no 1M-entry hash table
                dec_ids = table["sample_id"].combine_chunks()
                rows = np.flatnonzero(pc.is_in(self.sample_ids, value_set=dec_ids).to_numpy(zero_copy_only=False))
                pos = pc.index_in(self.sample_ids.take(pa.array(rows)), value_set=dec_ids).to_numpy()
                decs, labels = table["decision"].to_pylist(), table["label"].to_pylist()
                for r, j in zip(rows, pos):
                    self.apply(int(r), decs[j], labels[j])
            self._stamp = stamp

    def apply(self, row: int, decision: str | None, label: str | None) -> None:
        """Set the in-memory state of ``row`` after a decision (None = undecided)."""
        with self._lock:
            self.decided.pop(row, None)
            self.state[row] = STATES.index(self.state_of(row, decision, label))
            if decision is not None:
                self.decided[row] = describe(decision, label)

    def state_of(self, row: int, decision: str | None, label: str | None) -> str:
        if decision is None:
            return "todo"
        if decision == "reject":
            return "keep"
        if decision in ("accept", "drop"):
            return decision
        target = self.names.index(label) if label in self.names else -2
        if target == self.given[row]:
            return "keep"
        return "accept" if target == self.sugg[row] else "relabel"

    def mark_written(self) -> None:
        """Record our own write's file stamp so that refresh() does not re-read it."""
        with self._lock:
            self._stamp = _stamp(self.wd.decisions)

    # ---- views and pages -------------------------------------------------------------
    def view_rows(self, view: str) -> np.ndarray:
        if view not in self._views:
            self._views[view] = _worst_first(self._order_key, self.clean)
        return self._views[view]

    def filtered(self, f: Filters) -> np.ndarray:
        rows = self.view_rows(f.view)
        mask = np.ones(len(rows), dtype=bool)
        if f.given is not None:
            mask &= self.given[rows] == f.given
        if f.suggested is not None:
            mask &= self.sugg[rows] == f.suggested
        if f.state is not None:
            mask &= self.state[rows] == STATES.index(f.state)
        if f.min_score is not None:
            mask &= self.score[rows] >= f.min_score
        if f.max_score is not None:
            mask &= self.score[rows] <= f.max_score
        return rows if mask.all() else rows[mask]

    def page(self, f: Filters, offset: int, limit: int, neighbours=None) -> dict:
        self.refresh()
        rows = self.filtered(f)
        limit = max(1, min(int(limit), MAX_PAGE))
        offset = max(0, int(offset))
        todo = np.flatnonzero(self.state[rows] == 0)
        items = [self.item(int(r), neighbours) for r in rows[offset : offset + limit]]
        return {"total": int(len(rows)), "offset": offset, "first_todo": int(todo[0]) if len(todo) else None,
                "items": items}

    def item(self, row: int, neighbours=None) -> dict:
        sid = self.sample_ids[row].as_py()
        given, sugg = int(self.given[row]), int(self.sugg[row])
        top3 = [[self._name(int(c)), round(float(p), 4)] for c, p in zip(self.top3_ids[row], self.top3_p[row]) if c >= 0]
        nbrs = neighbours.of(sid) if neighbours is not None else None
        nb_items = None
        if nbrs is not None:
            nb_items = [{"id": s, "label": label, "sim": round(sim, 4), "near_duplicate": sim >= neighbours.near_duplicate}
                        for s, label, sim in nbrs]
        failed = self.failed[row].as_py() or ""
        return {
            "id": sid,
            "name": os.path.basename(sid),
            "given": self._name(given),
            "suggested": self._name(sugg) if sugg >= 0 else None,
            "confidence": None if np.isnan(self.conf[row]) else round(float(self.conf[row]), 4),
            "score": None if np.isnan(self.score[row]) else round(float(self.score[row]), 4),
            "clean": bool(self.clean[row]),
            "outlier": bool(self.outlier[row]),
            "failed": [c for c in failed.split(",") if c],
            "top3": top3,
            "state": STATES[self.state[row]],
            "decision": self.decided.get(row),
            "neighbours": nb_items,
            "duplicates": [{"id": s, "label": self.label_of(s)} for s in self.dup_group.get(sid, []) if s != sid],
            "candidates": self._candidates(given, sugg, top3, nb_items or []),
        }

    def _candidates(self, given: int, sugg: int, top3: list, nbrs: list) -> list[str]:
        """Up to 9 classes for the 1-9 keys: suggestion, top-3, then the neighbours' labels."""
        out: list[str] = []
        names = ([self._name(sugg)] if sugg >= 0 else []) + [n for n, _ in top3] + [n["label"] for n in nbrs]
        for name in names:
            if name is not None and name != self._name(given) and name not in out and name in self.names:
                out.append(name)
        return out[:9]

    def _name(self, class_id: int) -> str | None:
        return self.names[class_id] if 0 <= class_id < len(self.names) else None

    def label_of(self, sample_id: str) -> str | None:
        row = self.index.find(sample_id)
        if row is not None:
            return self._name(int(self.given[row]))
        if not self._manifest():
            return None
        row = self.m_index.find(sample_id)
        return self.m_label[row].as_py() if row is not None else None

    def path_of(self, sample_id: str) -> str | None:
        """The file of a sample listed in the manifest (None for any other id)."""
        if not self._manifest():
            return None
        row = self.m_index.find(sample_id)
        return self.m_path[row].as_py() if row is not None else None

    # ---- summary ---------------------------------------------------------------------
    def summary(self) -> dict:
        self.refresh()
        rows = self.view_rows("suspects")
        counts = np.bincount(self.state[rows], minlength=len(STATES))
        all_counts = np.bincount(self.state, minlength=len(STATES))
        return {
            "workdir": str(self.wd.root),
            "classes": self.names,
            "suspects": int(len(rows)),
            "kept": int(np.count_nonzero(self.clean)),  # the kept view is sorted only when opened
            "samples": int(len(self.given)),
            "reviewed": int(len(rows) - counts[0]),
            "counts": {s: int(c) for s, c in zip(STATES, counts)},
            "counts_all": {s: int(c) for s, c in zip(STATES, all_counts)},
            "top3_estimator": self.top3_estimator,
            "selection_changed": _stamp(self.wd.selection) != self._selection_stamp,
            "heatmap": self.heatmap(rows),
        }

    def heatmap(self, rows: np.ndarray) -> dict:
        """given -> suggested counts over the suspects, for the classes most involved."""
        g, s = self.given[rows], self.sugg[rows]
        has = s >= 0
        g, s = g[has], s[has]
        k = len(self.names)
        if not len(g) or k == 0:
            return {"classes": [], "cells": []}
        involved = np.bincount(g, minlength=k) + np.bincount(s, minlength=k)
        top = [int(c) for c in np.argsort(-involved, kind="stable")[:HEATMAP_CLASSES] if involved[c] > 0]
        pos = {c: i for i, c in enumerate(top)}
        pairs = np.bincount(g.astype(np.int64) * k + s, minlength=k * k).reshape(k, k)
        cells = [[int(pairs[a, b]) for b in top] for a in top]
        return {"classes": [{"id": c, "name": self.names[c]} for c in top], "cells": cells,
                "ids": list(pos)}


def _top3_estimator(columns: list[str], configured: list[str] | None) -> str | None:
    """Whose top-3 to show: the first estimator select used, else zeroshot, logreg, knn, else any."""
    available = [c.removesuffix("_top3_ids") for c in columns if c.endswith("_top3_ids")]
    wanted = [e for e in [*(configured or []), "zeroshot", "logreg", "knn"] if e in available]
    return (wanted or available or [None])[0]


def _worst_first(order_key: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask)
    return rows[np.argsort(order_key[rows], kind="stable")]


def _stamp(path: Path):
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
