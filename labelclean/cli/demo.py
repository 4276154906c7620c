"""`labelclean demo`: the whole pipeline on generated data with the bundled tiny CLIP, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import JsonOpt, WorkdirOpt
from labelclean.core.errors import UsageError
from labelclean.store.workdir import Workdir

DEMO_WD = Path("labelclean-demo")
NoiseOpt = Annotated[float, typer.Option("--noise", help="Fraction of labels flipped to another class.")]
SizeOpt = Annotated[int, typer.Option("--size", help="Number of generated images (10 classes, 64 px).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for the data, the noise and every stage.")]
DescOpt = Annotated[bool, typer.Option("--descriptions", help="Zero-shot with the class descriptions in "
                                       "templates/descriptions/demo.yaml instead of 'a photo of a {}.'.")]


@app.command()
@command_boundary
def demo(
    noise: NoiseOpt = 0.3,
    size: SizeOpt = 5000,
    seed: SeedOpt = 0,
    descriptions: DescOpt = False,
    workdir: WorkdirOpt = DEMO_WD,
    json_out: JsonOpt = False,
) -> None:
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
    from labelclean.cli.run import show_stage
    from labelclean.stages.demo import DemoConfig, run_demo

    if not 0.0 <= noise < 0.9:
        raise UsageError(f"--noise must be in [0, 0.9), got {noise}")
    if size < 100:
        raise UsageError(f"--size must be at least 100, got {size}")
    cfg = DemoConfig(size=size, noise=noise, seed=seed, descriptions=descriptions)
    report = run_demo(Workdir(workdir), cfg, on_stage=show_stage)
    m = report.summary["metrics"]
    if json_out:
        console.emit_json(m)
        return
    s = report.summary
    console.out(f"{s['n_samples']} images, {s['n_flipped']} wrong labels ({s['n_flipped'] / s['n_samples']:.0%})")
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
    console.out(f"report: {s['report']}")
    console.out(f"cleaned data: {Workdir(workdir).root / 'export'}")
