"""`labelclean demo`: the whole pipeline on generated data with the bundled tiny CLIP, offline."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir
from labelclean.cli.render import show_stage


@app.command()
@command_boundary
@uses(*stage_options("demo"), "demo_workdir", "json_out")
def demo(o: Given) -> None:
    """Show labelclean at work, offline: generate a labelled image folder with wrong labels,
    run embed -> score -> select -> export -> report with the bundled tiny CLIP (trained by
    us on this synthetic domain), and evaluate the selection against the known truth.

    Prints ROC-AUC of clean_score, precision/recall of the kept set and of the flagged set,
    the accuracy of suggested labels, and where the report is. --json prints the same object
    as `labelclean evaluate --json`. Takes about a minute on 2 CPU cores.

    Example:

    \b
      labelclean demo
      labelclean demo --noise 0.5 --size 2000 -w /tmp/demo --json
    """
    from labelclean.demo.run import run_demo

    workdir = Workdir(o["demo_workdir"])
    report = run_demo(workdir, o.config("demo"), on_stage=show_stage)
    m = report.metrics
    if o["json_out"]:
        console.emit_json(m)
        return
    s = report
    console.out(f"{s.n_samples} images, {s.n_flipped} wrong labels ({s.n_flipped / s.n_samples:.0%})")
    for key, label in (
        ("auroc", "ROC-AUC of clean_score"),
        ("average_precision", "average precision"),
        ("kept_precision", "kept set: precision"),
        ("kept_recall", "kept set: recall"),
        ("flagged_precision", "flagged: precision"),
        ("flagged_recall", "flagged: recall"),
        ("relabel_accuracy", "suggested labels: accuracy"),
    ):
        value = m.get(key)
        console.out(f"  {label:<28} {'n/a' if value is None else f'{value:.3f}'}")
    console.out(f"report: {s.report}")
    console.out(f"cleaned data: {workdir.root / 'export'}")
