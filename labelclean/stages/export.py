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
  to OUT) for ``datasets.load_dataset("imagefolder", data_dir=OUT)``;
- ``--format label-studio``: ``label-studio-tasks.json`` (the suspects with pre-annotations) and
  ``label-studio-config.xml`` (see export/label_studio.py) plus relabels.csv.

The source data is never modified: nothing is written into, over or through the data folder,
the input manifest or a folder holding sample files (export/guard.py); the files appear all
at once or not at all (export/publish.py); ``overwrite`` replaces only files an earlier export
listed in its marker. Re-running with the same inputs gives byte-identical files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from labelclean.core.errors import InputError
from labelclean.export import rows as export_rows
from labelclean.export import tree
from labelclean.export.guard import DataGuard
from labelclean.export.publish import publish
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
        guard = DataGuard(data_root=meta.get("data_root"), source=meta.get("source"), kind=meta.get("kind"),
                          sample_paths=manifest["path"].to_pylist(), workdir=wd.root)
        if cfg.format == "label-studio":
            files = _write_label_studio(out, cfg, tables, eff, manifest, classes, meta.get("data_root"), guard)
        else:
            files = _write_all(out, cfg, tables, [c.name for c in classes], guard)
        report = ExportReport(counts=tables.counts, outputs=[out / f for f in files if "/" not in f], out=str(out),
                              format=cfg.format, files=len(files), outside_root=len(outside))
    report.seconds = t.seconds
    wd.update_run("export", report.run_record(cfg))
    return report


def _check_root(eff: pa.Table, manifest: pa.Table, data_root: str | None, allow: bool) -> frozenset[str]:
    """Sample_ids of exported rows outside the data root (written with absolute paths); raise
    for a relative one (a symlink leading out) unless ``allow``."""
    exported = eff.filter(pc.or_(eff["keep"], pc.invert(eff["clean"])))["sample_id"].to_pylist()
    path_of = dict(zip(manifest["sample_id"].to_pylist(), manifest["path"].to_pylist()))
    outside = sorted(s for s in exported if export_rows.is_outside(path_of.get(s, s), s, data_root))
    escaping = [s for s in outside if not os.path.isabs(s)]  # absolute manifest paths are fine as written
    if escaping and not allow:
        raise InputError(
            f"{len(escaping)} samples resolve outside the data root {data_root} "
            f"(first: {escaping[0]} -> {os.path.realpath(path_of.get(escaping[0], escaping[0]))})",
            "remove them from the manifest, or pass --allow-outside-root to export them with absolute paths",
        )
    return frozenset(outside)


def _write_all(out: Path, cfg: ExportConfig, tables, class_names: list[str], guard: DataGuard) -> list[str]:
    """Write every output file at once (see export/publish.py); returns their paths relative to ``out``."""
    is_tree = cfg.format in TREE_FORMATS
    list_fmt = "csv" if is_tree else cfg.format
    lists = {f"flagged.{list_fmt}": tables.flagged, "relabels.csv": tables.relabels}
    if not is_tree:
        lists = {f"clean.{list_fmt}": tables.clean, **lists}
    targets: list[tuple[str, export_rows.KeptFile]] = []
    if is_tree:
        targets = tree.plan(tables.kept, tree.class_dirs(class_names))
    if cfg.format == "hf":
        lists["metadata.csv"] = _hf_metadata(targets)
    formats = {name: (table, "csv" if name.endswith(".csv") else list_fmt) for name, table in lists.items()}
    return publish(out, lists=formats, targets=targets, link=cfg.link, fmt=cfg.format, overwrite=cfg.overwrite,
                   guard=guard)


def _write_label_studio(out: Path, cfg: ExportConfig, tables, eff, manifest, classes, data_root,
                        guard: DataGuard) -> list[str]:
    """label-studio-tasks.json + label-studio-config.xml (export/label_studio.py) and relabels.csv."""
    from labelclean.export import label_studio

    tasks = label_studio.build_tasks(eff, manifest, classes, data_root)
    return publish(out, lists={"relabels.csv": (tables.relabels, "csv")}, targets=[], link=cfg.link,
                   fmt=cfg.format, overwrite=cfg.overwrite, guard=guard, blobs=label_studio.files(tasks, classes))


def _hf_metadata(targets: list[tuple[str, export_rows.KeptFile]]) -> pa.Table:
    rows = [{"file_name": rel, "label": k.class_name} for rel, k in targets]
    schema = pa.schema([("file_name", pa.string()), ("label", pa.string())])
    return pa.Table.from_pylist(sorted(rows, key=lambda r: r["file_name"]), schema=schema)
