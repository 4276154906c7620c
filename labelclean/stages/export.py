"""export: the cleaned dataset as lists (csv/jsonl/parquet), a Hugging Face folder or a class tree.

Outputs in ``OUT`` (default ``W/export``):

- ``clean.<fmt>``: kept samples (``path,label,clean_score``; label is the final label);
- ``flagged.<fmt>``: every sample not kept, with a reason (a manifest reason code,
  ``not_scored``, ``flagged`` or ``reviewed``) and the criteria it failed;
- ``relabels.csv``: every sample select did not find clean, worst first, with the suggested
  label, its confidence, the top-3 classes and a ``decision`` column for a reviewer
  (pre-filled with decisions already imported);
- ``--format imagefolder``: ``OUT/<class>/<file>`` (see export/tree.py) plus flagged.csv and
  relabels.csv; ``--format hf`` adds ``metadata.csv`` (``file_name,label``, file_name relative
  to OUT) for ``datasets.load_dataset("imagefolder", data_dir=OUT)``.

The source data is never modified; nothing is overwritten without ``overwrite``; re-running
with the same inputs gives byte-identical files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from labelclean.core.errors import InputError
from labelclean.export import rows as export_rows
from labelclean.export import tree, writers
from labelclean.export.top3 import load_top3
from labelclean.review.decisions import effective_selection
from labelclean.stages.configs import ExportConfig
from labelclean.core.report import StageReport, Timer
from labelclean.store.tables import load_classes, load_manifest
from labelclean.store.workdir import Workdir

TREE_FORMATS = ("hf", "imagefolder")


def out_dir(wd: Workdir, cfg: ExportConfig) -> Path:
    return Path(os.path.abspath(cfg.out)) if cfg.out is not None else wd.root / "export"


@dataclass(kw_only=True)
class ExportReport(StageReport):
    stage: str = "export"
    out: str  # the export folder
    format: str
    files: int  # files written (tree formats: every linked image too)
    outside_root: int  # samples exported although their file resolves outside the data root


def run_export(wd: Workdir, cfg: ExportConfig) -> ExportReport:
    """Write the cleaned manifest, the flagged list and relabels.csv (and a tree) to OUT."""
    cfg.validate()
    out = out_dir(wd, cfg)
    with Timer() as t, wd.lock():
        eff = effective_selection(wd, apply_relabels=cfg.apply_relabels, min_confidence=cfg.min_confidence)
        manifest, meta = load_manifest(wd, ["sample_id", "path", "label", "status", "detail"])
        classes = load_classes(wd)
        outside = _check_root(eff, manifest, meta.get("data_root"), cfg.allow_outside_root)
        names = {c.id: c.name for c in classes}
        top3 = {s: export_rows.top3_text([i for i, _ in v], [p for _, p in v], names) for s, v in load_top3(wd).items()}
        tables = export_rows.build(
            eff, manifest, classes, top3=top3, absolute_paths=cfg.absolute_paths, outside_ok=outside
        )
        files = _write_all(out, cfg, tables, [c.name for c in classes], meta.get("data_root"))
        report = ExportReport(counts=tables.counts, outputs=[out / f for f in files if "/" not in f], out=str(out),
                              format=cfg.format, files=len(files), outside_root=len(outside))
    report.seconds = t.seconds
    wd.update_run("export", report.run_record(cfg))
    return report


def _check_root(eff: pa.Table, manifest: pa.Table, data_root: str | None, allow: bool) -> frozenset[str]:
    """Sample_ids of exported rows outside the data root; raise unless ``allow``."""
    exported = eff.filter(pc.or_(eff["keep"], pc.invert(eff["clean"])))["sample_id"].to_pylist()
    path_of = dict(zip(manifest["sample_id"].to_pylist(), manifest["path"].to_pylist()))
    outside = sorted(s for s in exported if export_rows.is_outside(path_of.get(s, s), s, data_root))
    if outside and not allow:
        raise InputError(
            f"{len(outside)} samples resolve outside the data root {data_root} "
            f"(first: {outside[0]} -> {os.path.realpath(path_of.get(outside[0], outside[0]))})",
            "remove them from the manifest, or pass --allow-outside-root to export them with absolute paths",
        )
    return frozenset(outside)


def _write_all(out: Path, cfg: ExportConfig, tables, class_names: list[str], data_root: str | None) -> list[str]:
    """Write every output file; returns their paths relative to ``out``."""
    is_tree = cfg.format in TREE_FORMATS
    list_fmt = "csv" if is_tree else cfg.format
    lists = {f"flagged.{list_fmt}": tables.flagged, "relabels.csv": tables.relabels}
    if not is_tree:
        lists = {f"clean.{list_fmt}": tables.clean, **lists}
    targets: list[tuple[str, export_rows.KeptFile]] = []
    if is_tree:
        _check_out_vs_data(out, data_root)
        targets = tree.plan(tables.kept, tree.class_dirs(class_names))
    if cfg.format == "hf":
        lists["metadata.csv"] = _hf_metadata(targets)
    files = sorted([*lists, *(rel for rel, _ in targets)])
    _check_overwrite(out, files, cfg.overwrite)
    if cfg.overwrite:
        tree.remove_stale(out, tree.read_marker(out), set(files))
    for name, table in lists.items():
        writers.write(table, out / name, "csv" if name.endswith(".csv") else list_fmt)
    if targets:
        tree.materialise(out, targets, cfg.link)
    tree.write_marker(out, cfg.format, files)
    return files


def _hf_metadata(targets: list[tuple[str, export_rows.KeptFile]]) -> pa.Table:
    rows = [{"file_name": rel, "label": k.class_name} for rel, k in targets]
    schema = pa.schema([("file_name", pa.string()), ("label", pa.string())])
    return pa.Table.from_pylist(sorted(rows, key=lambda r: r["file_name"]), schema=schema)


def _check_out_vs_data(out: Path, data_root: str | None) -> None:
    if data_root is None:
        return
    o, d = os.path.realpath(out), os.path.realpath(data_root)
    if o == d or o.startswith(d + os.sep) or d.startswith(o + os.sep):
        raise InputError(
            f"--out {out} overlaps the data folder {data_root}",
            "export the tree to a folder outside the data (the source data is never modified)",
        )


def _check_overwrite(out: Path, files: list[str], overwrite: bool) -> None:
    if overwrite:
        return
    existing = [f for f in [*files, tree.MARKER] if (out / f).exists() or (out / f).is_symlink()]
    if existing:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise InputError(
            f"{out / existing[0]} already exists{more}",
            "pass --overwrite to replace the previous export, or choose another --out",
        )
