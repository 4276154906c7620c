"""`labelclean export`: the cleaned dataset, the flagged list and relabels.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import DEFAULT_WD, JsonOpt, WorkdirOpt
from labelclean.store.workdir import Workdir

FormatOpt = Annotated[
    str,
    typer.Option("--format", "-f", help="csv, jsonl or parquet lists; hf (class tree + metadata.csv for "
                 "datasets' imagefolder) or imagefolder (class tree for torchvision/timm)."),
]
OutOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: W/export).")]
LinkOpt = Annotated[str, typer.Option("--link", help="How tree formats place files: symlink, hardlink or copy.")]
ApplyOpt = Annotated[
    bool, typer.Option("--apply-relabels", help="Also keep unreviewed flagged samples with their suggested "
                       "label when its confidence is >= --min-confidence.")
]
MinConfOpt = Annotated[float, typer.Option("--min-confidence", help="Threshold for --apply-relabels, in [0, 1].")]
AbsOpt = Annotated[bool, typer.Option("--absolute-paths", help="Write absolute paths instead of paths "
                                      "relative to the data root.")]
OutsideOpt = Annotated[bool, typer.Option("--allow-outside-root", help="Export samples whose file resolves "
                                          "outside the data root (written with absolute paths).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing export in --out.")]


@app.command()
@command_boundary
def export(
    workdir: WorkdirOpt = DEFAULT_WD,
    format: FormatOpt = "csv",
    out: OutOpt = None,
    link: LinkOpt = "symlink",
    apply_relabels: ApplyOpt = False,
    min_confidence: MinConfOpt = 0.0,
    absolute_paths: AbsOpt = False,
    allow_outside_root: OutsideOpt = False,
    overwrite: OverwriteOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Write the cleaned dataset: clean.<fmt> (kept samples: path,label,clean_score), flagged.<fmt>
    (every sample left out, with its reason) and relabels.csv (suggestions for a reviewer, worst first).

    Paths are relative to the data root unless --absolute-paths. Reviewer decisions
    (`labelclean review`) always apply. --format imagefolder builds OUT/<class>/<file>;
    --format hf adds OUT/metadata.csv: load it with
    datasets.load_dataset("imagefolder", data_dir=OUT). The source data is never modified,
    nothing is overwritten without --overwrite, and re-running gives byte-identical files.

    Example:

    \b
      labelclean export -w work --format parquet
      labelclean export -w work --format imagefolder --link hardlink --out cleaned/
    """
    from labelclean.stages.export import ExportConfig, run_export

    cfg = ExportConfig(
        format=format, out=out, link=link, apply_relabels=apply_relabels, min_confidence=min_confidence,
        absolute_paths=absolute_paths, allow_outside_root=allow_outside_root, overwrite=overwrite,
    )
    report = run_export(Workdir(workdir), cfg)
    console.table("Export", ["samples", "count"], list(report.counts.items()))
    if json_out:
        console.emit_json(report.to_json())
        return
    console.out(f"exported to {report.summary['out']}")
    for p in report.outputs:
        console.out(f"  {p}")
