"""`labelclean check`: a CI gate on the estimated label-noise rate, like a linter."""

from __future__ import annotations

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, pipeline_options, uses
from labelclean.cli.render import show_stage
from labelclean.store.workdir import Workdir

STAGES = ("embed", "score", "select")


@app.command()
@command_boundary
@uses("max_noise", "workdir", *pipeline_options(STAGES), "force", "json_out")
def check(o: Given) -> None:
    """Fail (exit 1) when the estimated label-noise rate of DATA is above --max-noise.

    Runs embed, score and select as needed (re-using the workdir: unchanged stages are
    skipped). Estimated noise rate = flagged / usable samples, where flagged means select did
    not find the sample clean, unless a reviewer decided otherwise (`labelclean review`:
    reject = the label is right; drop or a new label = noisy).

    Exit codes: 0 rate <= --max-noise, 1 rate above it (the worst offenders are listed on
    stderr) or an error, 2 usage error (e.g. --max-noise outside [0, 1]).

    Example:

    \b
      labelclean check photos/ --max-noise 0.05 -w .labelclean-cache
      labelclean check labels.csv --max-noise 0.1 --json
    """
    from labelclean.stages.pipeline import estimate_noise, run_pipeline

    wd = Workdir(o["workdir"])
    run_pipeline(wd, {s: o.config(s) for s in STAGES}, force=o["force"], on_stage=show_stage)
    max_noise = o["max_noise"]
    est = estimate_noise(wd)
    passed = est.rate <= max_noise
    verdict = "passed" if passed else "FAILED"
    if not passed:
        _worst_offenders(est)
    if o["json_out"]:
        console.emit_json({"passed": passed, "noise_rate": round(est.rate, 6), "max_noise": max_noise,
                           "noisy": est.noisy, "usable": est.usable, "worst": est.worst})
    else:
        sign = "<=" if passed else ">"
        console.out(f"check {verdict}: estimated noise rate {est.rate:.2%} ({est.noisy} of {est.usable} samples) "
                    f"{sign} --max-noise {max_noise:.2%}")
    if not passed:
        raise typer.Exit(1)


def _worst_offenders(est) -> None:
    """One untruncated stderr line per offender (CI logs are narrow and grepped)."""
    console.warn(f"worst offenders (lowest clean_score, {len(est.worst)} of {est.noisy}):")
    for w in est.worst:
        score = "n/a" if w["clean_score"] is None else f"{w['clean_score']:.3f}"
        line = f"  {score}  {w['sample_id']}  given={w['given']} suggested={w['suggested'] or '-'} " \
               f"failed={w['failed'] or '-'}"
        console.err.print(line, soft_wrap=True, markup=False, highlight=False)
