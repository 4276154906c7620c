"""`labelclean predict`: run a model trained by `labelclean train` on images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import DEFAULT_WD, DeviceOpt, JsonOpt, WorkdirOpt
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
def predict(
    data: Annotated[Path, typer.Argument(help="Image folder (class folders or plain images) or a manifest.")],
    workdir: WorkdirOpt = DEFAULT_WD,
    method: Annotated[Optional[str], typer.Option("--method", help="mixfix or deft (default: the only "
                      "trained model in W/train/).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Predictions CSV "
                   "(default: W/train/<method>/predictions.csv).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per batch.")] = 64,
    workers: Annotated[int, typer.Option("--workers", help="Image loading processes.")] = 0,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
) -> None:
    """Predict a class for every image in DATA with the model from `labelclean train`.

    Writes path, given label (if any), predicted class, confidence and the next two classes
    to a CSV; reports accuracy when DATA has labels. Files that cannot be read get a status
    instead of a prediction.

    Example:

    \b
      labelclean predict -w work new_photos/ --out predictions.csv
      labelclean predict -w work test/ --method deft --json
    """
    from labelclean.stages.predict import PredictConfig, run_predict

    cfg = PredictConfig(data=data, method=method, out=out, batch_size=batch_size, device=device, workers=workers)
    report = run_predict(Workdir(workdir), cfg)
    if json_out:
        console.emit_json(report.to_json())
        return
    s = report.summary
    acc = "-" if s["accuracy"] is None else f"{s['accuracy']:.4f}"
    console.table(f"predict ({s['method']})", ["", "value"], [
        ("images", report.counts["images"]), ("predicted", s["predicted"]), ("failed", report.counts["failed"]),
        ("labelled", s["labelled"]), ("accuracy", acc), ("predictions", s["out"]),
    ])
    console.out(s["out"])
