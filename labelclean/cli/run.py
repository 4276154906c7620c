"""`labelclean run`: embed -> score -> select -> export -> report in one go, skipping unchanged stages."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, pipeline_options, uses
from labelclean.cli.render import show_stage
from labelclean.stages.configs import PIPELINE as STAGES
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *pipeline_options(STAGES), "force", "json_out")
def run(o: Given) -> None:
    """Run every stage (embed, score, select, export, report) with the same options.

    A stage whose inputs and settings did not change since the last run is skipped: run.json
    records a fingerprint per stage (its config, plus the data files' names, sizes and
    modification times for embed, plus the previous stage's fingerprint for the others, plus
    the reviewer decisions for export and report). `run` replaces its own earlier export in
    the same --out. Prints where every output went.

    Example:

    \b
      labelclean run photos/ -w work
      labelclean run photos/ -w work -m ViT-B-16 --format imagefolder --link hardlink --out cleaned/
    """
    from labelclean.stages.pipeline import run_pipeline

    wd = Workdir(o["workdir"])
    result = run_pipeline(wd, {s: o.config(s) for s in STAGES}, force=o["force"], on_stage=show_stage)
    if o["json_out"]:
        console.emit_json(result.to_json())
        return
    for name, where in _locations(wd, result).items():
        console.out(f"{name:<10} {where}")


def _locations(wd: Workdir, result) -> dict[str, str]:
    reports = {r.stage: r.report for r in result.results}
    where = {"workdir": str(wd.root), "manifest": str(wd.manifest), "scores": str(wd.scores),
             "selection": str(wd.selection)}
    export = wd.stage_record("export").get("summary", {})
    if export.get("out"):
        where["export"] = export["out"]
    report = wd.stage_record("report").get("summary", {}).get("path")
    if report:
        where["report"] = report
    if "report" in reports and not reports["report"].skipped:
        where["report"] = str(reports["report"].outputs[0])
    return where
