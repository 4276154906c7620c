"""`labelclean demo`: the whole pipeline on generated data with the bundled tiny CLIP, offline."""

from __future__ import annotations

from pathlib import Path

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir
from labelclean.cli.render import show_stage

HARD_WORKDIR = Path("labelclean-demo-hard")  # --domain hard without -w


@app.command()
@command_boundary
@uses(*stage_options("demo"), "demo_workdir", "json_out")
def demo(o: Given) -> None:
    """Show labelclean at work, offline: generate a labelled image folder with wrong labels,
    run embed -> score -> select -> export -> report with the bundled tiny CLIP (trained by
    us on this synthetic domain), and evaluate the selection against the known truth.

    Prints ROC-AUC of clean_score, precision/recall of the kept set and of the flagged set,
    the accuracy of suggested labels, each estimator's own ROC-AUC and accuracy (zeroshot,
    logreg, knn, any other, their ensemble mean, and select's clean_score, as CLIPCleaner's
    Figure 4), and where the report is. --json prints the same object as `labelclean
    evaluate --json` plus `domain` and `estimators`. Takes about a minute on 2 CPU cores.

    --domain hard is a testbed where zero-shot CLIP is imperfect: the images differ from
    what the bundled model was trained on (vivid backgrounds, smaller, squashed, occluded and
    blurred shapes, shifted colours), so its zero-shot accuracy is about 82 % instead of
    99.8 %, and the wrong labels are those of a look-alike class (same colour, other shape).
    Its work directory defaults to labelclean-demo-hard.

    The bundled model knows this synthetic domain only (10 coloured shapes on cluttered
    backgrounds): `--model demo` on your own images gives meaningless zero-shot scores, and
    `score` warns when it sees that. Use a real CLIP model (the default ViT-B-32) there.

    Example:

    \b
      labelclean demo
      labelclean demo --domain hard
      labelclean demo --noise 0.5 --size 2000 -w /tmp/demo --json
    """
    from labelclean.demo.run import run_demo

    folder = o["demo_workdir"]
    if o["demo_domain"] == "hard" and not o.explicit("demo_workdir"):
        folder = HARD_WORKDIR  # keep the easy demo's data and embeddings next to it
    workdir = Workdir(folder)
    report = run_demo(workdir, o.config("demo"), on_stage=show_stage)
    m = report.metrics
    if o["json_out"]:
        console.emit_json({**m, "domain": report.domain, "estimators": report.estimators})
        return
    s = report
    where = "" if s.domain == "easy" else f" ({s.domain} domain)"
    console.out(f"{s.n_samples} images{where}, {s.n_flipped} wrong labels ({s.n_flipped / s.n_samples:.0%})")
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
    console.out(f"  {'each estimator':<28} {'ROC-AUC':>7}  accuracy")
    for e in s.estimators:
        console.out(f"    {e['name']:<26} {_fmt(e['auroc']):>7}  {_fmt(e['accuracy'])}")
    console.out(f"report: {s.report}")
    console.out(f"cleaned data: {workdir.root / 'export'}")


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
