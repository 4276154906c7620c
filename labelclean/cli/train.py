"""`labelclean train`: train a classifier on the cleaned data (MixFix, DeFT or CSS)."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *stage_options("train"), "json_out")
def train(o: Given) -> None:
    """Train a classifier on the cleaned data; checkpoints and metrics go to W/train/<method>/.

    mixfix trains on the selection (after review) and, after every epoch, absorbs or relabels
    confident samples outside it. deft detects noisy labels with dual prompts on CLIP (writing
    W/deft.parquet for `select --estimators ...,deft`), then fine-tunes on the clean subset.
    css (the CSS paper) re-splits the data every epoch with a 2-D GMM on the network's loss and
    CLIP p(given) under learned prompts, trains the network on the clean part X and, FixMatch-style,
    on the rest U (+ NT-Xent, uniform prior), and co-trains CoOp prompts on the same split (an
    epoch's prompt updates are undone when CLIP ends up less sure of X's labels than with the
    starting prompts: --prompt-guard); it writes W/css.parquet (select --estimators ...,css) and
    W/prompts/css.parquet (score --prompts learned:css). A CSS epoch costs about four MixFix epochs; its paper-scale schedules
    (--preset cifar: 800 pre-training + 310 epochs) need a GPU. Mixed precision on CUDA; every
    method runs on CPU too, slowly.

    Example:

    \b
      labelclean train -w work --method mixfix --backbone resnet18 --epochs 100 --val test/
      labelclean train -w work --method deft --epochs 10 --resume
      labelclean train -w work --method css --preset cifar --val test/
      labelclean train -w work --method css --backbone resnet18 --pretrain-epochs 0 --warmup 2 \\
        --epochs 20 --prompt-training sl
    """
    from labelclean.stages.train import run_train

    report = run_train(Workdir(o["workdir"]), o.config("train"))
    if o["json_out"]:
        console.emit_json(report.to_json())
        return
    _render(report.summary)


def _render(s: dict) -> None:
    rows = [(k, v) for k, v in _flat(s).items() if k not in ("note", "method")]
    console.table(f"train --method {s['method']}", ["", "value"], rows)
    if s.get("note"):
        console.info(s["note"])


def _flat(d: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = "-" if v is None else v
    return out
