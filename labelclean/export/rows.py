"""Build the export tables (clean, flagged, relabels) from the effective selection and manifest.

Paths: relative to the data root (the sample_id) by default, absolute with
``absolute_paths``; a sample outside the data root (only with --allow-outside-root) is always
written with its absolute path. Rows are sorted by sample_id, except relabels.csv, which is
sorted worst first (lowest clean_score, then sample_id) for the reviewer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from labelclean.ingest.types import ClassInfo

CLEAN = pa.schema([("path", pa.string()), ("label", pa.string()), ("clean_score", pa.float32())])
FLAGGED = pa.schema(
    [
        ("path", pa.string()),
        ("sample_id", pa.string()),
        ("label", pa.string()),
        ("reason", pa.string()),  # a manifest reason code, not_scored, flagged or reviewed
        ("failed", pa.string()),
        ("clean_score", pa.float32()),
        ("suggested_label", pa.string()),
        ("suggested_confidence", pa.float32()),
        ("review_decision", pa.string()),
        ("detail", pa.string()),
    ]
)
RELABELS = pa.schema(
    [
        ("path", pa.string()),
        ("sample_id", pa.string()),
        ("given_label", pa.string()),
        ("suggested_label", pa.string()),
        ("confidence", pa.float32()),
        ("top3", pa.string()),
        ("failed", pa.string()),
        ("clean_score", pa.float32()),
        ("decision", pa.string()),
    ]
)


@dataclass
class KeptFile:
    sample_id: str
    path: str  # absolute source path
    class_name: str  # final label
    given_name: str | None


@dataclass
class ExportTables:
    clean: pa.Table
    flagged: pa.Table
    relabels: pa.Table
    kept: list[KeptFile] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def is_outside(path: str, sample_id: str, root: str | None) -> bool:
    """True when the file (after resolving symlinks) or its sample_id escapes ``root``."""
    if root is None:
        return False
    if os.path.isabs(sample_id) or ".." in sample_id.replace("\\", "/").split("/"):
        return True
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return not (real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep))


def top3_text(ids: list[int] | None, probs: list[float] | None, names: dict[int, str]) -> str:
    """'cat:0.61;dog:0.22;fox:0.05' (empty when unknown)."""
    if not ids or not probs:
        return ""
    return ";".join(f"{names.get(int(i), str(i))}:{float(p):.2f}" for i, p in zip(ids, probs))


_EFF_COLUMNS = ("sample_id", "label_id", "clean", "clean_score", "failed", "suggested_label_id",
                "suggested_confidence", "final_label_id", "keep", "reviewed", "review_decision")


def build(
    eff: pa.Table,
    manifest: pa.Table,
    classes: list[ClassInfo],
    *,
    top3: dict[str, str],
    absolute_paths: bool = False,
    outside_ok: frozenset[str] = frozenset(),
) -> ExportTables:
    """Assemble the three export tables; ``top3`` maps sample_id to its top-3 text.

    ``outside_ok`` holds the sample_ids allowed outside the data root (written absolute).
    """
    names = {c.id: c.name for c in classes}
    m = {c: manifest[c].to_pylist() for c in ("sample_id", "path", "label", "status", "detail")}
    path_of = dict(zip(m["sample_id"], m["path"]))

    def path_for(sid: str) -> str:
        src = path_of.get(sid, sid)
        return src if (absolute_paths or sid in outside_ok) else sid

    e = {c: eff[c].to_pylist() for c in _EFF_COLUMNS}
    out = ExportTables(CLEAN.empty_table(), FLAGGED.empty_table(), RELABELS.empty_table())
    clean, flagged, relabels = [], [], []
    for i, sid in enumerate(e["sample_id"]):
        row = {c: e[c][i] for c in _EFF_COLUMNS}
        given = names.get(row["label_id"])
        sugg = names.get(row["suggested_label_id"]) if row["suggested_label_id"] is not None else None
        if row["keep"]:
            final = names[row["final_label_id"]]
            clean.append({"path": path_for(sid), "label": final, "clean_score": row["clean_score"], "_k": sid})
            out.kept.append(KeptFile(sid, path_of.get(sid, sid), final, given))
        else:
            flagged.append(_flagged_row(row, path_for(sid), given, sugg))
        if not row["clean"]:
            relabels.append(_relabel_row(row, path_for(sid), given, sugg, top3.get(sid, "")))
    selected = set(e["sample_id"])
    flagged += [_excluded_row(m, j, path_for(sid)) for j, sid in enumerate(m["sample_id"]) if sid not in selected]
    clean.sort(key=lambda r: r["_k"])
    for r in clean:
        del r["_k"]
    flagged.sort(key=lambda r: r["sample_id"])
    relabels.sort(key=lambda r: (np.inf if r["clean_score"] is None else r["clean_score"], r["sample_id"]))
    out.clean = pa.Table.from_pylist(clean, schema=CLEAN) if clean else out.clean
    out.flagged = pa.Table.from_pylist(flagged, schema=FLAGGED) if flagged else out.flagged
    out.relabels = pa.Table.from_pylist(relabels, schema=RELABELS) if relabels else out.relabels
    out.kept.sort(key=lambda k: k.sample_id)
    out.counts = _counts(e, len(m["sample_id"]) - len([s for s in m["sample_id"] if s in selected]))
    return out


def _flagged_row(row: dict, path: str, given: str | None, sugg: str | None) -> dict:
    return {
        "path": path, "sample_id": row["sample_id"], "label": given,
        "reason": "reviewed" if row["reviewed"] else "flagged", "failed": row["failed"],
        "clean_score": row["clean_score"], "suggested_label": sugg,
        "suggested_confidence": row["suggested_confidence"] if sugg is not None else None,
        "review_decision": row["review_decision"], "detail": None,
    }


def _relabel_row(row: dict, path: str, given: str | None, sugg: str | None, top3: str) -> dict:
    return {
        "path": path, "sample_id": row["sample_id"], "given_label": given, "suggested_label": sugg,
        "confidence": row["suggested_confidence"] if sugg is not None else None, "top3": top3,
        "failed": row["failed"], "clean_score": row["clean_score"], "decision": row["review_decision"] or "",
    }


def _excluded_row(m: dict[str, list], j: int, path: str) -> dict:
    status = m["status"][j]
    return {
        "path": path, "sample_id": m["sample_id"][j], "label": m["label"][j],
        "reason": status if status != "ok" else "not_scored", "failed": "", "clean_score": None,
        "suggested_label": None, "suggested_confidence": None, "review_decision": None, "detail": m["detail"][j],
    }


def _counts(e: dict[str, list], excluded: int) -> dict[str, int]:
    keep = np.asarray(e["keep"], dtype=bool)
    relabeled = keep & (np.asarray(e["final_label_id"]) != np.asarray(e["label_id"]))
    return {
        "kept": int(keep.sum()),
        "relabeled": int(relabeled.sum()),
        "flagged": int((~keep).sum()),
        "excluded": int(excluded),
        "reviewed": int(np.sum(e["reviewed"])),
    }
