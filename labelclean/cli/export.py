"""`labelclean export`: the cleaned dataset, the flagged list and relabels.csv."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *stage_options("export"), "json_out")
def export(o: Given) -> None:
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
    from labelclean.stages.export import run_export

    report = run_export(Workdir(o["workdir"]), o.config("export"))
    console.table("Export", ["samples", "count"], list(report.counts.items()))
    if o["json_out"]:
        console.emit_json(report.to_json())
        return
    console.out(f"exported to {report.out}")
    for p in report.outputs:
        console.out(f"  {p}")
