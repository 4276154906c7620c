"""`labelclean predict`: run a model trained by `labelclean train` on images."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses(*stage_options("predict"), "workdir", "json_out")
def predict(o: Given) -> None:
    """Predict a class for every image in DATA with the model from `labelclean train`.

    Writes path, given label (if any), predicted class, confidence and the next two classes
    to a CSV; reports accuracy when DATA has labels. Files that cannot be read get a status
    instead of a prediction.

    Example:

    \b
      labelclean predict -w work new_photos/ --out predictions.csv
      labelclean predict -w work test/ --method deft --json
    """
    from labelclean.stages.predict import run_predict

    report = run_predict(Workdir(o["workdir"]), o.config("predict"))
    if o["json_out"]:
        console.emit_json(report.to_json())
        return
    s = report
    acc = "-" if s.accuracy is None else f"{s.accuracy:.4f}"
    console.table(f"predict ({s.method})", ["", "value"], [
        ("images", report.counts["images"]), ("predicted", s.predicted), ("failed", report.counts["failed"]),
        ("labelled", s.labelled), ("accuracy", acc), ("predictions", s.out),
    ])
    console.out(s.out)
