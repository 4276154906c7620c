"""`labelclean evaluate`: how good is the selection, given the true labels?"""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *stage_options("evaluate"), "json_out")
def evaluate(o: Given) -> None:
    """Compare selection.parquet with the true labels.

    Noisy = given label differs from the true one. Reports precision/recall/F1 of the
    flagged set as a noisy-label detector, precision/recall of the kept set, ROC-AUC and
    average precision of clean_score, accuracy of the suggested labels and a per-class
    breakdown. --json prints one object (keys auroc, average_precision, flagged_precision,
    flagged_recall, flagged_f1, kept_precision, kept_recall, n_flagged, relabel_accuracy,
    per_class, ...); undefined values are null.

    Example:

    \b
      labelclean noise photos/ --rate 0.2 --mode sym --out photos/noisy.csv
      labelclean embed photos/noisy.csv -w work && labelclean score -w work && labelclean select -w work
      labelclean evaluate -w work --truth clean_label --json
    """
    from labelclean.stages.evaluate import run_evaluate, summary_rows

    report = run_evaluate(Workdir(o["workdir"]), o.config("evaluate"))
    m = report.summary
    console.table(f"Evaluation against {o['truth']}", ["metric", "value"], summary_rows(m))
    if m["without_truth"]:
        console.warn(f"{m['without_truth']} samples have no true label and were left out")
    if o["json_out"]:
        console.emit_json(m)
