"""`labelclean run`: embed -> score -> select -> export -> report in one go, skipping unchanged stages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.export import ApplyOpt, FormatOpt, LinkOpt, MinConfOpt, OutOpt
from labelclean.cli.options import DEFAULT_WD, DeviceOpt, JsonOpt, PrecisionOpt, PretrainedOpt, WorkdirOpt
from labelclean.cli.pipeline_opts import (
    BatchOpt,
    ClassesOpt,
    CombineOpt,
    DataArg,
    DescriptionsOpt,
    EstimatorsOpt,
    ForceOpt,
    MethodOpt,
    SeedOpt,
    TemplatesOpt,
    ThetaConsOpt,
    ThetaGmmOpt,
    ThetaRelabelOpt,
)
from labelclean.store.workdir import Workdir

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="open_clip model name (default ViT-B-32), "
                                                 "local-dir:PATH or hf-hub:ORG/REPO.")]
ReportOutOpt = Annotated[Optional[Path], typer.Option("--report", help="Report file (default: W/report.html).")]


@app.command()
@command_boundary
def run(
    data: DataArg,
    workdir: WorkdirOpt = DEFAULT_WD,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    batch_size: BatchOpt = None,
    classes: ClassesOpt = None,
    templates: TemplatesOpt = "simple",
    descriptions: DescriptionsOpt = None,
    estimators: EstimatorsOpt = None,
    seed: SeedOpt = None,
    combine: CombineOpt = None,
    method: MethodOpt = None,
    theta_cons: ThetaConsOpt = None,
    theta_gmm: ThetaGmmOpt = None,
    theta_relabel: ThetaRelabelOpt = None,
    format: FormatOpt = "csv",
    out: OutOpt = None,
    link: LinkOpt = "symlink",
    apply_relabels: ApplyOpt = False,
    min_confidence: MinConfOpt = 0.0,
    report: ReportOutOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
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
    from labelclean.stages.pipeline import build_configs, run_pipeline

    values = dict(
        model=model, pretrained=pretrained, device=device, precision=precision, batch_size=batch_size,
        classes_file=classes, templates=templates, descriptions=descriptions, estimators=estimators, seed=seed,
        combine=combine, method=method, theta_cons=theta_cons, theta_gmm=theta_gmm, theta_relabel=theta_relabel,
        format=format, link=link, apply_relabels=apply_relabels, min_confidence=min_confidence,
    )
    configs = build_configs(data, values)
    configs["export"].out, configs["report"].out = out, report
    wd = Workdir(workdir)
    result = run_pipeline(wd, configs, force=force, on_stage=show_stage)
    if json_out:
        console.emit_json(result.to_json())
        return
    for name, where in _locations(wd, result).items():
        console.out(f"{name:<10} {where}")


def show_stage(item) -> None:
    """One stderr line per stage: how long it took, or that it was skipped."""
    r = item.report
    if r.skipped:
        console.info(f"{item.stage}: unchanged, skipped")
    else:
        console.info(f"{item.stage}: done in {r.seconds:.1f} s")


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
